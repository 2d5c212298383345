package chat

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/protocol"
)

var zeroTime time.Time

// MaxSyncConversations bounds the cursors of one chat:sync.
const MaxSyncConversations = 1000

// Dispatch runs one request envelope for id and returns the reply data (to
// be JSON-encoded) or an error. The WebSocket layer calls it for every
// request except auth, ping and chat:sync, which need the connection.
func (s *Service) Dispatch(ctx context.Context, id auth.Identity, event string, decode func(any) error) (any, error) {
	switch event {
	case protocol.EvSend:
		var r protocol.SendRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return s.Send(ctx, id, r)
	case protocol.EvEdit:
		var r protocol.EditRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return s.Edit(ctx, id, r)
	case protocol.EvDelete:
		var r protocol.DeleteRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return s.Delete(ctx, id, r)
	case protocol.EvTypingSet:
		var r protocol.TypingRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return struct{}{}, s.Typing(ctx, id, r)
	case protocol.EvMarkRead:
		var r protocol.ReadRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return s.MarkRead(ctx, id, r)
	case protocol.EvSetStatus:
		var r protocol.StatusRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return s.SetStatus(ctx, id, r.Status)
	case protocol.EvHistory:
		var r protocol.HistoryRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return s.History(ctx, id, r)
	case protocol.EvConversations:
		cs, err := s.ListConversations(ctx, id, zeroTime, 0)
		return protocol.ConversationsReply{Conversations: cs}, err
	case protocol.EvCreate:
		var r protocol.CreateConversationRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return s.CreateConversation(ctx, id, r)
	case protocol.EvJoin:
		var r protocol.ConversationRef
		if err := decode(&r); err != nil {
			return nil, err
		}
		return s.Join(ctx, id, r.ConversationID)
	case protocol.EvLeave:
		var r protocol.ConversationRef
		if err := decode(&r); err != nil {
			return nil, err
		}
		return struct{}{}, s.Leave(ctx, id, r.ConversationID)
	case protocol.EvPresenceGet:
		var r protocol.PresenceRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		ps, err := s.Presence(ctx, id, r.UserIDs)
		return protocol.PresenceReply{Users: ps}, err
	case protocol.EvInbox:
		return s.OpenInbox(ctx, id)
	}
	return nil, apperr.New(apperr.Invalid, apperr.CodeUnknownEvent, "unknown event %q", event)
}

// SyncRefusals checks a chat:sync's cursors before anything is replayed.
// A negative cursor fails the request; conversations the caller may not
// read (left, never joined, unknown) are returned with the error code that
// refuses them, for the reply to report while the others are replayed.
func (s *Service) SyncRefusals(ctx context.Context, id auth.Identity, cursors map[string]int64) (map[string]string, error) {
	refused := map[string]string{}
	for _, conv := range slices.Sorted(maps.Keys(cursors)) {
		if cursors[conv] < 0 {
			return nil, apperr.Invalidf("cursor for %q must not be negative", conv)
		}
		if _, err := s.access(ctx, id, conv); err != nil {
			e := apperr.As(err)
			if e.Kind == apperr.Internal || e.Code == apperr.CodeBadRequest {
				return nil, err
			}
			refused[conv] = e.Code
		}
	}
	return refused, nil
}

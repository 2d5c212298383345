package chat

import (
	"context"
	"errors"
	"log/slog"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/ids"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

// What the calls service needs of chat: who may call in a conversation,
// who answers, and a place to write how a call went.

// UserTopic names a user's topic (all their devices).
func UserTopic(userID string) string { return userTopic(userID) }

// ToDevice publishes an event (data: its JSON) to one device of a user,
// the connection conn: what calls and rooms send to the device in a call or
// a room, not to every device of its user.
func ToDevice(b bus.Bus, user, conn, event string, data []byte) error {
	return b.Publish(userTopic(user), bus.Event{Name: event, Device: conn, Data: data})
}

// CallParties checks that id may call in a conversation and returns it
// with the users a call rings: the other member of a direct conversation;
// in an inbox, the account's owners and agents when a visitor calls, the
// visitor when one of them does.
func (s *Service) CallParties(ctx context.Context, id auth.Identity, convID string) (store.Conversation, []string, error) {
	c, err := s.writable(ctx, id, convID)
	if err != nil {
		return c, nil, err
	}
	switch c.Kind {
	case protocol.KindDirect:
		members, err := s.st.ListMembers(ctx, c.ID)
		if err != nil {
			return c, nil, apperr.Wrap("chat.CallParties", err)
		}
		var out []string
		for _, m := range members {
			if m != id.UserID {
				out = append(out, m)
			}
		}
		return c, out, nil
	case protocol.KindInbox:
		if id.Role != protocol.RoleVisitor {
			return c, []string{c.Key}, nil
		}
		staff, err := s.st.ListUsersByRole(ctx, c.AccountID, protocol.RoleOwner, protocol.RoleAgent)
		if err != nil {
			return c, nil, apperr.Wrap("chat.CallParties", err)
		}
		out := make([]string, 0, len(staff))
		for _, u := range staff {
			out = append(out, u.ID)
		}
		return c, out, nil
	}
	return c, nil, apperr.New(apperr.Invalid, apperr.CodeInvalidConversation, "calls are between two people: a direct conversation or an inbox (group calls are rooms)")
}

// RecordCall writes a call event into its conversation as a message of
// type "call" from the caller, with text "MEDIA:OUTCOME" (audio or video;
// started, ended with its duration, missed, declined or busy). Members see
// it like any message.
func (s *Service) RecordCall(ctx context.Context, c store.Conversation, callerID, media, outcome string, durationMS int64) {
	m := store.Message{
		ID: ids.NewOrdered(ids.Message), ConversationID: c.ID, SenderID: callerID, Type: protocol.TypeCall,
		Text: media + ":" + outcome, DurationMS: durationMS, CreatedAt: s.clock(),
	}
	_, _, err := s.st.AppendMessage(ctx, m, func(m store.Message) {
		s.publishMessage(c, protocol.EvMessage, wireMessage(m, nil))
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		slog.Warn("call event not recorded", "conversation", c.ID, "err", err)
	}
}

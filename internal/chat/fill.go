package chat

import (
	"context"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/protocol"
)

// MessageEvents reads from the store the chat:message events of a
// conversation with after < seq < before, at most limit, oldest first,
// encoded as Send published them. With several nodes a node can receive
// seq 7 before 6, or never receive 6 (its event dropped): the WebSocket
// hub holds 7 back briefly and then fills 6 from here, as chat:sync would.
// accountID is the conversation's account (for attachments); the caller
// has checked nothing else, so only a node's own delivery may use it.
func (s *Service) MessageEvents(ctx context.Context, accountID, convID string, after, before int64, limit int) ([]bus.Event, error) {
	if limit <= 0 || after < 0 || before <= after+1 {
		return nil, nil
	}
	// A range no wider than limit reads the same whether the store takes
	// its oldest or its newest end.
	before = min(before, after+int64(limit)+1)
	ms, err := s.st.ListMessages(ctx, convID, before, after, limit)
	if err != nil {
		return nil, apperr.Wrap("chat.MessageEvents", err)
	}
	out := make([]bus.Event, 0, len(ms))
	for _, m := range ms {
		w, err := s.expand(ctx, accountID, m)
		if err != nil {
			return nil, err
		}
		out = append(out, bus.Event{Name: protocol.EvMessage, ConversationID: convID, Seq: w.Seq, Data: encode(w)})
	}
	return out, nil
}

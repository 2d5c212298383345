package chat

import (
	"encoding/json"
	"log/slog"

	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

// Topic names (see package bus).
func convTopic(id string) string         { return "c:" + id }
func userTopic(id string) string         { return "u:" + id }
func inboxTopic(accountID string) string { return "i:" + accountID }
func agentTopic(accountID string) string { return "iv:" + accountID }

// ConversationTopic, UserTopic, InboxTopic and AgentPresenceTopic are the
// topics a connection subscribes to (see Topics).
var (
	ConversationTopic  = convTopic
	UserTopic          = userTopic
	InboxTopic         = inboxTopic
	AgentPresenceTopic = agentTopic
)

// encode marshals an event payload once; every recipient shares the bytes.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own protocol structs are encoded here: a failure is a bug.
		panic("chat: encoding event: " + err.Error())
	}
	return b
}

func (s *Service) publish(topic string, ev bus.Event) {
	if err := s.bus.Publish(topic, ev); err != nil {
		// The event is lost for live clients, but what it announces is
		// committed: clients recover it with chat:sync or history.
		slog.Warn("publish failed", "topic", topic, "event", ev.Name, "err", err)
	}
}

// publishConv sends an event to everyone who can see conversation c: its
// members and, for an inbox, the account's agents and owners.
func (s *Service) publishConv(c store.Conversation, ev bus.Event) {
	s.publish(convTopic(c.ID), ev)
	if c.Kind == protocol.KindInbox {
		s.publish(inboxTopic(c.AccountID), ev)
	}
}

func (s *Service) publishMessage(c store.Conversation, name string, m protocol.Message) {
	ev := bus.Event{Name: name, ConversationID: c.ID, Data: encode(m)}
	if name == protocol.EvMessage {
		ev.Seq = m.Seq
	}
	s.publishConv(c, ev)
}

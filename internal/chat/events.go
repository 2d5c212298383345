package chat

import (
	"encoding/json"
	"log/slog"
	"sync"

	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

// Topic names (see package bus).
func convTopic(id string) string         { return "c:" + id }
func userTopic(id string) string         { return "u:" + id }
func inboxTopic(accountID string) string { return "i:" + accountID }
func agentTopic(accountID string) string { return "iv:" + accountID }

// ConversationTopic names a conversation's topic; the WebSocket hub uses it
// to follow a user into a conversation they were added to.
var ConversationTopic = convTopic

// InboxTopic names an account's inbox topic, where its agents and owners
// hear every inbox conversation.
var InboxTopic = inboxTopic

// encode marshals an event payload once; every recipient shares the bytes.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own protocol structs are encoded here: a failure is a bug.
		panic("chat: encoding event: " + err.Error())
	}
	return b
}

// publisher hands events to the bus from one goroutine, in the order the
// domain produced them. Message events are produced in commit order by the
// store's writer; publishing them there would make every commit wait for
// the fan-out, so the writer only queues them. Every other event goes
// through the same queue, so an edit never overtakes the message it edits.
type publisher struct {
	mu     sync.RWMutex // held shared while queueing, so stop cannot close ch under a producer
	closed bool
	ch     chan pubItem
	done   chan struct{}
}

type pubItem struct {
	topic string
	ev    bus.Event
	flush chan struct{} // a marker: closed when everything before it is published
}

// publishQueue bounds events waiting for the bus; a full queue makes
// producers (and so commits) wait, which is the backpressure we want.
const publishQueue = 8192

func (p *publisher) start(b bus.Bus) {
	p.ch = make(chan pubItem, publishQueue)
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		for it := range p.ch {
			if it.flush != nil {
				close(it.flush)
				continue
			}
			if err := b.Publish(it.topic, it.ev); err != nil {
				// What the event announces is committed: clients recover it
				// with chat:sync or history.
				slog.Warn("publish failed", "topic", it.topic, "event", it.ev.Name, "err", err)
			}
		}
	}()
}

func (p *publisher) stop() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.ch)
	}
	p.mu.Unlock()
	<-p.done
}

func (p *publisher) put(it pubItem) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return false // shutting down: a late typing expiry, say
	}
	p.ch <- it
	return true
}

func (s *Service) publish(topic string, ev bus.Event) {
	s.pub.put(pubItem{topic: topic, ev: ev})
}

// Flush waits until every presence announcement queued so far was made
// and every event produced so far has been handed to the bus.
func (s *Service) Flush() {
	s.ann.wait()
	done := make(chan struct{})
	if s.pub.put(pubItem{flush: done}) {
		<-done
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

// publishMessage announces a message, or a change of one: Seq names the
// message either way, so that a node ordering events (package ws) never
// delivers an edit before the message it edits.
func (s *Service) publishMessage(c store.Conversation, name string, m protocol.Message) {
	s.publishConv(c, bus.Event{Name: name, ConversationID: c.ID, Seq: m.Seq, Data: encode(m)})
}

package ws_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/transport/ws"
	"github.com/parley-chat/parley/protocol"
)

// A gap on a conversation's topic (the Redis bus lost events between
// nodes) is never forwarded: every connection of that topic gets what was
// queued before it, then close 4009, and nothing published after it; a
// connection of other topics is untouched; the reconnected client's
// chat:sync brings exactly what it missed.
func TestBusGapClosesTopicWithResync(t *testing.T) {
	tr := newTrio(t, ws.Config{}, chat.Config{})
	s := tr.s
	if _, err := tr.alice.Send(ctxT(t), protocol.SendRequest{ConversationID: tr.conv.ID, Text: "before"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Conn{tr.alice, tr.bob, tr.carol} {
		next(t, c, protocol.EvMessage, 3*time.Second)
	}
	topic := chat.ConversationTopic(tr.conv.ID)
	s.bus.Publish(topic, bus.Event{Name: bus.Gap})
	s.bus.Publish(topic, bus.Event{Name: protocol.EvMessage, ConversationID: tr.conv.ID, Data: json.RawMessage(`{"lost":true}`)})

	for _, c := range []*client.Conn{tr.alice, tr.bob, tr.carol} {
		seen := make(chan string, 64)
		go func() {
			defer close(seen)
			for ev := range c.Events() {
				seen <- ev.Event
			}
		}()
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("a connection of the topic stayed open after the gap")
		}
		if c.CloseCode() != protocol.CloseResync {
			t.Fatalf("close code %d, want %d", c.CloseCode(), protocol.CloseResync)
		}
		for name := range seen {
			if name == bus.Gap || name == protocol.EvMessage {
				t.Fatalf("after the gap the client saw %q", name)
			}
		}
	}
	// Dave is in no conversation with them: still connected.
	if err := tr.dave.Request(ctxT(t), protocol.EvPing, nil, nil); err != nil {
		t.Fatalf("a connection of other topics: %v", err)
	}

	// What was sent while bob was away comes back through chat:sync, once.
	alice := s.dial("alice", nil)
	if _, err := alice.Send(ctxT(t), protocol.SendRequest{ConversationID: tr.conv.ID, Text: "missed"}); err != nil {
		t.Fatal(err)
	}
	bob := s.dial("bob", nil)
	msgs, _, err := bob.Sync(ctxT(t), map[string]int64{tr.conv.ID: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Text != "missed" {
		t.Fatalf("sync replayed %+v, want [missed]", msgs)
	}
}

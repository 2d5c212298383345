package ws

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/bus/local"
	"github.com/parley-chat/parley/protocol"
)

// BenchmarkOrdering measures what the hub's hold-back (Config.HoldBack, on
// with several nodes) adds per message on a node: one chat:message handed
// to the hub for a topic of one connection, which takes it and queues
// nothing (closing), so the figure is the hub's own work: the frame, the
// topic lookup, and the order check. "off" is one node (HoldBack 0), "on"
// messages in seq order through the check, "crossed" every pair swapped
// (3 before 2: each other message held, a timer armed, then released).
func BenchmarkOrdering(b *testing.B) {
	data := []byte(`{"id":"msg_0000000000000000","conversation_id":"cnv_0000000000000000","seq":1,"sender_id":"usr_0000000000000000","type":"text","text":"hello, world","created_at":"2026-01-01T00:00:00Z"}`)
	for _, mode := range []string{"off", "on", "crossed"} {
		b.Run(mode, func(b *testing.B) {
			var h hub
			var hold time.Duration
			if mode != "off" {
				hold = time.Hour // the first message settles the order below
			}
			bs := local.New()
			h.init(bs, slog.New(slog.NewTextHandler(io.Discard, nil)), hold, nil)
			h.register(&conn{closing: true}, []string{"c:bench"})
			ev := bus.Event{Name: protocol.EvMessage, ConversationID: "cnv_0000000000000000", Data: data}
			if hold > 0 {
				ev.Seq = 1
				h.onEvent("c:bench", ev)
				h.mu.RLock()
				t := h.topics["c:bench"]
				t.smu.Lock()
				s := t.streams[ev.ConversationID]
				s.stop()
				s.next = 2
				h.release(t, s)
				t.smu.Unlock()
				h.mu.RUnlock()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range int64(b.N) {
				ev.Seq = i + 2
				if mode == "crossed" {
					ev.Seq ^= 1 // 3, 2, 5, 4, …
				}
				h.onEvent("c:bench", ev)
			}
			b.StopTimer()
			h.closeAll()
		})
	}
}

package ws_test

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/transport/ws"
	"github.com/parley-chat/parley/protocol"
)

// BenchmarkFanout publishes one chat:message to a topic with 1,000 local
// connections whose sockets discard writes: it measures the hub's cost per
// delivery (frame built once, one append per connection, writers started
// on demand and coalescing).
func BenchmarkFanout(b *testing.B) {
	const n = 1000
	s := newStack(b, ws.Config{}, chat.Config{})
	for range n {
		s.srv.NewBenchConn(ws.DiscardConn{}, []string{"c:bench"})
	}
	data := []byte(`{"id":"msg_0000000000000000","conversation_id":"cnv_0000000000000000","seq":1,"sender_id":"usr_0000000000000000","type":"text","text":"hello, world","created_at":"2026-01-01T00:00:00Z"}`)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		s.bus.Publish("c:bench", bus.Event{Name: protocol.EvMessage, ConversationID: "cnv_0000000000000000", Seq: int64(i), Data: data})
	}
	el := time.Since(start)
	b.ReportMetric(float64(el.Nanoseconds())/float64(b.N*n), "ns/delivery")
	b.ReportMetric(float64(b.N*n)/el.Seconds(), "deliveries/s")
}

// BenchmarkFanoutE2E: one sender sends messages as fast as they are
// accepted into a group of members connections over loopback TCP, each
// read by the client package's raw OnFrame path; it reports deliveries
// per second end to end (server, SQLite and clients share the CPUs).
// The full target is 2,000 messages into 1,000 members: run with
// -benchtime=2000x.
func BenchmarkFanoutE2E(b *testing.B) {
	const members = 1000
	s := newStack(b, ws.Config{MessagesPerSecond: 1e9, MessagesBurst: 1 << 30, ConnsPerIP: 0}, chat.Config{})
	var got atomic.Int64
	// Requests of one connection run in order: PARLEY_BENCH_SENDERS
	// connections send concurrently (1 by default).
	var senders []*client.Conn
	for range benchSenders() {
		senders = append(senders, s.dial("sender", &client.Options{OnFrame: func([]byte) {}}))
	}
	sender := senders[0]
	names := make([]string, members-1)
	for i := range names {
		names[i] = fmt.Sprintf("m%d", i)
		s.dial(names[i], &client.Options{OnFrame: func(p []byte) { got.Add(1) }})
	}
	cv := s.group(sender, "big", names...)
	time.Sleep(200 * time.Millisecond)
	got.Store(0)
	b.ResetTimer()
	start := time.Now()
	// Each sending connection keeps 8 requests in flight (pipelined: the
	// server runs them in order, without waiting for a round trip).
	const inflight = 8
	var wg sync.WaitGroup
	var next atomic.Int64
	for _, c := range senders {
		for range inflight {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					if _, err := c.Send(ctxT(b), protocol.SendRequest{ConversationID: cv.ID, Text: "hello, world"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	want := int64(b.N * (members - 1))
	// (the senders' own connections are not counted)
	deadline := time.Now().Add(60 * time.Second)
	for got.Load() < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	if got.Load() < want {
		b.Errorf("%d of %d deliveries arrived", got.Load(), want)
	}
	b.ReportMetric(float64(got.Load())/el.Seconds(), "deliveries/s")
}

func benchSenders() int {
	if n, err := strconv.Atoi(os.Getenv("PARLEY_BENCH_SENDERS")); err == nil && n > 0 {
		return n
	}
	return 1
}

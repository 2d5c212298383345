package redis_test

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/bus"
	redisbus "github.com/parley-chat/parley/internal/bus/redis"
	"github.com/parley-chat/parley/internal/redistest"
)

// BenchmarkPublishDeliver: events from one node's bus to another's through
// Redis (two clients, as two nodes would have), each event ~200 bytes of
// Data stamped with its publish time. Reported: events/s delivered and
// publish→handler latency p50/p99. "flat out" publishes as fast as the
// bus takes them (latency then includes the queue); "10k/s" paces the
// publisher at 10,000 events/s; "fanout100" has 100 local handlers on the
// topic (one Redis subscription), counting each handler call.
//
//	go test -run x -bench PublishDeliver -benchtime 200000x ./internal/bus/redis/
func BenchmarkPublishDeliver(b *testing.B) {
	b.Run("flat out", func(b *testing.B) { benchDeliver(b, 1, 0, 1) })
	b.Run("10k/s", func(b *testing.B) { benchDeliver(b, 1, 10000, 1) })
	b.Run("100 topics", func(b *testing.B) { benchDeliver(b, 100, 0, 1) })
	b.Run("fanout100", func(b *testing.B) { benchDeliver(b, 1, 0, 100) })
}

func benchDeliver(b *testing.B, topics, rate, handlers int) {
	prefix := redistest.Prefix(b)
	pub := open(b, redistest.Client(b), redisbus.Config{Prefix: prefix})
	sub := open(b, redistest.Client(b), redisbus.Config{Prefix: prefix})
	n := b.N
	lat := make([]time.Duration, 0, n)
	var mu sync.Mutex
	done := make(chan struct{})
	calls := 0
	for ti := range topics {
		for range handlers {
			defer sub.Subscribe(fmt.Sprint("c:", ti), func(_ string, ev bus.Event) {
				d := time.Since(time.Unix(0, int64(binary.LittleEndian.Uint64(ev.Data))))
				mu.Lock()
				calls++
				if len(lat) < cap(lat) {
					lat = append(lat, d)
				}
				if calls == n*handlers {
					close(done)
				}
				mu.Unlock()
			})()
		}
	}
	data := make([]byte, 200)
	b.ResetTimer()
	start := time.Now()
	for i := range n {
		if rate > 0 {
			if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); wait > 0 {
				time.Sleep(wait)
			}
		}
		ev := bus.Event{Name: "chat:message", ConversationID: "c", Seq: int64(i), Data: slices.Clone(data)}
		binary.LittleEndian.PutUint64(ev.Data, uint64(time.Now().UnixNano()))
		if err := pub.Publish(fmt.Sprint("c:", i%topics), ev); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		mu.Lock()
		b.Fatalf("%d of %d deliveries", calls, n*handlers)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(n*handlers)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

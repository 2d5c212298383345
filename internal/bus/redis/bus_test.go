package redis_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/internal/bus"
	redisbus "github.com/parley-chat/parley/internal/bus/redis"
	"github.com/parley-chat/parley/internal/redistest"
)

// Every field crosses Redis as it was published, those only the
// receiving node's hub reads (Device, SkipUser) included.
func TestEventsRoundTrip(t *testing.T) {
	t.Parallel()
	prefix := redistest.Prefix(t)
	pub := open(t, redistest.Client(t), redisbus.Config{Prefix: prefix})
	sub := open(t, redistest.Client(t), redisbus.Config{Prefix: prefix})
	evs := []bus.Event{
		{Name: "chat:message", ConversationID: "c1", Seq: 42, Data: []byte(`{"text":"héllo ✓"}`)},
		{Name: "call:offer", Device: "conn-7", Data: []byte(`{"sdp":"v=0"}`)},
		{Name: "chat:typing", ConversationID: "c1", SkipUser: "u9", Data: []byte(`{}`)},
		{Name: "x", Seq: -1},                        // nil Data stays nil
		{Name: "y", Data: []byte{}},                 // empty Data stays empty, not nil
		{Name: "z", Data: []byte{0, 0xff, 1, '\n'}}, // any bytes
		{Name: "big", Seq: 1 << 62, Data: bytes.Repeat([]byte("0123456789"), 100_000)},
	}
	r := newRecorder()
	defer sub.Subscribe("c:rt", r.handle)()
	for _, ev := range evs {
		if err := pub.Publish("c:rt", ev); err != nil {
			t.Fatal(err)
		}
	}
	got := r.waitFor(t, "every event", func(got []bus.Event) bool { return len(got) >= len(evs) })
	for i := range evs {
		if !reflect.DeepEqual(got[i], evs[i]) {
			t.Errorf("event %d arrived as %+.80v, published %+.80v", i, got[i], evs[i])
		}
	}
}

// However many local handlers want a topic, the node holds one Redis
// subscription for it, and drops it with the last handler.
func TestOneRedisSubscriptionPerTopicPerNode(t *testing.T) {
	t.Parallel()
	c := redistest.Client(t)
	prefix := redistest.Prefix(t)
	a := open(t, redistest.Client(t), redisbus.Config{Prefix: prefix})
	b := open(t, redistest.Client(t), redisbus.Config{Prefix: prefix})
	numsub := func() int64 {
		m, err := c.PubSubShardNumSub(context.Background(), prefix+"c:x").Result()
		if err != nil {
			t.Fatal(err)
		}
		return m[prefix+"c:x"]
	}
	waitNumsub := func(want int64) {
		t.Helper()
		eventually(t, "SHARDNUMSUB to settle", func() bool { return numsub() == want })
	}
	recs := []*recorder{newRecorder(), newRecorder(), newRecorder()}
	var unsubs []func()
	for _, r := range recs {
		unsubs = append(unsubs, a.Subscribe("c:x", r.handle))
	}
	if n := numsub(); n != 1 {
		t.Fatalf("3 handlers on one node: %d Redis subscriptions, want 1", n)
	}
	rb := newRecorder()
	unsubB := b.Subscribe("c:x", rb.handle)
	if n := numsub(); n != 2 {
		t.Fatalf("two nodes: %d Redis subscriptions, want 2", n)
	}
	a.Publish("c:x", bus.Event{Name: "one"})
	for _, r := range append(recs, rb) {
		r.waitFor(t, "the event", func(evs []bus.Event) bool { return len(evs) == 1 })
	}
	unsubs[0]()
	unsubs[1]()
	if n := numsub(); n != 2 {
		t.Fatalf("a node with a handler left dropped its subscription (%d)", n)
	}
	unsubs[2]()
	waitNumsub(1)
	unsubB()
	waitNumsub(0)
	// Each handler got the event once.
	for i, r := range append(recs, rb) {
		if n := len(r.events()); n != 1 {
			t.Errorf("handler %d got %d events", i, n)
		}
	}
}

// Two prefixes on one Redis do not hear each other.
func TestPrefixesDoNotMix(t *testing.T) {
	t.Parallel()
	c := redistest.Client(t)
	p1, p2 := redistest.Prefix(t), redistest.Prefix(t)
	b1 := open(t, c, redisbus.Config{Prefix: p1})
	b2 := open(t, c, redisbus.Config{Prefix: p2})
	r1, r2 := newRecorder(), newRecorder()
	defer b1.Subscribe("c:same", r1.handle)()
	defer b2.Subscribe("c:same", r2.handle)()
	b1.Publish("c:same", bus.Event{Name: "for-1"})
	b2.Publish("c:same", bus.Event{Name: "for-2"})
	// Each bus's writer is ordered: its second event proves the first went by.
	b1.Publish("c:same", bus.Event{Name: "end-1"})
	b2.Publish("c:same", bus.Event{Name: "end-2"})
	got1 := r1.waitFor(t, "end-1", has("end-1"))
	got2 := r2.waitFor(t, "end-2", has("end-2"))
	if !reflect.DeepEqual(names(got1), []string{"for-1", "end-1"}) || !reflect.DeepEqual(names(got2), []string{"for-2", "end-2"}) {
		t.Fatalf("prefix 1 heard %v, prefix 2 heard %v", names(got1), names(got2))
	}
}

func TestClosed(t *testing.T) {
	t.Parallel()
	b, err := redisbus.New(context.Background(), redistest.Client(t), redisbus.Config{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := b.Publish("c:a", bus.Event{Name: "late"}); !errors.Is(err, redisbus.ErrClosed) {
		t.Fatalf("Publish after Close = %v, want ErrClosed", err)
	}
	b.Subscribe("c:a", func(string, bus.Event) {})() // harmless
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNewFailsWithoutRedis(t *testing.T) {
	t.Parallel()
	opt := redistest.Options(t)
	opt.Addr = "127.0.0.1:1"
	c := goredis.NewClient(opt)
	defer c.Close()
	_, err := redisbus.New(context.Background(), c, redisbus.Config{Prefix: "x:"})
	if err == nil || !strings.Contains(err.Error(), "redis bus") {
		t.Fatalf("New against nothing = %v, want an error", err)
	}
}

// named is a client of the test Redis whose connections carry a name of
// their own, so a test can find and kill them.
func named(t *testing.T) (*goredis.Client, string) {
	var b [6]byte
	rand.Read(b[:])
	name := "parley-test-" + hex.EncodeToString(b[:])
	opt := redistest.Options(t)
	opt.ClientName = name
	return redistest.ClientWith(t, opt), name
}

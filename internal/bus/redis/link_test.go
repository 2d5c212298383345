package redis_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/bus"
	redisbus "github.com/parley-chat/parley/internal/bus/redis"
	"github.com/parley-chat/parley/internal/redistest"
)

// killPubSub kills the pub/sub connections of the clients called name,
// from another connection, as an operator (or a failover) would.
func killPubSub(t *testing.T, name string) {
	t.Helper()
	admin := redistest.Client(t)
	list, err := admin.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		f := fields(line)
		if f["name"] == name && (strings.Contains(f["flags"], "P") || f["cmd"] == "ssubscribe" || f["cmd"] == "ping") {
			if err := admin.Do(context.Background(), "CLIENT", "KILL", "ID", f["id"]).Err(); err != nil {
				t.Fatal(err)
			}
			killed++
		}
	}
	if killed == 0 {
		t.Fatalf("no pub/sub connection named %s in CLIENT LIST:\n%s", name, list)
	}
}

func fields(line string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Fields(line) {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// Killing a node's subscription connection: every subscription of every
// topic hears a Gap once the bus has resubscribed, and delivery goes on.
func TestGapAfterSubscriptionConnectionKilled(t *testing.T) {
	t.Parallel()
	prefix := redistest.Prefix(t)
	pub := open(t, redistest.Client(t), redisbus.Config{Prefix: prefix})
	c, name := named(t)
	sub := open(t, c, redisbus.Config{Prefix: prefix})
	a1, a2, b1 := newRecorder(), newRecorder(), newRecorder()
	defer sub.Subscribe("c:a", a1.handle)()
	defer sub.Subscribe("c:a", a2.handle)()
	defer sub.Subscribe("c:b", b1.handle)()
	pub.Publish("c:a", bus.Event{Name: "before"})
	pub.Publish("c:b", bus.Event{Name: "before"})
	for _, r := range []*recorder{a1, a2, b1} {
		r.waitFor(t, "before", has("before"))
	}

	killPubSub(t, name)
	for _, r := range []*recorder{a1, a2, b1} {
		r.waitFor(t, "the gap", has(bus.Gap))
	}
	pub.Publish("c:a", bus.Event{Name: "after"})
	pub.Publish("c:b", bus.Event{Name: "after"})
	for _, r := range []*recorder{a1, a2, b1} {
		got := r.waitFor(t, "after", has("after"))
		if want := []string{"before", bus.Gap, "after"}; !reflect.DeepEqual(names(got), want) {
			t.Fatalf("got %v, want %v", names(got), want)
		}
		if got[1].Data != nil || got[1].ConversationID != "" {
			t.Fatalf("the gap carried %+v", got[1])
		}
	}
}

// A subscriber whose link to Redis stays down for a while: Subscribe does
// not hang meanwhile, what is published meanwhile is not delivered but
// reported as a Gap to every subscription (those made during the outage
// too) once the link is back, and delivery resumes.
func TestGapAfterRedisUnreachable(t *testing.T) {
	t.Parallel()
	prefix := redistest.Prefix(t)
	pub := open(t, redistest.Client(t), redisbus.Config{Prefix: prefix})
	p := newProxy(t, redistest.Options(t).Addr)
	opt := redistest.Options(t)
	opt.Addr = p.addr()
	sub := open(t, redistest.ClientWith(t, opt), redisbus.Config{Prefix: prefix})
	early := newRecorder()
	defer sub.Subscribe("c:a", early.handle)()
	pub.Publish("c:a", bus.Event{Name: "before"})
	early.waitFor(t, "before", has("before"))

	p.set(refuse)
	late := newRecorder()
	subscribed := make(chan func())
	go func() { subscribed <- sub.Subscribe("c:a", late.handle) }()
	select {
	case unsub := <-subscribed:
		defer unsub()
	case <-time.After(10 * time.Second):
		t.Fatal("Subscribe hung while Redis was unreachable")
	}
	pub.Publish("c:a", bus.Event{Name: "lost"})
	time.Sleep(300 * time.Millisecond) // a few failed reconnections
	p.set(pass)

	for _, r := range []*recorder{early, late} {
		r.waitFor(t, "the gap", has(bus.Gap))
	}
	pub.Publish("c:a", bus.Event{Name: "after"})
	if got := names(early.waitFor(t, "after", has("after"))); !reflect.DeepEqual(got, []string{"before", bus.Gap, "after"}) {
		t.Fatalf("early subscriber got %v", got)
	}
	if got := names(late.waitFor(t, "after", has("after"))); !reflect.DeepEqual(got, []string{bus.Gap, "after"}) {
		t.Fatalf("subscriber of the outage got %v", got)
	}
}

// A link that goes silent without closing (a dead network path) is found
// by the health PING; the bus reconnects and reports the gap.
func TestSilentLinkFoundByHealthCheck(t *testing.T) {
	t.Parallel()
	prefix := redistest.Prefix(t)
	pub := open(t, redistest.Client(t), redisbus.Config{Prefix: prefix})
	p := newProxy(t, redistest.Options(t).Addr)
	opt := redistest.Options(t)
	opt.Addr = p.addr()
	sub := open(t, redistest.ClientWith(t, opt), redisbus.Config{Prefix: prefix, HealthInterval: 200 * time.Millisecond})
	r := newRecorder()
	defer sub.Subscribe("c:a", r.handle)()
	pub.Publish("c:a", bus.Event{Name: "before"})
	r.waitFor(t, "before", has("before"))

	p.set(silence) // the open connection stays open and carries nothing
	pub.Publish("c:a", bus.Event{Name: "lost"})
	p.set(pass) // new connections go through; the silent one stays silent
	r.waitFor(t, "the gap", has(bus.Gap))
	pub.Publish("c:a", bus.Event{Name: "after"})
	if got := names(r.waitFor(t, "after", has("after"))); !reflect.DeepEqual(got, []string{"before", bus.Gap, "after"}) {
		t.Fatalf("got %v", got)
	}
}

// A publisher that cannot reach Redis: the events it could not hand over
// are not delivered, and once it reaches Redis again every node's
// subscribers of their topics get a Gap before anything newer. Events
// published while it waits to retry are held and go out after the Gap.
func TestGapWhenPublisherLosesRedis(t *testing.T) {
	t.Parallel()
	prefix := redistest.Prefix(t)
	p := newProxy(t, redistest.Options(t).Addr)
	opt := redistest.Options(t)
	opt.Addr = p.addr()
	pub, log := openWatched(t, redistest.ClientWith(t, opt), redisbus.Config{Prefix: prefix})
	sub := open(t, redistest.Client(t), redisbus.Config{Prefix: prefix})
	ra, rb, rc := newRecorder(), newRecorder(), newRecorder()
	defer sub.Subscribe("c:a", ra.handle)()
	defer sub.Subscribe("c:b", rb.handle)()
	defer sub.Subscribe("c:c", rc.handle)()

	p.set(refuse)
	pub.Publish("c:a", bus.Event{Name: "lost"})
	log.waitFor("publishing failed")
	pub.Publish("c:b", bus.Event{Name: "held"})
	p.set(pass)
	for _, topic := range []string{"c:a", "c:b", "c:c"} {
		pub.Publish(topic, bus.Event{Name: "after"})
	}
	got := ra.waitFor(t, "after", has("after"))
	if want := []string{bus.Gap, "after"}; !reflect.DeepEqual(names(got), want) {
		t.Fatalf("c:a got %v, want %v", names(got), want)
	}
	// "held" went out after the retry, or failed with it and left a Gap.
	checkStream(t, []string{"held", "after"}, rb.waitFor(t, "after", has("after")))
	if got := names(rc.waitFor(t, "after", has("after"))); !reflect.DeepEqual(got, []string{"after"}) {
		t.Fatalf("c:c, which lost nothing, got %v", got)
	}
}

// A stream of events while both nodes' connections are killed under it:
// what arrives is in publish order, never twice, and whatever is missing
// is followed by a Gap before the next event.
func TestStreamThroughKilledConnections(t *testing.T) {
	t.Parallel()
	prefix := redistest.Prefix(t)
	pc, pubName := named(t)
	sc, subName := named(t)
	pub := open(t, pc, redisbus.Config{Prefix: prefix})
	sub := open(t, sc, redisbus.Config{Prefix: prefix})
	r := newRecorder()
	defer sub.Subscribe("c:s", r.handle)()

	const n = 3000
	published := make([]string, 0, n+10)
	for i := range n {
		published = append(published, fmt.Sprint("e", i))
	}
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i, name := range published[:n] {
			pub.Publish("c:s", bus.Event{Name: name, Seq: int64(i)})
			if i%10 == 0 {
				time.Sleep(time.Millisecond) // spread the stream over the kills
			}
		}
	}()
	for i := range 4 {
		// Let the stream move on, then kill one side's connections.
		r.waitFor(t, "more events", func(evs []bus.Event) bool { return len(evs) > (i+1)*n/6 })
		if i%2 == 0 {
			killClients(t, subName)
		} else {
			killClients(t, pubName)
		}
	}
	<-sent
	// End markers until one arrives (one published while the subscriber
	// reconnects is missed, and reported by a Gap like any other).
	for k := 0; !has("end")(r.events()); k++ {
		if k == 100 {
			t.Fatal("no end marker arrived")
		}
		name := fmt.Sprint("end", k)
		published = append(published, name)
		pub.Publish("c:s", bus.Event{Name: name})
		time.Sleep(100 * time.Millisecond)
	}
	got := r.events()
	checkStream(t, published, got)
	t.Logf("%d of %d events delivered, %d gaps", len(got)-countGaps(got), len(published), countGaps(got))
}

func countGaps(evs []bus.Event) int {
	n := 0
	for _, ev := range evs {
		if ev.Name == bus.Gap {
			n++
		}
	}
	return n
}

// killClients kills every connection of the clients called name.
func killClients(t *testing.T, name string) {
	t.Helper()
	admin := redistest.Client(t)
	list, err := admin.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(list, "\n") {
		if f := fields(line); f["name"] == name {
			admin.Do(context.Background(), "CLIENT", "KILL", "ID", f["id"])
		}
	}
}

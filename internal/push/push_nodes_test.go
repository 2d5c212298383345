package push_test

import (
	"context"
	"testing"

	"github.com/parley-chat/parley/internal/bus/local"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/cluster/rediscluster"
	"github.com/parley-chat/parley/internal/redistest"
	"github.com/parley-chat/parley/protocol"
)

// "Push only if not connected anywhere": push on node b asks node b's
// chat service, which counts the agent's console connected to node a (one
// rediscluster.Node each, on one Redis prefix). When presence cannot be
// told (node b's Redis client is gone), the notification goes out: one
// too many beats one missed.
func TestNoPushWhenConnectedToAnotherNode(t *testing.T) {
	ps := newPushService(t)
	e := newEnv(t, ps, true)
	ctx := context.Background()
	prefix := redistest.Prefix(t)
	clientB := redistest.Client(t)
	b := local.New()
	t.Cleanup(func() { b.Close() })
	nodeOf := func(id string) *rediscluster.Node {
		c := redistest.Client(t)
		if id == "b" {
			c = clientB
		}
		n, err := rediscluster.New(ctx, c, rediscluster.Config{NodeID: id, Prefix: prefix, Interval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	chatA := chat.New(e.st, b, nil, chat.Config{Presence: nodeOf("a")})
	t.Cleanup(chatA.Close)
	chatB := chat.New(e.st, b, nil, chat.Config{Presence: nodeOf("b")})
	t.Cleanup(chatB.Close)
	e.mu.Lock()
	e.ask = chatB.Online
	e.mu.Unlock()
	if err := e.push.Subscribe(ctx, e.ann, newBrowser(t).subscription(ps.srv.URL+"/push/1")); err != nil {
		t.Fatal(err)
	}
	notify := func() int {
		e.push.VisitorMessage(e.acc.ID, "cnv_1", "V", protocol.Message{Type: protocol.TypeText, Text: "hi"})
		e.push.Wait()
		reqs, _ := ps.requests()
		return len(reqs)
	}
	if err := chatA.Connected(ctx, e.ann, "con_a"); err != nil {
		t.Fatal(err)
	}
	if n := notify(); n != 0 {
		t.Fatalf("pushed to an agent connected to node a: %d", n)
	}
	chatA.Disconnected(ctx, e.ann, "con_a")
	if n := notify(); n != 1 {
		t.Fatalf("%d deliveries once the agent left node a, want 1", n)
	}
	if err := chatA.Connected(ctx, e.ann, "con_a2"); err != nil {
		t.Fatal(err)
	}
	clientB.Close()
	if n := notify(); n != 2 {
		t.Fatalf("%d deliveries with presence unknown, want 2 (pushed)", n)
	}
}

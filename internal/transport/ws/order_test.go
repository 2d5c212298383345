package ws_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/bus/local"
	redisbus "github.com/parley-chat/parley/internal/bus/redis"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/redistest"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/postgres"
	"github.com/parley-chat/parley/internal/transport/ws"
	"github.com/parley-chat/parley/protocol"
)

// holdBack is the tests' hold-back: short, so the store-fill path runs
// quickly; the order does not depend on it.
const holdBack = 50 * time.Millisecond

// crossed is a second node's chat service on the stack's store whose events
// go to a bus of its own, recorded, so a test hands them to the stack's
// bus in the order (and with the losses) the Redis bus could produce.
type crossed struct {
	svc *chat.Service
	mu  sync.Mutex
	evs []bus.Event
}

func newCrossed(t *testing.T, s *stack, conv string) *crossed {
	b := local.New()
	x := &crossed{svc: chat.New(s.store, b, nil, chat.Config{})}
	t.Cleanup(x.svc.Close)
	unsub := b.Subscribe(chat.ConversationTopic(conv), func(_ string, ev bus.Event) {
		x.mu.Lock()
		x.evs = append(x.evs, ev)
		x.mu.Unlock()
	})
	t.Cleanup(unsub)
	return x
}

// events returns what the second node published, by seq for messages
// and in order for the rest.
func (x *crossed) events() (msgs map[int64]bus.Event, other []bus.Event) {
	x.svc.Flush()
	x.mu.Lock()
	defer x.mu.Unlock()
	msgs = map[int64]bus.Event{}
	for _, ev := range x.evs {
		if ev.Name == protocol.EvMessage {
			msgs[ev.Seq] = ev
		} else {
			other = append(other, ev)
		}
	}
	return msgs, other
}

func identity(t *testing.T, s *stack, user string) auth.Identity {
	t.Helper()
	id, err := s.auth.Token(ctxT(t), s.token(user))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// readMessages reads chat:message seqs (and the names of other events of
// the conversation) until want messages came or the connection closed.
func readMessages(t *testing.T, c *client.Conn, want int) (seqs []int64, texts map[int64]string, order []string) {
	t.Helper()
	texts = map[int64]string{}
	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	for len(seqs) < want {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				return
			}
			switch ev.Event {
			case protocol.EvMessage:
				var m protocol.Message
				if err := json.Unmarshal(ev.Data, &m); err != nil {
					t.Fatal(err)
				}
				seqs = append(seqs, m.Seq)
				texts[m.Seq] = m.Text
				order = append(order, fmt.Sprint(m.Seq))
			case protocol.EvMessageEdited:
				var m protocol.Message
				json.Unmarshal(ev.Data, &m)
				order = append(order, fmt.Sprintf("edit %d", m.Seq))
			}
		case <-timer.C:
			t.Fatalf("after %v: no more messages within 20s (want %d)", seqs, want)
		}
	}
	return
}

func checkConsecutive(t *testing.T, seqs []int64, first int64, n int) {
	t.Helper()
	if len(seqs) != n {
		t.Fatalf("got %d messages %v, want %d", len(seqs), seqs, n)
	}
	for i, s := range seqs {
		if s != first+int64(i) {
			t.Fatalf("message %d has seq %d, want %d: %v", i, s, first+int64(i), seqs[max(0, i-5):min(len(seqs), i+5)])
		}
	}
}

// orderCase is a stack ordering with a short hold-back, carol connected
// (the reader) in a group with alice, and alice's second node.
type orderCase struct {
	s      *stack
	reader *client.Conn
	cv     protocol.Conversation
	x      *crossed
	topic  string
	t      *testing.T
	alice  auth.Identity
}

func newOrderCase(t *testing.T) *orderCase {
	s := newStack(t, ws.Config{HoldBack: holdBack}, chat.Config{})
	reader := s.dial("carol", nil)
	s.dial("alice", nil)
	cv := s.group(reader, "g", "alice")
	return &orderCase{s: s, reader: reader, cv: cv, x: newCrossed(t, s, cv.ID), topic: chat.ConversationTopic(cv.ID),
		t: t, alice: identity(t, s, "alice")}
}

// send sends through the other node (its event is recorded, not delivered).
func (o *orderCase) send(text string) protocol.Message {
	o.t.Helper()
	m, err := o.x.svc.Send(ctxT(o.t), o.alice, protocol.SendRequest{ConversationID: o.cv.ID, Text: text})
	if err != nil {
		o.t.Fatal(err)
	}
	return m
}

// deliver hands the other node's messages of these seqs to this node's bus.
func (o *orderCase) deliver(seqs ...int64) {
	msgs, _ := o.x.events()
	for _, seq := range seqs {
		o.s.bus.Publish(o.topic, msgs[seq])
	}
}

// Another node's messages reach this node crossed (seq 2 before 1), and an
// edit of 2 arrives before 1 too: the reader sees 1, 2, the edit, 3, 4,
// each once. Without the hold-back (HoldBack 0) it sees 2 first.
func TestCrossedMessagesArriveInOrder(t *testing.T) {
	o := newOrderCase(t)
	s, reader, cv, x, alice := o.s, o.reader, o.cv, o.x, o.alice
	var two protocol.Message
	for i := 1; i <= 4; i++ {
		if m := o.send(fmt.Sprint("m", i)); i == 2 {
			two = m
		}
	}
	if _, err := x.svc.Edit(ctxT(t), alice, protocol.EditRequest{ConversationID: cv.ID, MessageID: two.ID, Text: "m2 edited"}); err != nil {
		t.Fatal(err)
	}
	msgs, other := x.events()
	if len(msgs) != 4 || len(other) != 1 {
		t.Fatalf("the other node published %d messages and %d other events", len(msgs), len(other))
	}
	for _, ev := range []bus.Event{msgs[2], other[0], msgs[1], msgs[4], msgs[3], msgs[2]} {
		s.bus.Publish(o.topic, ev) // the last one: a message delivered twice
	}
	seqs, texts, order := readMessages(t, reader, 4)
	checkConsecutive(t, seqs, 1, 4)
	if got := strings.Join(order, ","); got != "1,2,edit 2,3,4" {
		t.Fatalf("order %s, want 1,2,edit 2,3,4", got)
	}
	if texts[1] != "m1" || texts[4] != "m4" {
		t.Fatalf("texts %v", texts)
	}
	none(t, reader, protocol.EvMessage, 3*holdBack)
}

// A message whose event never reaches this node (dropped on the way) is
// read from the store after the hold-back: the reader sees 1, 2, 3, 4 with
// 2 as stored, then what follows in order.
func TestMissingMessageIsFilledFromStore(t *testing.T) {
	o := newOrderCase(t)
	reader := o.reader
	for i := 1; i <= 6; i++ {
		o.send(fmt.Sprint("m", i))
	}
	o.deliver(1, 3, 4) // 2 is lost
	seqs, texts, _ := readMessages(t, reader, 4)
	checkConsecutive(t, seqs, 1, 4)
	if texts[2] != "m2" {
		t.Fatalf("the filled message has text %q", texts[2])
	}
	o.deliver(2, 6, 5) // 2 after all (a duplicate now), then 6 before 5
	seqs, _, _ = readMessages(t, reader, 2)
	checkConsecutive(t, seqs, 5, 2)
	none(t, reader, protocol.EvMessage, 3*holdBack)
}

// A seq the store does not have either (the bus brought a message from
// another history) cannot be filled: the topic's connections resync with
// 4009 instead of showing a gap.
func TestUnfillableGapResyncs(t *testing.T) {
	s := newStack(t, ws.Config{HoldBack: holdBack}, chat.Config{})
	reader := s.dial("carol", nil)
	s.dial("alice", nil)
	cv := s.group(reader, "g", "alice")
	if _, err := reader.Send(ctxT(t), protocol.SendRequest{ConversationID: cv.ID, Text: "one"}); err != nil {
		t.Fatal(err)
	}
	next(t, reader, protocol.EvMessage, 5*time.Second)
	s.bus.Publish(chat.ConversationTopic(cv.ID), bus.Event{Name: protocol.EvMessage, ConversationID: cv.ID, Seq: 9,
		Data: json.RawMessage(`{"id":"msg_x","conversation_id":"` + cv.ID + `","seq":9}`)})
	waitDone(t, reader, 10*time.Second)
	if reader.CloseCode() != protocol.CloseResync {
		t.Fatalf("close code %d, want %d", reader.CloseCode(), protocol.CloseResync)
	}
}

// shared is what nodes share: a PostgreSQL database (with an account), a
// Redis prefix, and the token secret.
type shared struct {
	dbURL, prefix string
	acct          store.Account
	auth          *auth.Authenticator
}

func newShared(t testing.TB) *shared {
	t.Helper()
	sh := &shared{dbURL: pgtest.Database(t), prefix: redistest.Prefix(t)}
	ctx := context.Background()
	setup, err := postgres.Open(ctx, sh.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { setup.Close() })
	if sh.acct, _, err = auth.CreateAccount(ctx, setup, "acme", time.Now()); err != nil {
		t.Fatal(err)
	}
	sh.auth = auth.New(setup, secret, 24*time.Hour)
	return sh
}

// member mints a member's token and returns it with the identity.
func (sh *shared) member(t testing.TB, user string) (string, auth.Identity) {
	t.Helper()
	tok, err := sh.auth.Mint(auth.MintRequest{AccountID: sh.acct.ID, User: user, Role: protocol.RoleMember, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	id, err := sh.auth.Token(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	return tok, id
}

// node is one parley node of a cluster test: its own PostgreSQL pool and
// writers, its own Redis bus, a chat service, and (for a reader) the
// WebSocket endpoint.
type node struct {
	chat *chat.Service
	srv  *ws.Server
	url  string
}

func newNode(t testing.TB, dbURL, prefix string, a *auth.Authenticator, hold time.Duration, withWS bool) *node {
	t.Helper()
	ctx := context.Background()
	st, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	b, err := redisbus.New(ctx, redistest.Client(t), redisbus.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{chat: chat.New(st, b, nil, chat.Config{})}
	var hs *httptest.Server
	if withWS {
		n.srv = ws.New(ws.Config{HoldBack: hold, MessagesPerSecond: 1e6, MessagesBurst: 1e6},
			a, n.chat, b, slog.New(slog.NewTextHandler(io.Discard, nil)))
		mux := http.NewServeMux()
		mux.Handle("/ws", n.srv)
		hs = httptest.NewServer(mux)
		n.url = "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
	}
	t.Cleanup(func() {
		if n.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			n.srv.Shutdown(ctx)
			cancel()
			hs.Close()
		}
		n.chat.Close()
		b.Close()
		st.Close()
	})
	return n
}

// Two nodes take messages for one conversation at once from many senders;
// a member connected to a third node sees every seq once, consecutively.
// Each node's writer publishes its own commits, so without the hold-back
// the third node receives some of them crossed.
func TestManySendersThroughTwoNodesArriveInOrder(t *testing.T) {
	sh := newShared(t)
	ctx := ctxT(t)
	a := newNode(t, sh.dbURL, sh.prefix, sh.auth, 0, false)
	b := newNode(t, sh.dbURL, sh.prefix, sh.auth, 0, false)
	c := newNode(t, sh.dbURL, sh.prefix, sh.auth, ws.DefaultHoldBack, true)
	ids := map[string]auth.Identity{}
	toks := map[string]string{}
	for _, u := range []string{"alice", "bob", "carol"} {
		toks[u], ids[u] = sh.member(t, u)
	}
	cv, err := a.chat.CreateConversation(ctx, ids["alice"], protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "g", Members: []string{"bob", "carol"}})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := client.Dial(ctx, c.url, toks["carol"], &client.Options{EventBuffer: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Close() })
	topic := chat.ConversationTopic(cv.ID)
	eventually(t, 5*time.Second, "the reader is subscribed", func() bool { return c.srv.TopicConns(topic) == 1 })

	const senders, each = 8, 60 // per node
	var wg sync.WaitGroup
	errs := make(chan error, 2*senders)
	for i := range 2 * senders {
		n, who := a, "alice"
		if i%2 == 1 {
			n, who = b, "bob"
		}
		wg.Go(func() {
			for j := range each {
				if _, err := n.chat.Send(context.Background(), ids[who], protocol.SendRequest{ConversationID: cv.ID, Text: fmt.Sprint(i, "/", j)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seqs, _, _ := readMessages(t, reader, 2*senders*each)
	checkConsecutive(t, seqs, 1, 2*senders*each)
}

// The reply to a chat:send comes after the messages below its seq: here
// seq 2 of another node never reaches this one, and carol's own 3 waits
// behind it until 2 is read from the store; her client (whose cursor
// follows what it holds) has 2 and 3 when the reply arrives.
func TestSendReplyFollowsEarlierSeqs(t *testing.T) {
	o := newOrderCase(t)
	carol, cv := o.reader, o.cv
	o.send("m1")
	o.send("m2")
	o.deliver(1) // 2 is lost
	seqs, _, _ := readMessages(t, carol, 1)
	checkConsecutive(t, seqs, 1, 1)
	m, err := carol.Send(ctxT(t), protocol.SendRequest{ConversationID: cv.ID, Text: "mine"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq != 3 {
		t.Fatalf("carol's message has seq %d", m.Seq)
	}
	seqs = nil
	for len(seqs) < 2 {
		select {
		case ev := <-carol.Events():
			if ev.Event == protocol.EvMessage {
				var got protocol.Message
				json.Unmarshal(ev.Data, &got)
				seqs = append(seqs, got.Seq)
			}
		default:
			t.Fatalf("when the reply came carol held seqs %v after 1, want 2, 3", seqs)
		}
	}
	checkConsecutive(t, seqs, 2, 2)
}

// An edit and a read receipt name their message's seq: one that reaches
// this node before its message waits for it (and, when the message's own
// event never comes, for the message read from the store).
func TestChangeWaitsForItsMessage(t *testing.T) {
	o := newOrderCase(t)
	s, reader, cv, x, alice, topic, send := o.s, o.reader, o.cv, o.x, o.alice, o.topic, o.send
	send("one")
	o.deliver(1)
	seqs, _, _ := readMessages(t, reader, 1)
	checkConsecutive(t, seqs, 1, 1)

	two := send("two")
	if _, err := x.svc.Edit(ctxT(t), alice, protocol.EditRequest{ConversationID: cv.ID, MessageID: two.ID, Text: "two edited"}); err != nil {
		t.Fatal(err)
	}
	_, other := x.events()
	s.bus.Publish(topic, other[len(other)-1]) // the edit; message 2's event is lost
	if env := nextOf(t, reader, protocol.EvMessage, protocol.EvMessageEdited); env.Event != protocol.EvMessage {
		t.Fatalf("got %s before the message it edits", env.Event)
	}
	if env := nextOf(t, reader, protocol.EvMessage, protocol.EvMessageEdited); env.Event != protocol.EvMessageEdited {
		t.Fatalf("got %s, want the edit", env.Event)
	}

	send("three")
	if _, err := x.svc.MarkRead(ctxT(t), alice, protocol.ReadRequest{ConversationID: cv.ID, Seq: 3}); err != nil {
		t.Fatal(err)
	}
	_, other = x.events()
	s.bus.Publish(topic, other[len(other)-1]) // the read, then its message
	o.deliver(3)
	if env := nextOf(t, reader, protocol.EvMessage, protocol.EvRead); env.Event != protocol.EvMessage {
		t.Fatalf("got %s before the message it marks read", env.Event)
	}
	if env := nextOf(t, reader, protocol.EvMessage, protocol.EvRead); env.Event != protocol.EvRead {
		t.Fatalf("got %s, want the read", env.Event)
	}
}

// nextOf returns the next event named one of names.
func nextOf(t *testing.T, c *client.Conn, names ...string) protocol.Envelope {
	t.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("connection closed (code %d)", c.CloseCode())
			}
			for _, n := range names {
				if ev.Event == n {
					return ev
				}
			}
		case <-timer.C:
			t.Fatalf("none of %v within 10s", names)
		}
	}
}

// BenchmarkSendReplyNodes: one connection sends messages one after the
// other through a node on PostgreSQL and Redis; with the hold-back ("on")
// each reply also waits for the message's event to come back through
// Redis. Reports the time per acknowledged send.
func BenchmarkSendReplyNodes(b *testing.B) {
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			hold := time.Duration(0)
			if mode == "on" {
				hold = ws.DefaultHoldBack
			}
			sh := newShared(b)
			ctx := context.Background()
			n := newNode(b, sh.dbURL, sh.prefix, sh.auth, hold, true)
			tok, id := sh.member(b, "carol")
			cv, err := n.chat.CreateConversation(ctx, id, protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "g"})
			if err != nil {
				b.Fatal(err)
			}
			carol, err := client.Dial(ctx, n.url, tok, &client.Options{OnFrame: func([]byte) {}})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { carol.Close() })
			send := func() {
				if _, err := carol.Send(ctx, protocol.SendRequest{ConversationID: cv.ID, Text: "hello"}); err != nil {
					b.Fatal(err)
				}
			}
			send()
			time.Sleep(2 * hold) // the first message settles the order
			b.ResetTimer()
			for range b.N {
				send()
			}
		})
	}
}

// A chat:sync settles where its conversations' order starts on this node:
// the replay read the store up to some seq, so the next one is still to
// come over the bus. Here the other node's 1 never arrives and its 2 is
// the first message this node sees: carol, who synced at 0, gets 1 from
// the store, then 2, rather than starting at 2.
func TestSyncSettlesWhereOrderStarts(t *testing.T) {
	o := newOrderCase(t)
	if _, _, err := o.reader.Sync(ctxT(t), map[string]int64{o.cv.ID: 0}); err != nil {
		t.Fatal(err)
	}
	o.send("m1")
	o.send("m2")
	o.deliver(2)
	seqs, texts, _ := readMessages(t, o.reader, 2)
	checkConsecutive(t, seqs, 1, 2)
	if texts[1] != "m1" {
		t.Fatalf("the filled message has text %q", texts[1])
	}
}

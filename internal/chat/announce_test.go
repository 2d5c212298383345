package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/bus/local"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/postgres"
	"github.com/parley-chat/parley/protocol"
)

// onConnPath marks the context of a connection's own calls
// (Connected, Disconnected) in these tests.
type onConnPath struct{}

// gatedStore holds the store reads and writes presence makes until open
// is closed, and fails the test if one is made with a connection's own
// context: announcing must not wait on the store in the connection's path.
type gatedStore struct {
	store.Store
	t    *testing.T
	open chan struct{}
}

func (g *gatedStore) pass(ctx context.Context, what string) error {
	if ctx.Value(onConnPath{}) != nil {
		g.t.Errorf("%s on the connection's path", what)
		return errors.New("read on the connection's path")
	}
	<-g.open
	return nil
}

func (g *gatedStore) GetUser(ctx context.Context, accountID, id string) (store.User, error) {
	if err := g.pass(ctx, "GetUser"); err != nil {
		return store.User{}, err
	}
	return g.Store.GetUser(ctx, accountID, id)
}

func (g *gatedStore) SetLastSeen(ctx context.Context, accountID, id string, t time.Time) error {
	if err := g.pass(ctx, "SetLastSeen"); err != nil {
		return err
	}
	return g.Store.SetLastSeen(ctx, accountID, id, t)
}

func (g *gatedStore) ListConversations(ctx context.Context, accountID, userID string, withInboxes bool, before time.Time, limit int) ([]store.ConversationSummary, error) {
	if err := g.pass(ctx, "ListConversations"); err != nil {
		return nil, err
	}
	return g.Store.ListConversations(ctx, accountID, userID, withInboxes, before, limit)
}

// Connected and Disconnected return while the store does not answer; once
// it does, the user's latest state is announced and last_seen carries the
// time of the disconnect.
func TestPresenceNotOnTheConnectionsPath(t *testing.T) {
	w := newWorld(t, chat.Config{})
	gate := &gatedStore{Store: w.st, t: t, open: make(chan struct{})}
	svc := chat.New(gate, w.bus, nil, chat.Config{})
	t.Cleanup(svc.Close)
	left := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	svc.SetClock(func() time.Time { return left })
	alice := w.user(w.acc, "alice", protocol.RoleMember)
	rec := &recorder{svc: svc}
	t.Cleanup(w.bus.Subscribe("u:"+alice.UserID, func(_ string, ev bus.Event) {
		rec.mu.Lock()
		rec.evs = append(rec.evs, ev)
		rec.mu.Unlock()
	}))
	ctx := context.WithValue(context.Background(), onConnPath{}, true)
	if err := svc.Connected(ctx, alice, "con_1"); err != nil {
		t.Fatal(err)
	}
	svc.Disconnected(ctx, alice, "con_1")
	if err := svc.Connected(ctx, alice, "con_2"); err != nil {
		t.Fatal(err)
	}
	close(gate.open)
	evs := rec.named(protocol.EvUserStatus)
	if len(evs) == 0 {
		t.Fatal("nothing announced")
	}
	var p protocol.Presence
	json.Unmarshal(evs[len(evs)-1].Data, &p)
	if p.Status != protocol.StatusOnline {
		t.Fatalf("last announced %+v, want online", p)
	}
	u, err := w.st.GetUser(context.Background(), w.acc, alice.UserID)
	if err != nil || u.LastSeen == nil || !u.LastSeen.Equal(left) {
		t.Fatalf("last_seen %v (%v), want the disconnect's %v", u.LastSeen, err, left)
	}
}

// A connection storm on PostgreSQL with a small pool: 2,000 users connect
// at once, some leave and some of those come back, and every user's
// latest announcement is their final state (none lost to the pool), with
// last_seen stamped for those who left.
func TestPresenceStormAnnouncesEveryone(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, pgtest.Database(t)+"&pool_max_conns=4")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := local.New()
	svc := chat.New(st, b, nil, chat.Config{})
	t.Cleanup(svc.Close)
	acc, _, err := auth.CreateAccount(ctx, st, "storm", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	au := auth.New(st, []byte("0123456789abcdef0123456789abcdef"), time.Hour)
	const n = 2000
	users := make([]auth.Identity, n)
	var mu sync.Mutex
	last := map[string]string{} // topic → the last status heard
	for i := range users {
		tok, err := au.Mint(auth.MintRequest{AccountID: acc.ID, User: fmt.Sprintf("u%d", i), Role: protocol.RoleMember, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if users[i], err = au.Token(ctx, tok); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Subscribe("u:"+users[i].UserID, func(topic string, ev bus.Event) {
			var p protocol.Presence
			json.Unmarshal(ev.Data, &p)
			mu.Lock()
			last[topic] = p.Status
			mu.Unlock()
		}))
	}
	// Final state: i%4 == 1 left, i%4 == 2 left and came back, others stay.
	want := func(i int) string {
		if i%4 == 1 {
			return protocol.StatusOffline
		}
		return protocol.StatusOnline
	}
	var wg sync.WaitGroup
	for i, id := range users {
		wg.Go(func() {
			conn := func(c string) { // connection ids are unique
				c = fmt.Sprintf("%s_%d", c, i)
				cctx, cancel := context.WithCancel(ctx) // dead once the call returns, like a handshake's
				defer cancel()
				if err := svc.Connected(cctx, id, c); err != nil {
					t.Error(err)
				}
			}
			conn("con_a")
			if i%4 == 1 || i%4 == 2 {
				dctx, cancel := context.WithCancel(ctx)
				svc.Disconnected(dctx, id, fmt.Sprintf("con_a_%d", i))
				cancel()
			}
			if i%4 == 2 {
				conn("con_b")
			}
		})
	}
	wg.Wait()
	svc.Flush()
	mu.Lock()
	defer mu.Unlock()
	wrong := 0
	for i, id := range users {
		if got := last["u:"+id.UserID]; got != want(i) {
			if wrong++; wrong <= 5 {
				t.Errorf("user %d: last announced %q, want %q", i, got, want(i))
			}
		}
		if i%4 == 1 || i%4 == 2 {
			if u, err := st.GetUser(ctx, acc.ID, id.UserID); err != nil || u.LastSeen == nil {
				t.Errorf("user %d left: last_seen %v (%v)", i, u.LastSeen, err)
			}
		}
	}
	if wrong > 0 {
		t.Fatalf("%d of %d users announced wrong", wrong, n)
	}
}

// Shutting down makes what is queued: the last_seen of a connection
// closed just before is stamped by the time StopAnnouncing returns (the
// app then closes the store).
func TestStopAnnouncingDrains(t *testing.T) {
	w := newWorld(t, chat.Config{})
	alice, _, rec := w.direct(t)
	ctx := context.Background()
	mustConnect(t, w.svc, alice, "con_1")
	w.svc.Disconnected(ctx, alice, "con_1")
	w.svc.StopAnnouncing()
	if u, err := w.st.GetUser(ctx, w.acc, alice.UserID); err != nil || u.LastSeen == nil {
		t.Fatalf("after StopAnnouncing: last_seen %v (%v)", u.LastSeen, err)
	}
	evs := rec.named(protocol.EvUserStatus)
	var p protocol.Presence
	if len(evs) > 0 {
		json.Unmarshal(evs[len(evs)-1].Data, &p)
	}
	if p.Status != protocol.StatusOffline {
		t.Fatalf("%d presence events, the last %+v: want offline last", len(evs), p)
	}
	mustConnect(t, w.svc, alice, "con_2") // after: dropped, and Flush does not wait for it
	w.svc.Flush()
}

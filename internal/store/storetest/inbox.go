package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

// addr makes an 8-character address unique enough for one test run.
func addr() string { return id("a")[2:10] }

func testInboxes(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	acc := newAccount(t, s)
	_, err := s.GetInbox(ctx, acc.ID)
	wantErr(t, err, store.ErrNotFound)

	in := store.Inbox{AccountID: acc.ID, Address: addr(), Name: "Acme", Welcome: "Hi!", Color: "#112233",
		Position: "right", CreatedAt: now()}
	must(t, s.CreateInbox(ctx, in))
	got, err := s.GetInbox(ctx, acc.ID)
	must(t, err)
	if got.Address != in.Address || got.Name != "Acme" || got.Welcome != "Hi!" || got.Color != "#112233" || got.Position != "right" {
		t.Fatalf("GetInbox = %+v, want %+v", got, in)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, in.CreatedAt)
	sameTime(t, "UpdatedAt", got.UpdatedAt, in.CreatedAt)

	byAddr, err := s.GetInboxByAddress(ctx, in.Address)
	must(t, err)
	if byAddr.AccountID != acc.ID {
		t.Fatalf("GetInboxByAddress = %+v", byAddr)
	}
	// One inbox per account; one account per address.
	wantErr(t, s.CreateInbox(ctx, store.Inbox{AccountID: acc.ID, Address: addr(), CreatedAt: now()}), store.ErrConflict)
	other := newAccount(t, s)
	wantErr(t, s.CreateInbox(ctx, store.Inbox{AccountID: other.ID, Address: in.Address, CreatedAt: now()}), store.ErrConflict)
	wantErr(t, s.CreateInbox(ctx, store.Inbox{AccountID: id("acc"), Address: addr(), CreatedAt: now()}), store.ErrNotFound)

	// Settings change; the address does not.
	later := now().Add(time.Minute)
	upd := got
	upd.Name, upd.Welcome, upd.Color, upd.Position, upd.UpdatedAt, upd.Address = "Acme Ltd", "Hello", "#abcdef", "left", later, "ignored1"
	must(t, s.UpdateInbox(ctx, upd))
	got, err = s.GetInbox(ctx, acc.ID)
	must(t, err)
	if got.Name != "Acme Ltd" || got.Welcome != "Hello" || got.Color != "#abcdef" || got.Position != "left" || got.Address != in.Address {
		t.Fatalf("after UpdateInbox: %+v", got)
	}
	sameTime(t, "UpdatedAt", got.UpdatedAt, later)
	wantErr(t, s.UpdateInbox(ctx, store.Inbox{AccountID: other.ID, UpdatedAt: now()}), store.ErrNotFound)

	// A new address replaces the old one at once.
	fresh := addr()
	must(t, s.ReplaceInboxAddress(ctx, acc.ID, in.Address, fresh, later))
	_, err = s.GetInboxByAddress(ctx, in.Address)
	wantErr(t, err, store.ErrNotFound)
	byAddr, err = s.GetInboxByAddress(ctx, fresh)
	must(t, err)
	if byAddr.AccountID != acc.ID || byAddr.Name != "Acme Ltd" {
		t.Fatalf("GetInboxByAddress(new) = %+v", byAddr)
	}
	// A stale "old", a taken address, no inbox.
	wantErr(t, s.ReplaceInboxAddress(ctx, acc.ID, in.Address, addr(), later), store.ErrConflict)
	theirs := store.Inbox{AccountID: other.ID, Address: addr(), CreatedAt: now()}
	must(t, s.CreateInbox(ctx, theirs))
	wantErr(t, s.ReplaceInboxAddress(ctx, acc.ID, fresh, theirs.Address, later), store.ErrConflict)
	wantErr(t, s.ReplaceInboxAddress(ctx, newAccount(t, s).ID, "whatever", addr(), later), store.ErrNotFound)
	got, err = s.GetInbox(ctx, acc.ID)
	must(t, err)
	if got.Address != fresh {
		t.Fatalf("a refused replacement changed the address to %q", got.Address)
	}
}

// testInboxAddressRace: of many regenerations racing from the same
// current address, exactly one wins.
func testInboxAddressRace(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	acc := newAccount(t, s)
	first := addr()
	must(t, s.CreateInbox(ctx, store.Inbox{AccountID: acc.ID, Address: first, CreatedAt: now()}))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	cands := make([]string, n)
	for i := range n {
		cands[i] = addr()
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.ReplaceInboxAddress(ctx, acc.ID, first, cands[i], now())
		}()
	}
	wg.Wait()
	wins := 0
	var winner string
	for i, err := range errs {
		if err == nil {
			wins++
			winner = cands[i]
		} else {
			wantErr(t, err, store.ErrConflict)
		}
	}
	if wins != 1 {
		t.Fatalf("%d regenerations won, want exactly 1", wins)
	}
	got, err := s.GetInbox(ctx, acc.ID)
	must(t, err)
	if got.Address != winner {
		t.Fatalf("address = %q, want the winner %q", got.Address, winner)
	}
}

func testVisitors(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	acc := newAccount(t, s)
	u := newUser(t, s, acc.ID, protocol.RoleVisitor)
	_, err := s.GetVisitor(ctx, acc.ID, u.ID)
	wantErr(t, err, store.ErrNotFound)

	first := now()
	v := store.Visitor{UserID: u.ID, AccountID: acc.ID, PageURL: "https://shop.example/a", PageTitle: "A",
		Referrer: "https://search.example/", UserAgent: "Mozilla/5.0", Timezone: "Europe/Sofia", Locale: "bg-BG",
		IP: "192.0.2.1", LastSeen: first}
	must(t, s.PutVisitor(ctx, v))
	got, err := s.GetVisitor(ctx, acc.ID, u.ID)
	must(t, err)
	if got.PageURL != v.PageURL || got.Timezone != "Europe/Sofia" || got.Locale != "bg-BG" || got.IP != "192.0.2.1" || got.Identified {
		t.Fatalf("GetVisitor = %+v", got)
	}
	sameTime(t, "FirstSeen", got.FirstSeen, first)

	// A later report replaces the details and keeps the first sighting.
	later := first.Add(time.Hour)
	v2 := store.Visitor{UserID: u.ID, AccountID: acc.ID, PageURL: "https://shop.example/b", Identified: true,
		FirstSeen: later, LastSeen: later}
	must(t, s.PutVisitor(ctx, v2))
	got, err = s.GetVisitor(ctx, acc.ID, u.ID)
	must(t, err)
	if got.PageURL != "https://shop.example/b" || got.PageTitle != "" || !got.Identified {
		t.Fatalf("after update: %+v", got)
	}
	sameTime(t, "FirstSeen", got.FirstSeen, first)
	sameTime(t, "LastSeen", got.LastSeen, later)

	other := newAccount(t, s)
	_, err = s.GetVisitor(ctx, other.ID, u.ID)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.PutVisitor(ctx, store.Visitor{UserID: id("usr"), AccountID: acc.ID, LastSeen: now()}), store.ErrNotFound)
}

func testLogins(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	acc := newAccount(t, s)
	owner := newUser(t, s, acc.ID, protocol.RoleOwner)
	agent := newUser(t, s, acc.ID, protocol.RoleAgent)
	name := id("login")
	_, err := s.GetLogin(ctx, name)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetLoginByUser(ctx, acc.ID, owner.ID)
	wantErr(t, err, store.ErrNotFound)

	created := now()
	must(t, s.PutLogin(ctx, store.Login{Login: name, UserID: owner.ID, AccountID: acc.ID, PasswordHash: "h1", UpdatedAt: created}))
	got, err := s.GetLogin(ctx, name)
	must(t, err)
	if got.UserID != owner.ID || got.AccountID != acc.ID || got.PasswordHash != "h1" {
		t.Fatalf("GetLogin = %+v", got)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, created)

	// The login is taken: another user cannot have it.
	wantErr(t, s.PutLogin(ctx, store.Login{Login: name, UserID: agent.ID, AccountID: acc.ID, PasswordHash: "h2", UpdatedAt: now()}), store.ErrConflict)
	got, err = s.GetLogin(ctx, name)
	must(t, err)
	if got.UserID != owner.ID || got.PasswordHash != "h1" {
		t.Fatalf("a refused PutLogin changed %+v", got)
	}

	// The owner renames their login and changes the password: one row, same creation time.
	renamed, later := id("login"), created.Add(time.Hour)
	must(t, s.PutLogin(ctx, store.Login{Login: renamed, UserID: owner.ID, AccountID: acc.ID, PasswordHash: "h3", UpdatedAt: later}))
	_, err = s.GetLogin(ctx, name)
	wantErr(t, err, store.ErrNotFound)
	got, err = s.GetLoginByUser(ctx, acc.ID, owner.ID)
	must(t, err)
	if got.Login != renamed || got.PasswordHash != "h3" {
		t.Fatalf("GetLoginByUser = %+v", got)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, created)
	sameTime(t, "UpdatedAt", got.UpdatedAt, later)
	_, err = s.GetLoginByUser(ctx, newAccount(t, s).ID, owner.ID)
	wantErr(t, err, store.ErrNotFound)
}

func testPushSubscriptions(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	acc := newAccount(t, s)
	ann := newUser(t, s, acc.ID, protocol.RoleAgent)
	bob := newUser(t, s, acc.ID, protocol.RoleOwner)
	ep1, ep2 := "https://push.example/"+id("e"), "https://push.example/"+id("e")
	must(t, s.PutPushSubscription(ctx, store.PushSubscription{Endpoint: ep1, AccountID: acc.ID, UserID: ann.ID, P256dh: "k1", Auth: "a1", CreatedAt: now()}))
	must(t, s.PutPushSubscription(ctx, store.PushSubscription{Endpoint: ep2, AccountID: acc.ID, UserID: bob.ID, P256dh: "k2", Auth: "a2", CreatedAt: now()}))
	list, err := s.ListPushSubscriptions(ctx, acc.ID)
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("ListPushSubscriptions = %+v", list)
	}
	// The same browser subscribed again, now signed in as bob: one row, bob's, new keys.
	must(t, s.PutPushSubscription(ctx, store.PushSubscription{Endpoint: ep1, AccountID: acc.ID, UserID: bob.ID, P256dh: "k3", Auth: "a3", CreatedAt: now()}))
	list, err = s.ListPushSubscriptions(ctx, acc.ID)
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("after re-subscribing: %+v", list)
	}
	for _, p := range list {
		if p.Endpoint == ep1 && (p.UserID != bob.ID || p.P256dh != "k3" || p.Auth != "a3") {
			t.Fatalf("re-subscribed endpoint = %+v", p)
		}
	}
	// Only its user removes a subscription (or the server, with no user).
	wantErr(t, s.DeletePushSubscription(ctx, ep2, ann.ID), store.ErrNotFound)
	must(t, s.DeletePushSubscription(ctx, ep2, bob.ID))
	wantErr(t, s.DeletePushSubscription(ctx, ep2, bob.ID), store.ErrNotFound)
	must(t, s.DeletePushSubscription(ctx, ep1, ""))
	list, err = s.ListPushSubscriptions(ctx, acc.ID)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("after deleting: %+v", list)
	}
	other := newAccount(t, s)
	list, err = s.ListPushSubscriptions(ctx, other.ID)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("another account lists %+v", list)
	}
	wantErr(t, s.PutPushSubscription(ctx, store.PushSubscription{Endpoint: ep1, AccountID: acc.ID, UserID: id("usr"), P256dh: "k", Auth: "a"}), store.ErrNotFound)
}

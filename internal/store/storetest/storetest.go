// Package storetest is the conformance suite every store.Store
// implementation runs unchanged:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... })
//	}
//
// open must return a ready store and arrange for it to be closed when the
// test ends (t.Cleanup). The suite uses fresh random ids everywhere, so
// stores may share one database across subtests. Times it writes are
// truncated to microseconds, the finest precision every backend keeps.
package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

// Run runs every conformance test as a subtest; each opens its own store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Accounts", testAccounts},
		{"APIKeys", testAPIKeys},
		{"Settings", testSettings},
		{"Users", testUsers},
		{"UserStatusAndLastSeen", testUserStatus},
		{"ListUsersByRole", testListUsersByRole},
		{"Conversations", testConversations},
		{"ConversationKeyConflict", testConversationKey},
		{"Members", testMembers},
		{"AppendSequential", testAppendSequential},
		{"AppendConcurrentOneConversation", testAppendConcurrentOne},
		{"AppendConcurrentManyConversations", testAppendConcurrentMany},
		{"AppendIdempotent", testAppendIdempotent},
		{"AppendIdempotentConcurrent", testAppendIdempotentConcurrent},
		{"AppendUnknownConversation", testAppendUnknownConversation},
		{"AppendCanceledContext", testAppendCanceled},
		{"CommittedCallback", testCommittedCallback},
		{"ListMessages", testListMessages},
		{"GetMessage", testGetMessage},
		{"EditDelete", testEditDelete},
		{"ListChangedMessages", testListChangedMessages},
		{"ReadSeq", testReadSeq},
		{"UnreadCount", testUnreadCount},
		{"ListConversations", testListConversations},
		{"ListConversationsInboxes", testListConversationsInboxes},
		{"ListConversationsPaging", testListConversationsPaging},
		{"Attachments", testAttachments},
		{"CrossAccountIsolation", testCrossAccount},
		{"Inboxes", testInboxes},
		{"InboxAddressRace", testInboxAddressRace},
		{"Visitors", testVisitors},
		{"Logins", testLogins},
		{"PushSubscriptions", testPushSubscriptions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// ---- helpers ----

func id(prefix string) string { return prefix + "_" + rand.Text()[:16] }

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func ctxT(t *testing.T) context.Context { return t.Context() }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
	if got.Location() != time.UTC {
		t.Fatalf("%s location = %v, want UTC", what, got.Location())
	}
}

func newAccount(t *testing.T, s store.Store) store.Account {
	t.Helper()
	a := store.Account{ID: id("acc"), Name: id("name"), CreatedAt: now()}
	must(t, s.CreateAccount(ctxT(t), a))
	return a
}

func newUser(t *testing.T, s store.Store, accountID, role string) store.User {
	t.Helper()
	u, err := s.UpsertUser(ctxT(t), store.User{
		ID: id("usr"), AccountID: accountID, Name: id("n"), DisplayName: "Someone", Role: role, CreatedAt: now(),
	})
	must(t, err)
	return u
}

func newConv(t *testing.T, s store.Store, accountID, kind, key string, members ...string) store.Conversation {
	t.Helper()
	c, err := s.CreateConversation(ctxT(t), store.Conversation{
		ID: id("cnv"), AccountID: accountID, Kind: kind, Key: key, Name: "c", CreatedAt: now(),
	}, members)
	must(t, err)
	return c
}

// fixture is an account with two users and a group conversation of both.
type fixture struct {
	acc  store.Account
	a, b store.User
	conv store.Conversation
}

func newFixture(t *testing.T, s store.Store) fixture {
	t.Helper()
	var f fixture
	f.acc = newAccount(t, s)
	f.a = newUser(t, s, f.acc.ID, protocol.RoleMember)
	f.b = newUser(t, s, f.acc.ID, protocol.RoleMember)
	f.conv = newConv(t, s, f.acc.ID, protocol.KindGroup, "", f.a.ID, f.b.ID)
	return f
}

func msg(convID, senderID, clientID, text string) store.Message {
	return store.Message{
		ID: id("msg"), ConversationID: convID, SenderID: senderID, ClientID: clientID,
		Type: protocol.TypeText, Text: text, CreatedAt: now(),
	}
}

func appendMsg(t *testing.T, s store.Store, m store.Message) store.Message {
	t.Helper()
	got, created, err := s.AppendMessage(ctxT(t), m, nil)
	must(t, err)
	if !created {
		t.Fatalf("append %s: created = false", m.ID)
	}
	return got
}

func seqs(ms []store.Message) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

func span(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// ---- accounts, keys, settings ----

func testAccounts(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := newAccount(t, s)
	got, err := s.GetAccount(ctx, a.ID)
	must(t, err)
	if got.ID != a.ID || got.Name != a.Name {
		t.Fatalf("GetAccount = %+v, want %+v", got, a)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, a.CreatedAt)

	_, err = s.GetAccount(ctx, id("missing"))
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.CreateAccount(ctx, store.Account{ID: a.ID, Name: id("other"), CreatedAt: now()}), store.ErrConflict)

	b := newAccount(t, s)
	all, err := s.ListAccounts(ctx)
	must(t, err)
	found := 0
	for _, x := range all {
		if x.ID == a.ID || x.ID == b.ID {
			found++
		}
	}
	if found != 2 {
		t.Fatalf("ListAccounts: found %d of the 2 created accounts in %d", found, len(all))
	}
}

func testAPIKeys(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := newAccount(t, s)
	revoked := now()
	k1 := store.APIKey{ID: id("key"), AccountID: a.ID, Secret: "s3cret", CreatedAt: now()}
	k2 := store.APIKey{ID: id("key"), AccountID: a.ID, Secret: "other", CreatedAt: now().Add(time.Second), RevokedAt: &revoked}
	must(t, s.CreateAPIKey(ctx, k1))
	must(t, s.CreateAPIKey(ctx, k2))
	wantErr(t, s.CreateAPIKey(ctx, k1), store.ErrConflict)

	got, err := s.GetAPIKey(ctx, k1.ID)
	must(t, err)
	if got.ID != k1.ID || got.AccountID != a.ID || got.Secret != "s3cret" || got.RevokedAt != nil {
		t.Fatalf("GetAPIKey = %+v, want %+v", got, k1)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, k1.CreatedAt)
	got, err = s.GetAPIKey(ctx, k2.ID)
	must(t, err)
	if got.RevokedAt == nil {
		t.Fatal("RevokedAt lost")
	}
	sameTime(t, "RevokedAt", *got.RevokedAt, revoked)

	_, err = s.GetAPIKey(ctx, id("missing"))
	wantErr(t, err, store.ErrNotFound)

	keys, err := s.ListAPIKeys(ctx, a.ID)
	must(t, err)
	if len(keys) != 2 || keys[0].ID != k1.ID || keys[1].ID != k2.ID {
		t.Fatalf("ListAPIKeys = %+v", keys)
	}
	other := newAccount(t, s)
	keys, err = s.ListAPIKeys(ctx, other.ID)
	must(t, err)
	if len(keys) != 0 {
		t.Fatalf("ListAPIKeys(other account) = %+v", keys)
	}
}

func testSettings(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	key := id("setting")
	_, err := s.GetSetting(ctx, key)
	wantErr(t, err, store.ErrNotFound)
	must(t, s.PutSetting(ctx, key, "one"))
	v, err := s.GetSetting(ctx, key)
	must(t, err)
	if v != "one" {
		t.Fatalf("GetSetting = %q", v)
	}
	must(t, s.PutSetting(ctx, key, "two"))
	if v, _ = s.GetSetting(ctx, key); v != "two" {
		t.Fatalf("GetSetting after overwrite = %q", v)
	}
	must(t, s.PutSetting(ctx, key, ""))
	if v, err = s.GetSetting(ctx, key); err != nil || v != "" {
		t.Fatalf("GetSetting of empty value = %q, %v", v, err)
	}
}

// ---- users ----

func testUsers(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := newAccount(t, s)
	in := store.User{ID: id("usr"), AccountID: a.ID, Name: "alice", DisplayName: "Alice", Role: protocol.RoleMember, CreatedAt: now()}
	u, err := s.UpsertUser(ctx, in)
	must(t, err)
	if u.ID != in.ID || u.Name != "alice" || u.DisplayName != "Alice" || u.Role != protocol.RoleMember || u.AccountID != a.ID {
		t.Fatalf("UpsertUser (create) = %+v", u)
	}
	sameTime(t, "CreatedAt", u.CreatedAt, in.CreatedAt)

	// Same name again with another id: the existing user, unchanged.
	again, err := s.UpsertUser(ctx, store.User{ID: id("usr"), AccountID: a.ID, Name: "alice", Role: protocol.RoleMember})
	must(t, err)
	if again.ID != in.ID || again.DisplayName != "Alice" {
		t.Fatalf("UpsertUser (existing) = %+v", again)
	}
	// Update role and display name.
	upd, err := s.UpsertUser(ctx, store.User{ID: id("usr"), AccountID: a.ID, Name: "alice", DisplayName: "Alice B.", Role: protocol.RoleAgent})
	must(t, err)
	if upd.ID != in.ID || upd.DisplayName != "Alice B." || upd.Role != protocol.RoleAgent {
		t.Fatalf("UpsertUser (update) = %+v", upd)
	}
	// Empty display name and role leave them alone.
	keep, err := s.UpsertUser(ctx, store.User{ID: id("usr"), AccountID: a.ID, Name: "alice"})
	must(t, err)
	if keep.DisplayName != "Alice B." || keep.Role != protocol.RoleAgent {
		t.Fatalf("UpsertUser (empty fields) = %+v", keep)
	}

	got, err := s.GetUser(ctx, a.ID, in.ID)
	must(t, err)
	if got.Name != "alice" || got.DisplayName != "Alice B." || got.Role != protocol.RoleAgent || got.Status != "" || got.LastSeen != nil {
		t.Fatalf("GetUser = %+v", got)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, in.CreatedAt)
	byName, err := s.GetUserByName(ctx, a.ID, "alice")
	must(t, err)
	if byName.ID != in.ID {
		t.Fatalf("GetUserByName = %+v", byName)
	}
	_, err = s.GetUser(ctx, a.ID, id("missing"))
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetUserByName(ctx, a.ID, "bob")
	wantErr(t, err, store.ErrNotFound)

	// The same name in another account is another user.
	b := newAccount(t, s)
	other, err := s.UpsertUser(ctx, store.User{ID: id("usr"), AccountID: b.ID, Name: "alice", Role: protocol.RoleVisitor})
	must(t, err)
	if other.ID == in.ID || other.AccountID != b.ID || other.Role != protocol.RoleVisitor {
		t.Fatalf("UpsertUser in another account = %+v", other)
	}
	if got, _ := s.GetUserByName(ctx, a.ID, "alice"); got.ID != in.ID || got.Role != protocol.RoleAgent {
		t.Fatalf("first account's alice changed: %+v", got)
	}

	// Concurrent upserts of one new name create exactly one user.
	name := id("n")
	var wg sync.WaitGroup
	ids := make([]string, 20)
	errs := make([]error, 20)
	for i := range ids {
		wg.Go(func() {
			u, err := s.UpsertUser(ctx, store.User{ID: id("usr"), AccountID: a.ID, Name: name, Role: protocol.RoleVisitor})
			ids[i], errs[i] = u.ID, err
		})
	}
	wg.Wait()
	for i := range ids {
		must(t, errs[i])
		if ids[i] != ids[0] {
			t.Fatalf("concurrent UpsertUser returned ids %v", ids)
		}
	}
}

func testUserStatus(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := newAccount(t, s)
	u := newUser(t, s, a.ID, protocol.RoleMember)
	must(t, s.SetUserStatus(ctx, a.ID, u.ID, protocol.StatusBusy))
	got, err := s.GetUser(ctx, a.ID, u.ID)
	must(t, err)
	if got.Status != protocol.StatusBusy {
		t.Fatalf("Status = %q", got.Status)
	}
	must(t, s.SetUserStatus(ctx, a.ID, u.ID, ""))
	if got, _ = s.GetUser(ctx, a.ID, u.ID); got.Status != "" {
		t.Fatalf("Status after clear = %q", got.Status)
	}
	seen := now()
	must(t, s.SetLastSeen(ctx, a.ID, u.ID, seen))
	got, err = s.GetUser(ctx, a.ID, u.ID)
	must(t, err)
	if got.LastSeen == nil {
		t.Fatal("LastSeen nil")
	}
	sameTime(t, "LastSeen", *got.LastSeen, seen)

	wantErr(t, s.SetUserStatus(ctx, a.ID, id("missing"), protocol.StatusAway), store.ErrNotFound)
	wantErr(t, s.SetLastSeen(ctx, a.ID, id("missing"), seen), store.ErrNotFound)
	b := newAccount(t, s)
	wantErr(t, s.SetUserStatus(ctx, b.ID, u.ID, protocol.StatusAway), store.ErrNotFound)
	wantErr(t, s.SetLastSeen(ctx, b.ID, u.ID, seen), store.ErrNotFound)
}

func testListUsersByRole(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := newAccount(t, s)
	owner := newUser(t, s, a.ID, protocol.RoleOwner)
	agent := newUser(t, s, a.ID, protocol.RoleAgent)
	newUser(t, s, a.ID, protocol.RoleVisitor)
	other := newAccount(t, s)
	newUser(t, s, other.ID, protocol.RoleAgent)

	got, err := s.ListUsersByRole(ctx, a.ID, protocol.RoleAgent, protocol.RoleOwner)
	must(t, err)
	var ids []string
	for _, u := range got {
		ids = append(ids, u.ID)
	}
	sort.Strings(ids)
	want := []string{owner.ID, agent.ID}
	sort.Strings(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("ListUsersByRole = %v, want %v", ids, want)
	}
	got, err = s.ListUsersByRole(ctx, a.ID, protocol.RoleMember)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("ListUsersByRole(member) = %+v", got)
	}
}

// ---- conversations ----

func testConversations(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := newAccount(t, s)
	u1 := newUser(t, s, a.ID, protocol.RoleMember)
	u2 := newUser(t, s, a.ID, protocol.RoleMember)
	in := store.Conversation{ID: id("cnv"), AccountID: a.ID, Kind: protocol.KindGroup, Name: "team", CreatedBy: u1.ID, CreatedAt: now()}
	c, err := s.CreateConversation(ctx, in, []string{u1.ID, u2.ID})
	must(t, err)
	if c.ID != in.ID || c.LastSeq != 0 || c.Kind != protocol.KindGroup {
		t.Fatalf("CreateConversation = %+v", c)
	}
	sameTime(t, "UpdatedAt", c.UpdatedAt, in.CreatedAt)

	got, err := s.GetConversation(ctx, a.ID, in.ID)
	must(t, err)
	if got.ID != in.ID || got.AccountID != a.ID || got.Kind != protocol.KindGroup || got.Name != "team" ||
		got.Key != "" || got.CreatedBy != u1.ID || got.LastSeq != 0 {
		t.Fatalf("GetConversation = %+v", got)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, in.CreatedAt)
	sameTime(t, "UpdatedAt", got.UpdatedAt, in.CreatedAt)

	_, err = s.GetConversation(ctx, a.ID, id("missing"))
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetConversationByKey(ctx, a.ID, id("missing"))
	wantErr(t, err, store.ErrNotFound)
	_, err = s.CreateConversation(ctx, in, nil)
	wantErr(t, err, store.ErrConflict)

	members, err := s.ListMembers(ctx, in.ID)
	must(t, err)
	want := []string{u1.ID, u2.ID}
	sort.Strings(members)
	sort.Strings(want)
	if !slices.Equal(members, want) {
		t.Fatalf("ListMembers = %v, want %v", members, want)
	}

	// LastSeq and UpdatedAt follow appended messages.
	m := msg(in.ID, u1.ID, "", "hi")
	m.CreatedAt = in.CreatedAt.Add(time.Minute)
	appendMsg(t, s, m)
	got, err = s.GetConversation(ctx, a.ID, in.ID)
	must(t, err)
	if got.LastSeq != 1 {
		t.Fatalf("LastSeq = %d", got.LastSeq)
	}
	sameTime(t, "UpdatedAt", got.UpdatedAt, m.CreatedAt)

	// A member that does not exist: an error, and nothing created.
	bad := store.Conversation{ID: id("cnv"), AccountID: a.ID, Kind: protocol.KindGroup, CreatedAt: now()}
	if _, err := s.CreateConversation(ctx, bad, []string{u1.ID, id("ghost")}); err == nil {
		t.Fatal("CreateConversation with an unknown member succeeded")
	}
	if _, err := s.GetConversation(ctx, a.ID, bad.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("failed CreateConversation left a conversation: %v", err)
	}
	if ids, _ := s.ListConversationIDs(ctx, u1.ID); slices.Contains(ids, bad.ID) {
		t.Fatal("failed CreateConversation left a member row")
	}
}

func testConversationKey(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := newAccount(t, s)
	u1 := newUser(t, s, a.ID, protocol.RoleMember)
	u2 := newUser(t, s, a.ID, protocol.RoleMember)
	key := u1.ID + ":" + u2.ID
	first := newConv(t, s, a.ID, protocol.KindDirect, key, u1.ID, u2.ID)
	got, err := s.GetConversationByKey(ctx, a.ID, key)
	must(t, err)
	if got.ID != first.ID || got.Key != key {
		t.Fatalf("GetConversationByKey = %+v", got)
	}

	second := store.Conversation{ID: id("cnv"), AccountID: a.ID, Kind: protocol.KindDirect, Key: key, CreatedAt: now()}
	ex, err := s.CreateConversation(ctx, second, []string{u1.ID, u2.ID})
	wantErr(t, err, store.ErrConflict)
	if ex.ID != first.ID {
		t.Fatalf("CreateConversation conflict returned %+v, want the existing %s", ex, first.ID)
	}
	_, err = s.GetConversation(ctx, a.ID, second.ID)
	wantErr(t, err, store.ErrNotFound)

	// The same key in another account is another conversation.
	b := newAccount(t, s)
	v := newUser(t, s, b.ID, protocol.RoleVisitor)
	newConv(t, s, b.ID, protocol.KindDirect, key, v.ID)
	_, err = s.GetConversationByKey(ctx, b.ID, key)
	must(t, err)

	// Empty keys are not unique.
	newConv(t, s, a.ID, protocol.KindGroup, "")
	newConv(t, s, a.ID, protocol.KindGroup, "")

	// Concurrent creations with one key: exactly one wins, the rest get it.
	key2 := id("visitor")
	var wg sync.WaitGroup
	var wins atomic.Int32
	results := make([]string, 16)
	for i := range results {
		wg.Go(func() {
			c, err := s.CreateConversation(ctx, store.Conversation{
				ID: id("cnv"), AccountID: a.ID, Kind: protocol.KindInbox, Key: key2, CreatedAt: now(),
			}, nil)
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrConflict):
			default:
				t.Error(err)
			}
			results[i] = c.ID
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent creations with one key succeeded, want 1", wins.Load())
	}
	for _, r := range results {
		if r != results[0] {
			t.Fatalf("concurrent creations returned different conversations: %v", results)
		}
	}
}

func testMembers(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := newAccount(t, s)
	u1 := newUser(t, s, a.ID, protocol.RoleMember)
	u2 := newUser(t, s, a.ID, protocol.RoleMember)
	c := newConv(t, s, a.ID, protocol.KindGroup, "", u1.ID)
	c2 := newConv(t, s, a.ID, protocol.KindGroup, "", u1.ID, u2.ID)

	ok, err := s.IsMember(ctx, c.ID, u2.ID)
	must(t, err)
	if ok {
		t.Fatal("IsMember before AddMember")
	}
	must(t, s.AddMember(ctx, c.ID, u2.ID))
	must(t, s.AddMember(ctx, c.ID, u2.ID)) // idempotent
	if ok, _ = s.IsMember(ctx, c.ID, u2.ID); !ok {
		t.Fatal("IsMember after AddMember = false")
	}
	members, err := s.ListMembers(ctx, c.ID)
	must(t, err)
	if len(members) != 2 {
		t.Fatalf("ListMembers = %v", members)
	}
	ids, err := s.ListConversationIDs(ctx, u2.ID)
	must(t, err)
	sort.Strings(ids)
	want := []string{c.ID, c2.ID}
	sort.Strings(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("ListConversationIDs = %v, want %v", ids, want)
	}

	must(t, s.RemoveMember(ctx, c.ID, u2.ID))
	wantErr(t, s.RemoveMember(ctx, c.ID, u2.ID), store.ErrNotFound)
	if ok, _ = s.IsMember(ctx, c.ID, u2.ID); ok {
		t.Fatal("IsMember after RemoveMember = true")
	}
	if ids, _ = s.ListConversationIDs(ctx, u2.ID); !slices.Equal(ids, []string{c2.ID}) {
		t.Fatalf("ListConversationIDs after remove = %v", ids)
	}
	wantErr(t, s.AddMember(ctx, id("missing"), u2.ID), store.ErrNotFound)
	if ids, _ := s.ListConversationIDs(ctx, id("nobody")); len(ids) != 0 {
		t.Fatalf("ListConversationIDs(nobody) = %v", ids)
	}
	if ms, _ := s.ListMembers(ctx, id("missing")); len(ms) != 0 {
		t.Fatalf("ListMembers(missing) = %v", ms)
	}
}

// ---- messages ----

func testAppendSequential(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	f := newFixture(t, s)
	for i := 1; i <= 5; i++ {
		in := msg(f.conv.ID, f.a.ID, "", fmt.Sprint("m", i))
		in.ReplyTo = "r"
		in.DurationMS = 42
		in.AttachmentID = "att"
		got := appendMsg(t, s, in)
		if got.Seq != int64(i) || got.ID != in.ID || got.Text != in.Text || got.ConversationID != f.conv.ID ||
			got.SenderID != f.a.ID || got.ReplyTo != "r" || got.DurationMS != 42 || got.AttachmentID != "att" ||
			got.EditedAt != nil || got.DeletedAt != nil {
			t.Fatalf("append %d = %+v", i, got)
		}
		sameTime(t, "CreatedAt", got.CreatedAt, in.CreatedAt)
		stored, err := s.GetMessage(ctx, f.conv.ID, in.ID)
		must(t, err)
		if stored.Seq != int64(i) || stored.Text != in.Text || stored.Type != protocol.TypeText || stored.ReplyTo != "r" ||
			stored.DurationMS != 42 || stored.AttachmentID != "att" || stored.ClientID != "" {
			t.Fatalf("GetMessage = %+v", stored)
		}
		sameTime(t, "CreatedAt", stored.CreatedAt, in.CreatedAt)
	}
	// Another conversation has its own sequence.
	c2 := newConv(t, s, f.acc.ID, protocol.KindGroup, "", f.a.ID)
	if got := appendMsg(t, s, msg(c2.ID, f.a.ID, "", "x")); got.Seq != 1 {
		t.Fatalf("first seq in a new conversation = %d", got.Seq)
	}
	// A duplicate message id is a conflict and does not use a seq.
	dup := msg(f.conv.ID, f.a.ID, "", "dup")
	appendMsg(t, s, dup)
	dup2 := dup
	dup2.ClientID = id("cl")
	_, _, err := s.AppendMessage(ctx, dup2, nil)
	wantErr(t, err, store.ErrConflict)
	if got := appendMsg(t, s, msg(f.conv.ID, f.a.ID, "", "after")); got.Seq != 7 {
		t.Fatalf("seq after a failed append = %d, want 7", got.Seq)
	}
}

// appendConcurrently sends n messages spread over convs from n goroutines
// and checks that every conversation's seqs are exactly 1..count.
func appendConcurrently(t *testing.T, s store.Store, sender string, convs []string, n int) {
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, created, err := s.AppendMessage(ctx, msg(convs[i%len(convs)], sender, id("cl"), "x"), nil)
			if err == nil && !created {
				err = errors.New("created = false")
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, c := range convs {
		want := n / len(convs)
		if i < n%len(convs) {
			want++
		}
		ms, err := s.ListMessages(ctx, c, 0, 0, 0)
		must(t, err)
		if !slices.Equal(seqs(ms), span(1, int64(want))) {
			t.Fatalf("conversation %d seqs = %v, want 1..%d", i, seqs(ms), want)
		}
		got, err := s.ListMessages(ctx, c, 0, 0, n)
		must(t, err)
		if len(got) != want {
			t.Fatalf("ListMessages limit %d = %d messages", n, len(got))
		}
	}
}

func testAppendConcurrentOne(t *testing.T, s store.Store) {
	f := newFixture(t, s)
	appendConcurrently(t, s, f.a.ID, []string{f.conv.ID}, 150)
	c, err := s.GetConversation(ctxT(t), f.acc.ID, f.conv.ID)
	must(t, err)
	if c.LastSeq != 150 {
		t.Fatalf("LastSeq = %d, want 150", c.LastSeq)
	}
}

func testAppendConcurrentMany(t *testing.T, s store.Store) {
	f := newFixture(t, s)
	convs := []string{f.conv.ID}
	for range 7 {
		convs = append(convs, newConv(t, s, f.acc.ID, protocol.KindGroup, "", f.a.ID).ID)
	}
	appendConcurrently(t, s, f.a.ID, convs, 203)
	for i, cid := range convs {
		c, err := s.GetConversation(ctxT(t), f.acc.ID, cid)
		must(t, err)
		want := int64(203 / len(convs))
		if i < 203%len(convs) {
			want++
		}
		if c.LastSeq != want {
			t.Fatalf("conversation %d LastSeq = %d, want %d", i, c.LastSeq, want)
		}
	}
}

func testAppendIdempotent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	f := newFixture(t, s)
	first := msg(f.conv.ID, f.a.ID, "client-1", "hello")
	got := appendMsg(t, s, first)
	appendMsg(t, s, msg(f.conv.ID, f.b.ID, "", "in between"))

	resend := msg(f.conv.ID, f.a.ID, "client-1", "hello again")
	again, created, err := s.AppendMessage(ctx, resend, func(store.Message) { t.Error("committed called for a duplicate") })
	must(t, err)
	if created || again.ID != first.ID || again.Seq != got.Seq || again.Text != "hello" {
		t.Fatalf("resend = %+v created=%v, want the first message", again, created)
	}
	c, _ := s.GetConversation(ctx, f.acc.ID, f.conv.ID)
	if c.LastSeq != 2 {
		t.Fatalf("LastSeq after resend = %d, want 2", c.LastSeq)
	}
	if _, err := s.GetMessage(ctx, f.conv.ID, resend.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("resend stored a second message: %v", err)
	}
	// The same client id from another sender, or in another conversation, is new.
	if m := appendMsg(t, s, msg(f.conv.ID, f.b.ID, "client-1", "b")); m.Seq != 3 {
		t.Fatalf("other sender seq = %d", m.Seq)
	}
	c2 := newConv(t, s, f.acc.ID, protocol.KindGroup, "", f.a.ID)
	if m := appendMsg(t, s, msg(c2.ID, f.a.ID, "client-1", "c2")); m.Seq != 1 {
		t.Fatalf("other conversation seq = %d", m.Seq)
	}
	// Empty client ids never deduplicate.
	appendMsg(t, s, msg(f.conv.ID, f.a.ID, "", "x"))
	appendMsg(t, s, msg(f.conv.ID, f.a.ID, "", "x"))
}

func testAppendIdempotentConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	f := newFixture(t, s)
	const n = 60
	var wg sync.WaitGroup
	var createdN, callbacks atomic.Int32
	type res struct {
		m       store.Message
		created bool
		err     error
	}
	results := make([]res, n)
	for i := range n {
		wg.Go(func() {
			m, created, err := s.AppendMessage(ctx, msg(f.conv.ID, f.a.ID, "same", fmt.Sprint(i)),
				func(store.Message) { callbacks.Add(1) })
			results[i] = res{m, created, err}
			if created {
				createdN.Add(1)
			}
		})
	}
	wg.Wait()
	if createdN.Load() != 1 || callbacks.Load() != 1 {
		t.Fatalf("created %d, callbacks %d; want exactly 1 each", createdN.Load(), callbacks.Load())
	}
	for _, r := range results {
		must(t, r.err)
		if r.m.ID != results[0].m.ID || r.m.Seq != 1 {
			t.Fatalf("results differ: %+v vs %+v", r.m, results[0].m)
		}
	}
	ms, err := s.ListMessages(ctx, f.conv.ID, 0, 0, 0)
	must(t, err)
	if len(ms) != 1 {
		t.Fatalf("%d messages stored, want 1", len(ms))
	}
}

func testAppendUnknownConversation(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	f := newFixture(t, s)
	_, _, err := s.AppendMessage(ctx, msg(id("missing"), f.a.ID, "", "x"), nil)
	wantErr(t, err, store.ErrNotFound)

	// Mixed with good appends (likely in one batch): only the bad ones fail.
	const n = 100
	var wg sync.WaitGroup
	var good, notFound atomic.Int32
	for i := range n {
		wg.Go(func() {
			conv := f.conv.ID
			if i%4 == 0 {
				conv = id("missing")
			}
			_, _, err := s.AppendMessage(ctx, msg(conv, f.a.ID, id("cl"), "x"), nil)
			switch {
			case err == nil && conv == f.conv.ID:
				good.Add(1)
			case errors.Is(err, store.ErrNotFound) && conv != f.conv.ID:
				notFound.Add(1)
			default:
				t.Errorf("append to %s: %v", conv, err)
			}
		})
	}
	wg.Wait()
	if good.Load() != 75 || notFound.Load() != 25 {
		t.Fatalf("good %d, not found %d; want 75, 25", good.Load(), notFound.Load())
	}
	ms, err := s.ListMessages(ctx, f.conv.ID, 0, 0, 0)
	must(t, err)
	if !slices.Equal(seqs(ms), span(1, 75)) {
		t.Fatalf("seqs = %v", seqs(ms))
	}
}

func testAppendCanceled(t *testing.T, s store.Store) {
	f := newFixture(t, s)
	ctx, cancel := context.WithCancel(ctxT(t))
	cancel()
	m := msg(f.conv.ID, f.a.ID, "", "x")
	_, _, err := s.AppendMessage(ctx, m, func(store.Message) { t.Error("committed called for a canceled append") })
	wantErr(t, err, context.Canceled)
	if _, err := s.GetMessage(ctxT(t), f.conv.ID, m.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("canceled append was stored: %v", err)
	}
	if got := appendMsg(t, s, msg(f.conv.ID, f.a.ID, "", "y")); got.Seq != 1 {
		t.Fatalf("seq after canceled append = %d", got.Seq)
	}
}

func testCommittedCallback(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	f := newFixture(t, s)
	c2 := newConv(t, s, f.acc.ID, protocol.KindGroup, "", f.a.ID)
	convs := []string{f.conv.ID, c2.ID}
	var mu sync.Mutex
	seen := map[string][]int64{}
	calls := map[string]int{}
	const n = 120
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var called atomic.Bool
			clientID := fmt.Sprint("c", i%(n/2)) // every client id twice
			m, created, err := s.AppendMessage(ctx, msg(convs[i%2], f.a.ID, clientID, "x"), func(m store.Message) {
				called.Store(true)
				mu.Lock()
				seen[m.ConversationID] = append(seen[m.ConversationID], m.Seq)
				calls[m.ID]++
				mu.Unlock()
			})
			if err != nil {
				t.Error(err)
				return
			}
			if created != called.Load() {
				t.Errorf("created=%v but committed called=%v before return", created, called.Load())
			}
			_ = m
		})
	}
	wg.Wait()
	total := 0
	for conv, got := range seen {
		total += len(got)
		if !slices.Equal(got, span(1, int64(len(got)))) {
			t.Fatalf("conversation %s: committed seqs %v, want ascending 1..%d", conv, got, len(got))
		}
	}
	// i%2 and i%(n/2) make every (conversation, client id) pair appear twice.
	if total != n/2 {
		t.Fatalf("committed called %d times, want %d", total, n/2)
	}
	for mid, c := range calls {
		if c != 1 {
			t.Fatalf("committed called %d times for %s", c, mid)
		}
	}
}

func testListMessages(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	f := newFixture(t, s)
	for i := range 20 {
		appendMsg(t, s, msg(f.conv.ID, f.a.ID, "", fmt.Sprint(i+1)))
	}
	cases := []struct {
		name                 string
		before, after, limit int64
		want                 []int64
	}{
		{"all", 0, 0, 0, span(1, 20)},
		{"oldest", 0, 0, 5, span(1, 5)},
		{"after", 0, 15, 0, span(16, 20)},
		{"after limit", 0, 5, 3, span(6, 8)},
		{"before newest", 11, 0, 4, span(7, 10)},
		{"before all", 11, 0, 0, span(1, 10)},
		{"before limit larger", 4, 0, 10, span(1, 3)},
		{"between", 10, 5, 0, span(6, 9)},
		{"between oldest", 10, 2, 3, span(3, 5)},
		{"after end", 0, 20, 10, nil},
		{"before start", 1, 0, 10, nil},
		{"before beyond", 100, 0, 2, span(19, 20)},
	}
	for _, tc := range cases {
		ms, err := s.ListMessages(ctx, f.conv.ID, tc.before, tc.after, int(tc.limit))
		must(t, err)
		if !slices.Equal(seqs(ms), tc.want) {
			t.Errorf("%s: ListMessages(before=%d, after=%d, limit=%d) = %v, want %v",
				tc.name, tc.before, tc.after, tc.limit, seqs(ms), tc.want)
		}
		for _, m := range ms {
			if m.Text != fmt.Sprint(m.Seq) || m.ConversationID != f.conv.ID {
				t.Fatalf("message %d = %+v", m.Seq, m)
			}
		}
	}
	ms, err := s.ListMessages(ctx, id("missing"), 0, 0, 10)
	must(t, err)
	if len(ms) != 0 {
		t.Fatalf("ListMessages(missing) = %v", ms)
	}
}

func testGetMessage(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	f := newFixture(t, s)
	m := appendMsg(t, s, msg(f.conv.ID, f.a.ID, "cid", "x"))
	got, err := s.GetMessage(ctx, f.conv.ID, m.ID)
	must(t, err)
	if got.ClientID != "cid" || got.Seq != 1 {
		t.Fatalf("GetMessage = %+v", got)
	}
	other := newConv(t, s, f.acc.ID, protocol.KindGroup, "", f.a.ID)
	_, err = s.GetMessage(ctx, other.ID, m.ID)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetMessage(ctx, f.conv.ID, id("missing"))
	wantErr(t, err, store.ErrNotFound)
}

func testListChangedMessages(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	f := newFixture(t, s)
	var ms []store.Message
	for i := range 5 {
		ms = append(ms, appendMsg(t, s, msg(f.conv.ID, f.a.ID, "", fmt.Sprint("m", i))))
	}
	t0 := now()
	if got, err := s.ListChangedMessages(ctx, f.conv.ID, t0.Add(-time.Hour), 5, 100); err != nil || len(got) != 0 {
		t.Fatalf("untouched messages listed as changed: %v %v", got, err)
	}
	_, err := s.EditMessage(ctx, f.conv.ID, ms[3].ID, "edited", t0.Add(time.Second))
	must(t, err)
	_, err = s.DeleteMessage(ctx, f.conv.ID, ms[1].ID, t0.Add(2*time.Second))
	must(t, err)
	_, err = s.EditMessage(ctx, f.conv.ID, ms[4].ID, "late", t0.Add(3*time.Second))
	must(t, err)

	got, err := s.ListChangedMessages(ctx, f.conv.ID, t0, 5, 100)
	must(t, err)
	if !slices.Equal(seqs(got), []int64{2, 4, 5}) || got[0].DeletedAt == nil || got[1].Text != "edited" {
		t.Fatalf("changed since t0 = %+v", got)
	}
	// Only changes after since, only seqs up to maxSeq, at most limit.
	got, _ = s.ListChangedMessages(ctx, f.conv.ID, t0.Add(1500*time.Millisecond), 5, 100)
	if !slices.Equal(seqs(got), []int64{2, 5}) {
		t.Fatalf("changed since t0+1.5s = %v", seqs(got))
	}
	got, _ = s.ListChangedMessages(ctx, f.conv.ID, t0, 4, 100)
	if !slices.Equal(seqs(got), []int64{2, 4}) {
		t.Fatalf("changed up to seq 4 = %v", seqs(got))
	}
	got, _ = s.ListChangedMessages(ctx, f.conv.ID, t0, 5, 1)
	if !slices.Equal(seqs(got), []int64{2}) {
		t.Fatalf("limit 1 = %v", seqs(got))
	}
	// Deleting again does not move the change time.
	_, err = s.DeleteMessage(ctx, f.conv.ID, ms[1].ID, t0.Add(10*time.Second))
	must(t, err)
	got, _ = s.ListChangedMessages(ctx, f.conv.ID, t0.Add(5*time.Second), 5, 100)
	if len(got) != 0 {
		t.Fatalf("a second delete counted as a change: %v", seqs(got))
	}
}

func testEditDelete(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	f := newFixture(t, s)
	in := msg(f.conv.ID, f.a.ID, "", "original")
	in.AttachmentID = "att"
	in.DurationMS = 1500
	in.Type = protocol.TypeVoice
	m := appendMsg(t, s, in)
	appendMsg(t, s, msg(f.conv.ID, f.a.ID, "", "second"))

	at := now()
	ed, err := s.EditMessage(ctx, f.conv.ID, m.ID, "edited", at)
	must(t, err)
	if ed.Text != "edited" || ed.EditedAt == nil || ed.Seq != 1 || ed.DeletedAt != nil || ed.AttachmentID != "att" {
		t.Fatalf("EditMessage = %+v", ed)
	}
	sameTime(t, "EditedAt", *ed.EditedAt, at)
	got, _ := s.GetMessage(ctx, f.conv.ID, m.ID)
	if got.Text != "edited" || got.EditedAt == nil {
		t.Fatalf("after edit GetMessage = %+v", got)
	}
	_, err = s.EditMessage(ctx, f.conv.ID, id("missing"), "x", at)
	wantErr(t, err, store.ErrNotFound)
	other := newConv(t, s, f.acc.ID, protocol.KindGroup, "", f.a.ID)
	_, err = s.EditMessage(ctx, other.ID, m.ID, "x", at)
	wantErr(t, err, store.ErrNotFound)

	del := now().Add(time.Second)
	d, err := s.DeleteMessage(ctx, f.conv.ID, m.ID, del)
	must(t, err)
	if d.Seq != 1 || d.Text != "" || d.AttachmentID != "" || d.DurationMS != 0 || d.DeletedAt == nil || d.ID != m.ID {
		t.Fatalf("DeleteMessage = %+v", d)
	}
	sameTime(t, "DeletedAt", *d.DeletedAt, del)
	ms, err := s.ListMessages(ctx, f.conv.ID, 0, 0, 0)
	must(t, err)
	if !slices.Equal(seqs(ms), []int64{1, 2}) || ms[0].DeletedAt == nil || ms[0].Text != "" {
		t.Fatalf("tombstone not kept in ListMessages: %+v", ms)
	}
	_, err = s.DeleteMessage(ctx, f.conv.ID, id("missing"), del)
	wantErr(t, err, store.ErrNotFound)
	// A tombstone stays erased.
	if _, err := s.EditMessage(ctx, f.conv.ID, m.ID, "resurrected", now()); err == nil {
		t.Fatal("EditMessage of a deleted message succeeded")
	}
	if got, _ := s.GetMessage(ctx, f.conv.ID, m.ID); got.Text != "" {
		t.Fatalf("deleted message text = %q", got.Text)
	}
	// The next message still gets the next seq.
	if got := appendMsg(t, s, msg(f.conv.ID, f.a.ID, "", "third")); got.Seq != 3 {
		t.Fatalf("seq after delete = %d", got.Seq)
	}
}

// ---- read state ----

func testReadSeq(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	f := newFixture(t, s)
	rs, err := s.GetReadSeq(ctx, f.conv.ID, f.a.ID)
	must(t, err)
	if rs != 0 {
		t.Fatalf("initial read seq = %d", rs)
	}
	steps := []struct{ set, want int64 }{{3, 3}, {2, 3}, {3, 3}, {7, 7}, {0, 7}}
	for _, st := range steps {
		got, err := s.SetReadSeq(ctx, f.conv.ID, f.a.ID, st.set)
		must(t, err)
		if got != st.want {
			t.Fatalf("SetReadSeq(%d) = %d, want %d", st.set, got, st.want)
		}
		if rs, _ := s.GetReadSeq(ctx, f.conv.ID, f.a.ID); rs != st.want {
			t.Fatalf("GetReadSeq = %d, want %d", rs, st.want)
		}
	}
	if rs, _ := s.GetReadSeq(ctx, f.conv.ID, f.b.ID); rs != 0 {
		t.Fatalf("other user's read seq = %d", rs)
	}
	// A non-member (an agent reading an inbox) has a read position too.
	agent := newUser(t, s, f.acc.ID, protocol.RoleAgent)
	got, err := s.SetReadSeq(ctx, f.conv.ID, agent.ID, 4)
	must(t, err)
	if got != 4 {
		t.Fatalf("non-member SetReadSeq = %d", got)
	}
	if rs, _ := s.GetReadSeq(ctx, f.conv.ID, agent.ID); rs != 4 {
		t.Fatalf("non-member GetReadSeq = %d", rs)
	}
	// Concurrent raises keep the maximum.
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			if _, err := s.SetReadSeq(ctx, f.conv.ID, f.b.ID, int64(i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if rs, _ := s.GetReadSeq(ctx, f.conv.ID, f.b.ID); rs != 29 {
		t.Fatalf("after concurrent raises read seq = %d, want 29", rs)
	}
	all, err := s.ListReadSeqs(ctx, f.conv.ID)
	must(t, err)
	if len(all) != 3 || all[f.a.ID] != 7 || all[f.b.ID] != 29 || all[agent.ID] != 4 {
		t.Fatalf("ListReadSeqs = %v", all)
	}
	if none, err := s.ListReadSeqs(ctx, "cnv_none"); err != nil || len(none) != 0 {
		t.Fatalf("ListReadSeqs of an unknown conversation = %v, %v", none, err)
	}
	members, reads, err := s.ListMembersAndReads(ctx, []string{f.conv.ID, "cnv_none"})
	must(t, err)
	if m := members[f.conv.ID]; len(m) != 2 || !slices.Contains(m, f.a.ID) || !slices.Contains(m, f.b.ID) || len(members["cnv_none"]) != 0 {
		t.Fatalf("ListMembersAndReads members = %v", members)
	}
	if !maps.Equal(reads[f.conv.ID], all) || len(reads["cnv_none"]) != 0 {
		t.Fatalf("ListMembersAndReads reads = %v, want %v", reads, all)
	}
}

func testUnreadCount(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	f := newFixture(t, s)
	var fromB []store.Message
	for i := range 6 {
		sender := f.a.ID
		if i%2 == 1 {
			sender = f.b.ID
		}
		m := appendMsg(t, s, msg(f.conv.ID, sender, "", "x"))
		if sender == f.b.ID {
			fromB = append(fromB, m) // seqs 2, 4, 6
		}
	}
	count := func(user string, after int64) int64 {
		n, err := s.UnreadCount(ctx, f.conv.ID, user, after)
		must(t, err)
		return n
	}
	if n := count(f.a.ID, 0); n != 3 {
		t.Fatalf("UnreadCount(a, 0) = %d, want 3", n)
	}
	if n := count(f.a.ID, 2); n != 2 {
		t.Fatalf("UnreadCount(a, 2) = %d, want 2", n)
	}
	if n := count(f.b.ID, 0); n != 3 {
		t.Fatalf("UnreadCount(b, 0) = %d, want 3", n)
	}
	if n := count(f.a.ID, 6); n != 0 {
		t.Fatalf("UnreadCount(a, 6) = %d, want 0", n)
	}
	_, err := s.DeleteMessage(ctx, f.conv.ID, fromB[2].ID, now())
	must(t, err)
	if n := count(f.a.ID, 2); n != 1 {
		t.Fatalf("UnreadCount after delete = %d, want 1", n)
	}
	if n := count(id("outsider"), 0); n != 5 {
		t.Fatalf("UnreadCount(outsider) = %d, want 5", n)
	}
}

func find(list []store.ConversationSummary, id string) *store.ConversationSummary {
	for i := range list {
		if list[i].ID == id {
			return &list[i]
		}
	}
	return nil
}

func testListConversations(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	acc := newAccount(t, s)
	a := newUser(t, s, acc.ID, protocol.RoleMember)
	b := newUser(t, s, acc.ID, protocol.RoleMember)
	c := newUser(t, s, acc.ID, protocol.RoleMember)
	base := now().Add(-time.Hour)
	mk := func(members ...string) store.Conversation {
		cv, err := s.CreateConversation(ctx, store.Conversation{
			ID: id("cnv"), AccountID: acc.ID, Kind: protocol.KindGroup, CreatedAt: base,
		}, members)
		must(t, err)
		return cv
	}
	empty := mk(a.ID)
	busy := mk(a.ID, b.ID, c.ID)
	quiet := mk(a.ID, b.ID)
	notMine := mk(b.ID)

	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	send := func(conv, sender string, min int) store.Message {
		m := msg(conv, sender, "", fmt.Sprint("at ", min))
		m.CreatedAt = at(min)
		return appendMsg(t, s, m)
	}
	send(quiet.ID, b.ID, 1)
	send(busy.ID, a.ID, 2)
	send(busy.ID, b.ID, 3)
	send(busy.ID, c.ID, 4)
	last := send(busy.ID, b.ID, 5)
	send(notMine.ID, b.ID, 6)
	_, err := s.SetReadSeq(ctx, busy.ID, a.ID, 2)
	must(t, err)

	list, err := s.ListConversations(ctx, acc.ID, a.ID, false, time.Time{}, 0)
	must(t, err)
	var ids []string
	for _, x := range list {
		ids = append(ids, x.ID)
	}
	if want := []string{busy.ID, quiet.ID, empty.ID}; !slices.Equal(ids, want) {
		t.Fatalf("ListConversations order = %v, want %v", ids, want)
	}
	bs := list[0]
	if bs.MemberCount != 3 || bs.ReadSeq != 2 || bs.Unread != 2 || bs.LastSeq != 4 {
		t.Fatalf("busy summary = %+v", bs)
	}
	sameTime(t, "UpdatedAt", bs.UpdatedAt, at(5))
	if bs.LastMessage == nil || bs.LastMessage.ID != last.ID || bs.LastMessage.Seq != 4 || bs.LastMessage.Text != "at 5" ||
		bs.LastMessage.SenderID != b.ID || bs.LastMessage.ConversationID != busy.ID {
		t.Fatalf("busy LastMessage = %+v", bs.LastMessage)
	}
	sameTime(t, "LastMessage.CreatedAt", bs.LastMessage.CreatedAt, at(5))
	if q := list[1]; q.MemberCount != 2 || q.ReadSeq != 0 || q.Unread != 1 || q.LastMessage == nil {
		t.Fatalf("quiet summary = %+v", q)
	}
	if e := list[2]; e.MemberCount != 1 || e.Unread != 0 || e.LastMessage != nil || e.LastSeq != 0 {
		t.Fatalf("empty summary = %+v", e)
	}
	sameTime(t, "empty UpdatedAt", list[2].UpdatedAt, base)

	// Own messages and deleted ones are not unread; a deleted last message
	// is still the last message, as a tombstone.
	send(busy.ID, a.ID, 7)
	_, err = s.DeleteMessage(ctx, busy.ID, last.ID, now())
	must(t, err)
	list, err = s.ListConversations(ctx, acc.ID, a.ID, false, time.Time{}, 1)
	must(t, err)
	if len(list) != 1 || list[0].ID != busy.ID || list[0].Unread != 1 || list[0].LastMessage.SenderID != a.ID {
		t.Fatalf("after own message: %+v", list)
	}
	must(t, s.RemoveMember(ctx, quiet.ID, a.ID))
	list, err = s.ListConversations(ctx, acc.ID, a.ID, false, time.Time{}, 0)
	must(t, err)
	if len(list) != 2 || find(list, quiet.ID) != nil {
		t.Fatalf("after RemoveMember: %+v", list)
	}
	// Another user sees their own read state.
	list, err = s.ListConversations(ctx, acc.ID, c.ID, false, time.Time{}, 0)
	must(t, err)
	if len(list) != 1 || list[0].ID != busy.ID || list[0].ReadSeq != 0 || list[0].Unread != 3 {
		t.Fatalf("c's list = %+v", list)
	}
	// The account id bounds the list.
	other := newAccount(t, s)
	list, err = s.ListConversations(ctx, other.ID, a.ID, true, time.Time{}, 0)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("ListConversations in another account = %+v", list)
	}
}

func testListConversationsInboxes(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	acc := newAccount(t, s)
	agent := newUser(t, s, acc.ID, protocol.RoleAgent)
	v1 := newUser(t, s, acc.ID, protocol.RoleVisitor)
	v2 := newUser(t, s, acc.ID, protocol.RoleVisitor)
	in1 := newConv(t, s, acc.ID, protocol.KindInbox, v1.ID, v1.ID)
	in2 := newConv(t, s, acc.ID, protocol.KindInbox, v2.ID, v2.ID, agent.ID) // agent is also a member
	group := newConv(t, s, acc.ID, protocol.KindGroup, "", agent.ID)
	newConv(t, s, acc.ID, protocol.KindGroup, "", v1.ID) // neither inbox nor the agent's
	other := newAccount(t, s)
	ov := newUser(t, s, other.ID, protocol.RoleVisitor)
	newConv(t, s, other.ID, protocol.KindInbox, ov.ID, ov.ID)

	appendMsg(t, s, msg(in1.ID, v1.ID, "", "help"))
	appendMsg(t, s, msg(in1.ID, v1.ID, "", "please"))
	_, err := s.SetReadSeq(ctx, in1.ID, agent.ID, 1)
	must(t, err)

	list, err := s.ListConversations(ctx, acc.ID, agent.ID, true, time.Time{}, 0)
	must(t, err)
	if len(list) != 3 || find(list, in1.ID) == nil || find(list, in2.ID) == nil || find(list, group.ID) == nil {
		t.Fatalf("with inboxes: %+v", list)
	}
	if list[0].ID != in1.ID {
		t.Fatalf("newest first: got %s first, want %s", list[0].ID, in1.ID)
	}
	if x := find(list, in1.ID); x.ReadSeq != 1 || x.Unread != 1 || x.MemberCount != 1 || x.LastMessage == nil || x.LastMessage.Text != "please" {
		t.Fatalf("inbox summary = %+v", x)
	}
	if x := find(list, in2.ID); x.MemberCount != 2 {
		t.Fatalf("in2 summary = %+v", x)
	}
	list, err = s.ListConversations(ctx, acc.ID, agent.ID, false, time.Time{}, 0)
	must(t, err)
	if len(list) != 2 || find(list, in1.ID) != nil {
		t.Fatalf("without inboxes: %+v", list)
	}
}

func testListConversationsPaging(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	acc := newAccount(t, s)
	u := newUser(t, s, acc.ID, protocol.RoleMember)
	base := now().Add(-time.Hour)
	var want []string // newest first
	for i := range 7 {
		c, err := s.CreateConversation(ctx, store.Conversation{
			ID: id("cnv"), AccountID: acc.ID, Kind: protocol.KindGroup, CreatedAt: base.Add(time.Duration(i) * time.Second),
		}, []string{u.ID})
		must(t, err)
		want = append([]string{c.ID}, want...)
	}
	var got []string
	before := time.Time{}
	for range 10 {
		page, err := s.ListConversations(ctx, acc.ID, u.ID, false, before, 3)
		must(t, err)
		if len(page) > 3 {
			t.Fatalf("page of %d > limit 3", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, c := range page {
			got = append(got, c.ID)
		}
		before = page[len(page)-1].UpdatedAt
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged = %v, want %v", got, want)
	}
}

// ---- attachments ----

func testAttachments(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	f := newFixture(t, s)
	a := store.Attachment{
		ID: id("att"), AccountID: f.acc.ID, ConversationID: f.conv.ID, UploaderID: f.a.ID, Kind: "image",
		ContentType: "image/png", Size: 1234, SHA256: "ab12", Name: "cat.png", CreatedAt: now(),
	}
	must(t, s.CreateAttachment(ctx, a))
	wantErr(t, s.CreateAttachment(ctx, a), store.ErrConflict)
	got, err := s.GetAttachment(ctx, f.acc.ID, a.ID)
	must(t, err)
	sameTime(t, "CreatedAt", got.CreatedAt, a.CreatedAt)
	got.CreatedAt = a.CreatedAt
	if got != a {
		t.Fatalf("GetAttachment = %+v, want %+v", got, a)
	}
	_, err = s.GetAttachment(ctx, f.acc.ID, id("missing"))
	wantErr(t, err, store.ErrNotFound)
}

// ---- isolation ----

func testCrossAccount(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	f := newFixture(t, s)
	other := newAccount(t, s)
	att := store.Attachment{ID: id("att"), AccountID: f.acc.ID, Kind: "file", SHA256: "00", CreatedAt: now()}
	must(t, s.CreateAttachment(ctx, att))

	_, err := s.GetConversation(ctx, other.ID, f.conv.ID)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetUser(ctx, other.ID, f.a.ID)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetUserByName(ctx, other.ID, f.a.Name)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetAttachment(ctx, other.ID, att.ID)
	wantErr(t, err, store.ErrNotFound)
	users, err := s.ListUsersByRole(ctx, other.ID, protocol.RoleMember)
	must(t, err)
	if len(users) != 0 {
		t.Fatalf("ListUsersByRole(other account) = %+v", users)
	}
	list, err := s.ListConversations(ctx, other.ID, f.a.ID, true, time.Time{}, 0)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("ListConversations(other account) = %+v", list)
	}
}

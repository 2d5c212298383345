package copydata

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/postgres"
	"github.com/parley-chat/parley/internal/store/sqlite"
	"github.com/parley-chat/parley/protocol"
)

const (
	nAccounts     = 2
	convsPerAcct  = 4
	msgsPerConv   = 450 // several history pages (pageSize) each
	usersPerAcct  = 5
	pageSize      = 100
	testBatchRows = 700 // COPY batches end inside tables
)

// installation is what fill put in the source, for the comparisons.
type installation struct {
	accounts []string
	users    map[string][]string // account → user ids
	convs    map[string][]string // account → conversation ids
	keys     []store.APIKey
	atts     []store.Attachment
	logins   []string
}

var t0 = time.Unix(1_780_000_000, 123456789).UTC()

// fill writes a small but complete installation through the store
// interface: every table gets rows, and every conversation several pages
// of messages with edits, deletions, idempotency keys and read positions.
func fill(t *testing.T, s store.Store) installation {
	t.Helper()
	ctx := context.Background()
	in := installation{users: map[string][]string{}, convs: map[string][]string{}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for a := range nAccounts {
		acc := fmt.Sprintf("acc_%d", a)
		in.accounts = append(in.accounts, acc)
		must(s.CreateAccount(ctx, store.Account{ID: acc, Name: "Account " + acc, CreatedAt: t0}))
		revoked := t0.Add(time.Hour)
		for k := range 2 {
			key := store.APIKey{ID: fmt.Sprintf("key_%d_%d", a, k), AccountID: acc, Secret: "hash" + acc, CreatedAt: t0.Add(time.Duration(k) * time.Second)}
			if k == 1 {
				key.RevokedAt = &revoked
			}
			must(s.CreateAPIKey(ctx, key))
			in.keys = append(in.keys, key)
		}
		for u := range usersPerAcct {
			role := protocol.RoleMember
			if u == 0 {
				role = protocol.RoleOwner
			}
			usr, err := s.UpsertUser(ctx, store.User{ID: fmt.Sprintf("usr_%d_%d", a, u), AccountID: acc, Name: fmt.Sprintf("user%d", u),
				DisplayName: fmt.Sprintf("User %d", u), Role: role, CreatedAt: t0})
			must(err)
			in.users[acc] = append(in.users[acc], usr.ID)
		}
		users := in.users[acc]
		must(s.SetUserStatus(ctx, acc, users[1], "away"))
		must(s.SetLastSeen(ctx, acc, users[2], t0.Add(time.Minute)))
		must(s.CreateInbox(ctx, store.Inbox{AccountID: acc, Address: fmt.Sprintf("Addr%04d", a), Name: "Help", Welcome: "Hi",
			Color: "#112233", Position: "right", CreatedAt: t0, UpdatedAt: t0}))
		must(s.PutVisitor(ctx, store.Visitor{UserID: users[4], AccountID: acc, PageURL: "https://site/p", Timezone: "Europe/Sofia",
			Identified: true, FirstSeen: t0, LastSeen: t0.Add(time.Second)}))
		login := fmt.Sprintf("owner%d@example.com", a)
		must(s.PutLogin(ctx, store.Login{Login: login, UserID: users[0], AccountID: acc, PasswordHash: "$argon2id$x", CreatedAt: t0, UpdatedAt: t0}))
		in.logins = append(in.logins, login)
		must(s.PutPushSubscription(ctx, store.PushSubscription{Endpoint: "https://push.example/" + acc, AccountID: acc, UserID: users[0],
			P256dh: "pk", Auth: "au", CreatedAt: t0}))
		for c := range convsPerAcct {
			kind, key := protocol.KindGroup, ""
			if c == 0 {
				kind, key = protocol.KindDirect, "dm:"+users[0]+":"+users[1]
			}
			conv, err := s.CreateConversation(ctx, store.Conversation{ID: fmt.Sprintf("cnv_%d_%d", a, c), AccountID: acc, Kind: kind,
				Name: fmt.Sprintf("Conv %d", c), Key: key, CreatedBy: users[0], CreatedAt: t0, UpdatedAt: t0}, users[:2+c])
			must(err)
			in.convs[acc] = append(in.convs[acc], conv.ID)
			att := store.Attachment{ID: "att_" + conv.ID, AccountID: acc, ConversationID: conv.ID, UploaderID: users[0], Kind: "image",
				ContentType: "image/png", Size: 1234, SHA256: strings.Repeat("ab", 32), Name: "p.png", CreatedAt: t0}
			must(s.CreateAttachment(ctx, att))
			in.atts = append(in.atts, att)
		}
	}
	must(s.PutSetting(ctx, "secret", "the-server-secret"))
	must(s.PutSetting(ctx, "public_url", "https://chat.example"))

	// Messages: one writer per conversation, so the store batches commits.
	var wg sync.WaitGroup
	for _, acc := range in.accounts {
		for ci, conv := range in.convs[acc] {
			wg.Go(func() {
				senders := in.users[acc][:2+ci]
				for i := range msgsPerConv {
					m := store.Message{ID: fmt.Sprintf("msg_%s_%d", conv, i), ConversationID: conv, SenderID: senders[i%len(senders)],
						ClientID: fmt.Sprintf("c%d", i), Type: protocol.TypeText, Text: fmt.Sprintf("message %d", i),
						CreatedAt: t0.Add(time.Duration(i) * time.Millisecond)}
					if i%50 == 7 {
						m.AttachmentID, m.Type = "att_"+conv, protocol.TypeImage
					}
					if _, _, err := s.AppendMessage(ctx, m, nil); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, acc := range in.accounts {
		for _, conv := range in.convs[acc] {
			_, err := s.EditMessage(ctx, conv, fmt.Sprintf("msg_%s_%d", conv, 10), "edited", t0.Add(time.Hour))
			must(err)
			_, err = s.DeleteMessage(ctx, conv, fmt.Sprintf("msg_%s_%d", conv, 11), t0.Add(2*time.Hour))
			must(err)
			_, err = s.SetReadSeq(ctx, conv, in.users[acc][1], 200)
			must(err)
			_, err = s.SetReadSeq(ctx, conv, in.users[acc][3], msgsPerConv) // a reader who is not a member
			must(err)
		}
	}
	return in
}

func sqliteSource(t *testing.T) (string, installation) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "parley.db")
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := fill(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, in
}

func openBoth(t *testing.T, path, dbURL string) (src, dst store.Store) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	d, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return s, d
}

// same calls read on both stores and fails unless the answers are equal.
func same[T any](t *testing.T, what string, src, dst store.Store, read func(store.Store) (T, error)) T {
	t.Helper()
	want, err := read(src)
	if err != nil {
		t.Fatalf("%s on SQLite: %v", what, err)
	}
	got, err := read(dst)
	if err != nil {
		t.Fatalf("%s on PostgreSQL: %v", what, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s differs:\nPostgreSQL %+v\nSQLite     %+v", what, got, want)
	}
	return want
}

// TestCopyToPostgres: after the copy the PostgreSQL store answers every
// read a client or the console makes exactly as the SQLite store did, and
// the next append continues each conversation's seqs.
func TestCopyToPostgres(t *testing.T) {
	ctx := context.Background()
	path, in := sqliteSource(t)
	dbURL := pgtest.Database(t)
	sum, err := Copy(ctx, path, dbURL, Options{BatchRows: testBatchRows})
	if err != nil {
		t.Fatal(err)
	}
	wantMsgs := int64(nAccounts * convsPerAcct * msgsPerConv)
	if sum.Messages != wantMsgs || sum.Conversations != nAccounts*convsPerAcct || len(sum.Tables) != 13 {
		t.Fatalf("summary %+v, want %d messages in %d conversations over 13 tables", sum, wantMsgs, nAccounts*convsPerAcct)
	}
	for _, tc := range sum.Tables {
		if tc.Rows == 0 {
			t.Errorf("table %s: no rows copied (fill should cover every table)", tc.Table)
		}
	}
	var out strings.Builder
	sum.Print(&out)
	if !strings.Contains(out.String(), fmt.Sprintf("(%d messages) match", wantMsgs)) {
		t.Errorf("summary printed %q", out.String())
	}

	src, dst := openBoth(t, path, dbURL)
	same(t, "ListAccounts", src, dst, func(s store.Store) ([]store.Account, error) { return s.ListAccounts(ctx) })
	for _, k := range in.keys {
		same(t, "GetAPIKey", src, dst, func(s store.Store) (store.APIKey, error) { return s.GetAPIKey(ctx, k.ID) })
	}
	for _, key := range []string{"secret", "public_url"} {
		same(t, "GetSetting "+key, src, dst, func(s store.Store) (string, error) { return s.GetSetting(ctx, key) })
	}
	for _, a := range in.atts {
		same(t, "GetAttachment", src, dst, func(s store.Store) (store.Attachment, error) { return s.GetAttachment(ctx, a.AccountID, a.ID) })
	}
	for _, l := range in.logins {
		same(t, "GetLogin", src, dst, func(s store.Store) (store.Login, error) { return s.GetLogin(ctx, l) })
	}
	for _, acc := range in.accounts {
		users := in.users[acc]
		same(t, "ListAPIKeys", src, dst, func(s store.Store) ([]store.APIKey, error) { return s.ListAPIKeys(ctx, acc) })
		same(t, "ListUsersByRole", src, dst, func(s store.Store) ([]store.User, error) {
			return s.ListUsersByRole(ctx, acc, protocol.RoleOwner, protocol.RoleMember)
		})
		same(t, "GetInbox", src, dst, func(s store.Store) (store.Inbox, error) { return s.GetInbox(ctx, acc) })
		same(t, "GetVisitor", src, dst, func(s store.Store) (store.Visitor, error) { return s.GetVisitor(ctx, acc, users[4]) })
		same(t, "ListPushSubscriptions", src, dst, func(s store.Store) ([]store.PushSubscription, error) { return s.ListPushSubscriptions(ctx, acc) })
		for _, u := range users {
			same(t, "GetUser", src, dst, func(s store.Store) (store.User, error) { return s.GetUser(ctx, acc, u) })
			same(t, "ListConversationIDs", src, dst, func(s store.Store) ([]string, error) { return s.ListConversationIDs(ctx, u) })
			same(t, "ListConversations", src, dst, func(s store.Store) ([]store.ConversationSummary, error) {
				return s.ListConversations(ctx, acc, u, true, time.Time{}, 50)
			})
		}
		same(t, "ListMembersAndReads", src, dst, func(s store.Store) ([]any, error) {
			m, r, err := s.ListMembersAndReads(ctx, in.convs[acc])
			return []any{m, r}, err
		})
		for _, conv := range in.convs[acc] {
			same(t, "GetConversation", src, dst, func(s store.Store) (store.Conversation, error) { return s.GetConversation(ctx, acc, conv) })
			same(t, "ListReadSeqs", src, dst, func(s store.Store) (map[string]int64, error) { return s.ListReadSeqs(ctx, conv) })
			// History, page by page backwards from the newest, as a client scrolls.
			var total int
			for before := int64(msgsPerConv + 1); ; {
				page := same(t, "ListMessages page", src, dst, func(s store.Store) ([]store.Message, error) {
					return s.ListMessages(ctx, conv, before, 0, pageSize)
				})
				total += len(page)
				if len(page) < pageSize {
					break
				}
				before = page[0].Seq
			}
			if total != msgsPerConv {
				t.Fatalf("%s: %d messages in history, want %d", conv, total, msgsPerConv)
			}
			// A sync cursor: what came after seq 300, and what changed since.
			same(t, "ListMessages after", src, dst, func(s store.Store) ([]store.Message, error) { return s.ListMessages(ctx, conv, 0, 300, pageSize) })
			same(t, "ListChangedMessages", src, dst, func(s store.Store) ([]store.Message, error) {
				return s.ListChangedMessages(ctx, conv, t0, msgsPerConv, pageSize)
			})
			same(t, "UnreadCount", src, dst, func(s store.Store) (int64, error) { return s.UnreadCount(ctx, conv, users[1], 200) })
		}
	}

	// The copy is a live store: the next append continues the seqs, and a
	// resend of an old client id is still recognised.
	conv, sender := in.convs[in.accounts[0]][1], in.users[in.accounts[0]][0]
	m, created, err := dst.AppendMessage(ctx, store.Message{ID: "msg_new", ConversationID: conv, SenderID: sender, ClientID: "fresh",
		Type: protocol.TypeText, Text: "after the move", CreatedAt: time.Now()}, nil)
	if err != nil || !created || m.Seq != msgsPerConv+1 {
		t.Fatalf("append after copy: seq %d created=%v %v; want seq %d", m.Seq, created, err, msgsPerConv+1)
	}
	m, created, err = dst.AppendMessage(ctx, store.Message{ID: "msg_dup", ConversationID: conv, SenderID: sender, ClientID: "c0",
		Type: protocol.TypeText, Text: "resend", CreatedAt: time.Now()}, nil)
	if err != nil || created || m.ID != fmt.Sprintf("msg_%s_0", conv) {
		t.Fatalf("resend after copy: %+v created=%v %v; want the original message", m, created, err)
	}
}

// TestRefusesNonEmptyTarget: a second copy into the same database is
// refused and changes nothing; --force replaces the target's contents.
func TestRefusesNonEmptyTarget(t *testing.T) {
	ctx := context.Background()
	path, _ := sqliteSource(t)
	dbURL := pgtest.Database(t)
	if _, err := Copy(ctx, path, dbURL, Options{}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO settings (key, value) VALUES ('only_in_target', 'x')`); err != nil {
		t.Fatal(err)
	}
	_, err = Copy(ctx, path, dbURL, Options{})
	if !errors.Is(err, ErrTargetNotEmpty) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second copy: %v, want ErrTargetNotEmpty mentioning --force", err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM settings WHERE key = 'only_in_target'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("refused copy changed the target (%d, %v)", n, err)
	}
	sum, err := Copy(ctx, path, dbURL, Options{Force: true})
	if err != nil {
		t.Fatalf("copy with Force: %v", err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM settings WHERE key = 'only_in_target'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("Force kept the target's own rows (%d, %v)", n, err)
	}
	if sum.Messages != int64(nAccounts*convsPerAcct*msgsPerConv) {
		t.Fatalf("copy with Force: %+v", sum)
	}
}

// TestRefusesDriftedSchema: a column that exists on one side only stops
// the copy before any row moves, naming it.
func TestRefusesDriftedSchema(t *testing.T) {
	ctx := context.Background()
	path, _ := sqliteSource(t)
	dbURL := pgtest.Database(t)
	if err := postgres.Migrate(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `ALTER TABLE messages ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT false`); err != nil {
		t.Fatal(err)
	}
	_, err = Copy(ctx, path, dbURL, Options{})
	if !errors.Is(err, ErrSchemaMismatch) || !strings.Contains(err.Error(), "messages.pinned") {
		t.Fatalf("copy into a drifted schema: %v", err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM accounts`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("refused copy wrote rows (%d, %v)", n, err)
	}
}

// TestCopyWhileWritten: a source still being written to is copied from one
// snapshot (the verification, which compares counts and seqs, passes while
// appends continue), and the copy warns that the server seems to run.
func TestCopyWhileWritten(t *testing.T) {
	ctx := context.Background()
	path, in := sqliteSource(t)
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, acc := range in.accounts {
		for _, conv := range in.convs[acc] {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if _, _, err := s.AppendMessage(ctx, store.Message{ID: fmt.Sprintf("msg_late_%s_%d", conv, i), ConversationID: conv,
						SenderID: in.users[acc][0], Type: protocol.TypeText, Text: "late", CreatedAt: time.Now()}, nil); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	var progress strings.Builder
	sum, err := Copy(ctx, path, pgtest.Database(t), Options{BatchRows: testBatchRows, Progress: &progress})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("copy of a source being written: %v", err)
	}
	if sum.Messages < int64(nAccounts*convsPerAcct*msgsPerConv) {
		t.Fatalf("copied %d messages", sum.Messages)
	}
	if !strings.Contains(progress.String(), "still running") {
		t.Fatalf("no warning that the source is in use:\n%s", progress.String())
	}
}

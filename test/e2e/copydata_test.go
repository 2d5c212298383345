package e2e

import (
	"context"
	"fmt"
	"maps"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/protocol"
)

// moveBudgets lets a test send a few hundred messages at once.
var moveBudgets = []string{"--messages-per-second", "100000", "--messages-burst", "100000",
	"--account-budget-per-second", "100000", "--account-budget-burst", "100000"}

// TestMoveToPostgres does the move of docs/operations.md with a client
// connected: a server on SQLite with more than a page of messages, stopped;
// `parley copy-data` into a new PostgreSQL database; the server started
// again with the same data directory and --database-url. Tokens minted
// before the move still work (the secret moved), Bob's session resumes
// with the cursor it had and is not reset (same conversation ids and
// seqs), and both see exactly the history they had plus what comes after.
// A second copy into the now non-empty database is refused.
func TestMoveToPostgres(t *testing.T) {
	dir := t.TempDir()
	dbURL := pgtest.Database(t)
	acc, _ := account(t, dir, "moving")
	aliceTok := token(t, dir, acc, "alice", "member")
	bobTok := token(t, dir, acc, "bob", "member")
	s := startAt(t, dir, freeAddr(t), moveBudgets...)
	dial(t, s, bobTok) // users exist once their token has been used
	alice := dial(t, s, aliceTok)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conv, err := alice.Create(ctx, protocol.CreateConversationRequest{Kind: "group", Name: "moved", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	const before = 250 // more than two history pages
	bob := newView(t, conv.ID)
	bobSess := bob.session(t, s.wsURL(), bobTok)
	waitUntil(t, "bob connected", func() bool { return bobSess.Conn() != nil })
	for i := range before {
		if _, err := alice.Send(ctx, protocol.SendRequest{ConversationID: conv.ID, Text: fmt.Sprintf("on SQLite %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	had := serverHistory(t, alice, conv.ID)
	if len(had) != before {
		t.Fatalf("the server has %d messages, want %d", len(had), before)
	}
	waitUntil(t, "bob holds every message", func() bool { m, _ := bob.snapshot(); return maps.Equal(m, had) })

	// The move: stop, copy, start on PostgreSQL at the same address.
	s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.exited
	out := parley(t, "copy-data", "--data-dir", dir, "--to", dbURL)
	if !strings.Contains(out, fmt.Sprintf("the last seq of 1 conversations (%d messages) match", before)) {
		t.Fatalf("copy-data printed %q", out)
	}
	s2 := startAt(t, dir, s.addr, append([]string{"--database-url", dbURL}, moveBudgets...)...)
	alice2 := dial(t, s2, aliceTok)
	if got := serverHistory(t, alice2, conv.ID); !maps.Equal(got, had) {
		t.Fatalf("history on PostgreSQL differs from SQLite's: %d messages, want %d", len(got), len(had))
	}

	// Bob's session comes back by itself with its cursor and is not reset.
	waitUntil(t, "bob reconnected", func() bool { return bobSess.Connects() >= 2 && bobSess.Conn() != nil })
	for i := range 3 {
		if _, err := alice2.Send(ctx, protocol.SendRequest{ConversationID: conv.ID, Text: fmt.Sprintf("on PostgreSQL %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	want := serverHistory(t, alice2, conv.ID)
	if len(want) != before+3 {
		t.Fatalf("the server has %d messages after the move, want %d", len(want), before+3)
	}
	waitUntil(t, "bob holds the server's history", func() bool { m, _ := bob.snapshot(); return maps.Equal(m, want) })
	bob.reloads.Wait()
	if got, resets := bob.snapshot(); !maps.Equal(got, want) || resets != 0 {
		t.Fatalf("bob holds %d messages after %d resets, want %d and no reset", len(got), resets, len(want))
	}

	// A second copy into the same database is refused.
	s2.cmd.Process.Signal(syscall.SIGTERM)
	<-s2.exited
	refused, err := exec.Command(parleyBin, "copy-data", "--from", "sqlite:"+dir, "--to", dbURL).CombinedOutput()
	if err == nil || !strings.Contains(string(refused), "not empty") {
		t.Fatalf("a second copy-data: %v\n%s", err, refused)
	}
}

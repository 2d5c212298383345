package auth_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/cluster"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/sqlite"
	"github.com/parley-chat/parley/protocol"
)

// barrierStore makes the first two reads of a link wait for each other, so
// two redemptions both read it unused before either writes it: the race
// of two nodes sharing a store.
type barrierStore struct {
	store.Store
	mu      sync.Mutex
	arrived int
	both    chan struct{}
}

func (s *barrierStore) GetSetting(ctx context.Context, key string) (string, error) {
	v, err := s.Store.GetSetting(ctx, key)
	if strings.HasPrefix(key, "link:") {
		s.mu.Lock()
		s.arrived++
		if s.arrived == 2 {
			close(s.both)
		}
		s.mu.Unlock()
		select {
		case <-s.both:
		case <-time.After(10 * time.Second):
		}
	}
	return v, err
}

// Two nodes (two Authenticators, each with its own mutex) on one store
// redeem the same one-time link at once: with shared claims exactly one
// gets the grant.
func TestLinkRedeemedOnceAcrossNodes(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	secret := []byte("test-secret-that-is-long-enough-0123456789")
	acc, _, err := auth.CreateAccount(ctx, st, "acme", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	code, err := auth.New(st, secret, time.Hour).CreateLink(ctx, auth.Grant{Kind: auth.LinkInvite, AccountID: acc.ID, Role: protocol.RoleAgent}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	shared := &barrierStore{Store: st, both: make(chan struct{})}
	claims := cluster.NewMemoryClaims(nil) // one state, as Redis is for every node
	nodes := []*auth.Authenticator{auth.New(shared, secret, time.Hour), auth.New(shared, secret, time.Hour)}
	for _, n := range nodes {
		n.SetClaims(claims)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Go(func() { _, errs[i] = n.RedeemLink(ctx, code, auth.LinkInvite) })
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("two nodes redeeming one link: %v and %v, want exactly one success", errs[0], errs[1])
	}
}

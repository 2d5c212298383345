package cluster

import (
	"context"
	"sync"
	"time"
)

// MemoryPresence is the Presence of one node: every connection is local.
type MemoryPresence struct {
	mu    sync.Mutex
	conns map[string]Conn // conn id → connection
	users map[string]int  // user id → connections
	accts map[string]int  // account id → users connected
}

var _ Presence = (*MemoryPresence)(nil)

// NewMemoryPresence returns an empty registry.
func NewMemoryPresence() *MemoryPresence {
	return &MemoryPresence{conns: make(map[string]Conn), users: make(map[string]int), accts: make(map[string]int)}
}

func (p *MemoryPresence) Register(_ context.Context, c Conn) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.conns[c.ConnID]; dup {
		return false, nil
	}
	p.conns[c.ConnID] = c
	p.users[c.UserID]++
	first := p.users[c.UserID] == 1
	if first {
		p.accts[c.AccountID]++
	}
	return first, nil
}

func (p *MemoryPresence) Unregister(_ context.Context, c Conn) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	reg, ok := p.conns[c.ConnID]
	if !ok {
		return false, nil
	}
	delete(p.conns, c.ConnID)
	p.users[reg.UserID]--
	if p.users[reg.UserID] > 0 {
		return false, nil
	}
	delete(p.users, reg.UserID)
	if p.accts[reg.AccountID]--; p.accts[reg.AccountID] <= 0 {
		delete(p.accts, reg.AccountID)
	}
	return true, nil
}

func (p *MemoryPresence) Connections(_ context.Context, userIDs ...string) ([]int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := make([]int, len(userIDs))
	for i, u := range userIDs {
		n[i] = p.users[u]
	}
	return n, nil
}

func (p *MemoryPresence) AccountUsers(_ context.Context, accountID string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accts[accountID], nil
}

// MemorySlots is the Slots of one node.
type MemorySlots struct {
	mu   sync.Mutex
	held map[string]int
}

var _ Slots = (*MemorySlots)(nil)

// NewMemorySlots returns slots with none held.
func NewMemorySlots() *MemorySlots { return &MemorySlots{held: make(map[string]int)} }

func (s *MemorySlots) Acquire(_ context.Context, key string, limit int) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if limit > 0 && s.held[key] >= limit {
		return false, nil
	}
	s.held[key]++
	return true, nil
}

func (s *MemorySlots) Release(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[key]--; s.held[key] <= 0 {
		delete(s.held, key)
	}
	return nil
}

func (s *MemorySlots) Held(_ context.Context, key string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held[key], nil
}

// MemoryClaims is the Claims of one node. Expired claims are dropped as
// new ones are made, so the map holds about the live ones.
type MemoryClaims struct {
	now func() time.Time

	mu    sync.Mutex
	until map[string]time.Time
	next  int // sweep when the map reaches this size
}

var _ Claims = (*MemoryClaims)(nil)

// NewMemoryClaims returns claims timed by now (time.Now when nil).
func NewMemoryClaims(now func() time.Time) *MemoryClaims {
	if now == nil {
		now = time.Now
	}
	return &MemoryClaims{now: now, until: make(map[string]time.Time)}
}

func (c *MemoryClaims) Claim(_ context.Context, key string, ttl time.Duration) (bool, error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if u, ok := c.until[key]; ok && now.Before(u) {
		return false, nil
	}
	c.until[key] = now.Add(ttl)
	// Drop the expired ones when the map has doubled since the last
	// sweep: amortised O(1) a claim.
	if len(c.until) >= c.next {
		for k, u := range c.until {
			if !now.Before(u) {
				delete(c.until, k)
			}
		}
		c.next = max(2*len(c.until), 64)
	}
	return true, nil
}

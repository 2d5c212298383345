package chat

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/auth"
)

// Presence announcements (a user's status to their contacts, last_seen
// on going offline) leave the connection's path: a storm of connects
// would otherwise wait in line for the store's few connections, each
// holding its goroutine, and time out unannounced. The announcer keeps
// at most one pending entry per user and a few workers work through
// them; a user queued again before their turn is announced once, with
// the status read at announcement time (the latest state wins).

const (
	announceWorkers = 4               // store reads at once, well under a pool's size
	announceTimeout = 5 * time.Second // one user's stamp and announcement
	announceGrace   = 5 * time.Second // Close drains this long, then drops the rest
)

type announceKey struct{ account, user string }

// announcer is the set of users whose presence is to be announced.
type announcer struct {
	mu       sync.Mutex
	work     sync.Cond                 // a key was queued, or closing
	idle     sync.Cond                 // nothing pending or in progress
	pending  map[announceKey]time.Time // → the last disconnect to stamp as last_seen (zero: none)
	order    []announceKey             // the pending keys not in progress, oldest first
	busy     map[announceKey]bool      // in progress: queued again, they wait for it
	closing  bool
	stopped  bool      // the workers are gone: put drops, wait returns
	deadline time.Time // once closing: what is still pending then is dropped
	wg       sync.WaitGroup
	do       func(announceKey, time.Time)
}

func newAnnouncer(do func(announceKey, time.Time)) *announcer {
	a := &announcer{pending: make(map[announceKey]time.Time), busy: make(map[announceKey]bool), do: do}
	a.work.L, a.idle.L = &a.mu, &a.mu
	a.wg.Add(announceWorkers)
	for range announceWorkers {
		go a.worker()
	}
	return a
}

// put queues k's announcement, and lastSeen's stamp first when not zero
// (the latest of those queued wins). It never waits.
func (a *announcer) put(k announceKey, lastSeen time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return
	}
	prev, queued := a.pending[k]
	if lastSeen.Before(prev) {
		lastSeen = prev
	}
	a.pending[k] = lastSeen
	if !queued && !a.busy[k] {
		a.order = append(a.order, k)
		a.work.Signal()
	}
}

func (a *announcer) worker() {
	defer a.wg.Done()
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		for len(a.order) == 0 && !a.closing {
			a.work.Wait()
		}
		if len(a.order) == 0 {
			return
		}
		if a.closing && time.Now().After(a.deadline) {
			slog.Warn("presence: shutting down, announcements dropped", "pending", len(a.order))
			for _, k := range a.order {
				delete(a.pending, k)
			}
			a.order = nil
			a.wakeIdle()
			return
		}
		k := a.order[0]
		a.order = a.order[1:]
		lastSeen := a.pending[k]
		delete(a.pending, k)
		a.busy[k] = true
		a.mu.Unlock()
		a.do(k, lastSeen)
		a.mu.Lock()
		delete(a.busy, k)
		if _, again := a.pending[k]; again {
			a.order = append(a.order, k)
		}
		a.wakeIdle()
	}
}

func (a *announcer) wakeIdle() {
	if len(a.pending) == 0 && len(a.busy) == 0 {
		a.idle.Broadcast()
	}
}

// wait returns once everything queued so far was announced (or dropped).
func (a *announcer) wait() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for (len(a.pending) > 0 || len(a.busy) > 0) && !a.stopped {
		a.idle.Wait()
	}
}

// close drains the pending announcements for up to announceGrace (the
// last_seen stamps of a node's connections closed at shutdown), drops
// what is left and stops the workers. Later calls return at once.
func (a *announcer) close() {
	a.mu.Lock()
	if !a.closing {
		a.closing, a.deadline = true, time.Now().Add(announceGrace)
		a.work.Broadcast()
	}
	a.mu.Unlock()
	a.wg.Wait()
	a.mu.Lock()
	a.stopped = true
	a.pending, a.order = map[announceKey]time.Time{}, nil
	a.idle.Broadcast()
	a.mu.Unlock()
}

// StopAnnouncing makes the presence announcements and last_seen stamps
// still queued (for up to 5 s, then drops the rest) and stops the
// announcer. Call it at shutdown after the connections closed and before
// the store does; Close calls it too.
func (s *Service) StopAnnouncing() { s.ann.close() }

// announceNow is the announcer's work for one user: stamp last_seen when
// they went offline, then announce their status as it is now.
func (s *Service) announceNow(k announceKey, lastSeen time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), announceTimeout)
	defer cancel()
	if !lastSeen.IsZero() {
		if err := s.st.SetLastSeen(ctx, k.account, k.user, lastSeen); err != nil {
			slog.Warn("last_seen not saved", "user", k.user, "err", err)
		}
	}
	if err := s.announcePresence(ctx, auth.Identity{AccountID: k.account, UserID: k.user}); err != nil {
		slog.Warn("presence: status not announced", "user", k.user, "err", err)
	}
}

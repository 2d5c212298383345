package app

import (
	"sync"

	"github.com/parley-chat/parley/internal/cluster"
)

// presenceRelay carries the cluster node's presence transitions (a dead
// node's users going offline) to the chat service, which is built after
// the node: what arrives before is kept and handed over by to.
type presenceRelay struct {
	mu      sync.Mutex
	to      func(cluster.Conn, bool)
	pending []presenceReport
}

type presenceReport struct {
	c      cluster.Conn
	online bool
}

// report is the node's OnChange.
func (r *presenceRelay) report(c cluster.Conn, online bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.to == nil {
		r.pending = append(r.pending, presenceReport{c, online})
		return
	}
	r.to(c, online)
}

// deliver sends what is pending, and everything after, to f.
func (r *presenceRelay) deliver(f func(cluster.Conn, bool)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.to = f
	for _, p := range r.pending {
		f(p.c, p.online)
	}
	r.pending = nil
}

package cluster

import (
	"context"
	"slices"
	"sync"
)

// Entry is one room or channel in the Directory: which node carries it, and
// the owner's description of it, so that any node can list it and another
// node can bring it back when the owner dies.
type Entry struct {
	Key     string // what it is found by: a room's id, a channel's account and name
	Room    string // the room id the owner gave it (a channel's changes each time it opens)
	Account string
	Node    string // the owner; empty when its owner gave it up (it shut down)
	Desc    []byte // the owner's description (opaque to the directory)
}

// Directory says which node owns each room and channel, with leases: an
// owner keeps an entry while its node is alive (heartbeating), and any node
// may take an entry over once its owner is dead or gave it up.
//
// Contract:
//   - Own makes this node the owner of e.Key with e's description unless
//     another live node owns it; it reports the entry as it stands after the
//     call and whether this node owns it. Owning an entry again this node owns
//     replaces its description. Of racing claims on several nodes, exactly
//     one wins.
//   - Lookup finds an entry and says whether its owner is alive (false for
//     an entry given up or whose node is dead: it may be claimed).
//   - Drop deletes the entry if this node owns it under that room id
//     (a newer room of the same key is never deleted by an old one's close).
//   - Abandon keeps the entry (its description) but gives up ownership, so
//     another node may claim it at once (a node shutting down).
//   - List returns an account's entries, whichever node owns them, alive or
//     not (an entry of a dead node is listed until taken over or expired).
//   - Alive reports for each node id whether it is alive.
type Directory interface {
	Own(ctx context.Context, e Entry) (cur Entry, mine bool, err error)
	Lookup(ctx context.Context, key string) (e Entry, alive, ok bool, err error)
	Drop(ctx context.Context, key, room string) error
	Abandon(ctx context.Context, key string) error
	List(ctx context.Context, account string) ([]Entry, error)
	Alive(ctx context.Context, nodes ...string) ([]bool, error)
	// Node is this node's id (the owner its claims name).
	Node() string
}

// MemoryDirectory is a Directory state shared by the nodes of one process
// (For gives each node its handle): the single-node default, and tests of
// several nodes in one process. Kill marks a node dead.
type MemoryDirectory struct {
	mu      sync.Mutex
	entries map[string]Entry
	dead    map[string]bool
}

// NewMemoryDirectory returns an empty directory.
func NewMemoryDirectory() *MemoryDirectory {
	return &MemoryDirectory{entries: map[string]Entry{}, dead: map[string]bool{}}
}

// For returns node's handle on the directory.
func (d *MemoryDirectory) For(node string) Directory { return memoryNode{d, node} }

// Kill makes node dead: its entries may be claimed by the others.
func (d *MemoryDirectory) Kill(node string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead[node] = true
}

type memoryNode struct {
	d    *MemoryDirectory
	node string
}

func (m memoryNode) Node() string { return m.node }

func (m memoryNode) Own(_ context.Context, e Entry) (Entry, bool, error) {
	m.d.mu.Lock()
	defer m.d.mu.Unlock()
	if cur, ok := m.d.entries[e.Key]; ok && cur.Node != m.node && m.d.aliveLocked(cur.Node) {
		return cloneEntry(cur), false, nil
	}
	e.Node = m.node
	e = cloneEntry(e)
	m.d.entries[e.Key] = e
	return cloneEntry(e), true, nil
}

func (d *MemoryDirectory) aliveLocked(node string) bool { return node != "" && !d.dead[node] }

func (m memoryNode) Lookup(_ context.Context, key string) (Entry, bool, bool, error) {
	m.d.mu.Lock()
	defer m.d.mu.Unlock()
	e, ok := m.d.entries[key]
	return cloneEntry(e), ok && m.d.aliveLocked(e.Node), ok, nil
}

func (m memoryNode) Drop(_ context.Context, key, room string) error {
	m.d.mu.Lock()
	defer m.d.mu.Unlock()
	if e, ok := m.d.entries[key]; ok && e.Node == m.node && e.Room == room {
		delete(m.d.entries, key)
	}
	return nil
}

func (m memoryNode) Abandon(_ context.Context, key string) error {
	m.d.mu.Lock()
	defer m.d.mu.Unlock()
	if e, ok := m.d.entries[key]; ok && e.Node == m.node {
		e.Node = ""
		m.d.entries[key] = e
	}
	return nil
}

func (m memoryNode) List(_ context.Context, account string) ([]Entry, error) {
	m.d.mu.Lock()
	defer m.d.mu.Unlock()
	var out []Entry
	for _, e := range m.d.entries {
		if e.Account == account {
			out = append(out, cloneEntry(e))
		}
	}
	return out, nil
}

func (m memoryNode) Alive(_ context.Context, nodes ...string) ([]bool, error) {
	m.d.mu.Lock()
	defer m.d.mu.Unlock()
	out := make([]bool, len(nodes))
	for i, n := range nodes {
		out[i] = m.d.aliveLocked(n)
	}
	return out, nil
}

func cloneEntry(e Entry) Entry {
	e.Desc = slices.Clone(e.Desc)
	return e
}

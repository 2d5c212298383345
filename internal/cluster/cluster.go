// Package cluster holds the state a user would see differ between nodes if
// each node kept its own: who is connected (presence), how many sockets an
// IP or an account holds (connection caps), which one-time codes were
// used (claims), and which node runs each room (Directory). Each piece is a small interface with a single-node
// implementation here (in memory, the embedded default) and a Redis one in
// rediscluster, both held to one conformance suite in clustertest.
package cluster

import (
	"context"
	"time"
)

// Conn is one WebSocket connection of a user, as a node registers it.
type Conn struct {
	AccountID string
	UserID    string
	ConnID    string // unique per connection (the ws conn id)
}

// Presence is the cluster-wide connection registry: "online while
// connected" counted over every node.
//
// Contract:
//   - Register counts c once; registering the same ConnID again is a no-op
//     (first is false). first is true exactly when the user went from 0 to 1
//     connection anywhere in the cluster: of racing first connections on
//     several nodes, exactly one caller sees first, and it announces the
//     user online.
//   - Unregister of a registered connection uncounts it; last is true
//     exactly when the user's last connection anywhere went, and that
//     caller announces the user offline (and stamps last_seen). An unknown
//     ConnID is a no-op (last is false).
//   - Connections reports, per user id given, the number of connections
//     anywhere (0 when offline), in one round trip; AccountUsers the number
//     of distinct users of an account with at least one connection.
//   - A node that dies (stops heartbeating) loses its connections once its
//     heartbeat has been missing for the implementation's TTL: some live
//     node removes them and reports each user that thereby went offline,
//     once, to the OnOffline callback it was built with (rediscluster.Config).
//     One process cannot outlive itself, so Memory never does this.
//   - Close (graceful shutdown) is the caller's: it unregisters nothing by
//     itself in Memory; rediscluster's Close removes the node's connections
//     and reports the users it takes offline, like a dead node's.
type Presence interface {
	Register(ctx context.Context, c Conn) (first bool, err error)
	Unregister(ctx context.Context, c Conn) (last bool, err error)
	Connections(ctx context.Context, userIDs ...string) ([]int, error)
	AccountUsers(ctx context.Context, accountID string) (int, error)
}

// Slots counts held slots per key (an IP, an account) against a limit
// across every node: the connection caps.
//
// Contract:
//   - Acquire takes one slot of key if fewer than limit are held anywhere
//     and reports true; otherwise it takes nothing and reports false. A
//     limit of 0 or less is unlimited (the slot is still counted). Racing
//     Acquires on several nodes never hold more than limit together.
//   - Release gives back one slot this node acquired for key; releasing
//     more than this node holds is a no-op (it can never free another
//     node's slot).
//   - Held reports the slots of key held anywhere.
//   - A dead node's slots come back once its heartbeat has been missing for
//     the TTL (rediscluster), like its presence.
type Slots interface {
	Acquire(ctx context.Context, key string, limit int) (bool, error)
	Release(ctx context.Context, key string) error
	Held(ctx context.Context, key string) (int, error)
}

// Claims makes a one-time action happen once across nodes.
//
// Contract: Claim reports true to exactly one of any number of racing
// callers of a key, on any node, and false to every other until ttl has
// passed since the winning claim; after that the key may be claimed again.
// Use a ttl at least as long as the thing claimed stays valid (a link's
// remaining lifetime), so an expired claim never lets a used code through.
type Claims interface {
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

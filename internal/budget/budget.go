// Package budget is the request budget: token buckets that every request
// spends from according to what it costs (see Cost), one bucket per user
// and one per account, shared by the WebSocket and REST transports.
//
// Budget is the store of the buckets. Memory is the single-node
// implementation; with several nodes (issue 11) a user's connections land
// on different nodes, so a Redis implementation will hold the buckets
// there, held to the same contract by budgettest.Run.
package budget

import (
	"context"
	"time"
)

// Rate is a token bucket's shape: it refills PerSecond tokens a second up
// to Burst, and a bucket never spent from is full.
type Rate struct {
	PerSecond float64
	Burst     float64
}

// Bucket names one token bucket and gives its rate. Every spend passes the
// rate, so a changed setting applies at once and the store keeps no
// configuration of its own.
type Bucket struct {
	Key  string
	Rate Rate
}

// Budget holds token buckets by key. Implementations are safe for
// concurrent use.
type Budget interface {
	// Spend takes cost tokens from every bucket or from none. It succeeds
	// when each bucket holds at least min(cost, its burst): a request
	// dearer than the burst can still pass with a full bucket, and leaves
	// the bucket in debt (below zero) for what it cost beyond that.
	// Otherwise ok is false, nothing is taken, and retryAfter is how long
	// until every bucket would let it pass. A negative cost gives tokens
	// back, up to each bucket's burst, and always succeeds. now is the
	// caller's clock; a now before a bucket's last spend counts as no
	// time passed. err is only for a store that cannot answer.
	Spend(ctx context.Context, cost float64, now time.Time, buckets ...Bucket) (ok bool, retryAfter time.Duration, err error)
}

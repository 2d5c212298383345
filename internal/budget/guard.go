package budget

import (
	"context"
	"log/slog"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
)

// Guard spends requests' costs from their user's and their account's
// buckets. The WebSocket and REST transports share one Guard, so a user
// has one budget however many connections and requests it spreads over.
type Guard struct {
	budget  Budget
	user    Rate
	account Rate // PerSecond 0: no account budget
	now     func() time.Time
	log     *slog.Logger
}

// NewGuard returns a Guard over b. user is each user's rate; account each
// account's, or none when account.PerSecond is 0.
func NewGuard(b Budget, user, account Rate, log *slog.Logger) *Guard {
	if log == nil {
		log = slog.Default()
	}
	return &Guard{budget: b, user: user, account: account, now: time.Now, log: log}
}

// UserRate is the rate of every user's bucket.
func (g *Guard) UserRate() Rate { return g.user }

// Spend charges cost to userID (none for an API key, which has no user) and
// to accountID. Over either budget it returns a rate_limited error whose
// RetryAfter says when the request would pass. A budget that cannot answer
// (a store outage) lets the request through and logs it: the limiter must
// not take the service down with it.
func (g *Guard) Spend(ctx context.Context, userID, accountID string, cost float64) error {
	var bs [2]Bucket
	n := 0
	if userID != "" {
		bs[n] = Bucket{Key: "u:" + userID, Rate: g.user}
		n++
	}
	if g.account.PerSecond > 0 && accountID != "" {
		bs[n] = Bucket{Key: "a:" + accountID, Rate: g.account}
		n++
	}
	if n == 0 {
		return nil
	}
	ok, wait, err := g.budget.Spend(ctx, cost, g.now(), bs[:n]...)
	if err != nil {
		g.log.Error("budget: spend failed; request let through", "user", userID, "err", err)
		return nil
	}
	if ok {
		return nil
	}
	e := apperr.New(apperr.RateLimited, apperr.CodeRateLimited,
		"over your request budget; retry in %s", wait.Round(time.Millisecond))
	e.RetryAfter = wait
	return e
}

// Refund gives back cost, e.g. the fan-out of an idempotent resend that
// delivered nothing.
func (g *Guard) Refund(ctx context.Context, userID, accountID string, cost float64) {
	if cost > 0 {
		g.Spend(ctx, userID, accountID, -cost)
	}
}

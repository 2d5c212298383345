package api

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// userLimiter is a token bucket per key (a user id, a client IP). A bucket that has refilled is the
// same as no bucket, so full ones are dropped when the map grows: memory
// stays bounded by the users active within one refill period.
type userLimiter struct {
	rate  rate.Limit
	burst int

	mu    sync.Mutex
	users map[string]*rate.Limiter
	sweep int // size at which to drop full buckets next
}

const limiterSweepMin = 1024

func newUserLimiter(perSecond float64, burst int) *userLimiter {
	return &userLimiter{rate: rate.Limit(perSecond), burst: burst,
		users: make(map[string]*rate.Limiter), sweep: limiterSweepMin}
}

// allow takes one token from user's bucket. When none is left it returns
// false and how long until one is.
func (l *userLimiter) allow(user string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.users[user]
	if !ok {
		if len(l.users) >= l.sweep {
			l.dropFull(now)
		}
		lim = rate.NewLimiter(l.rate, l.burst)
		l.users[user] = lim
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (l *userLimiter) dropFull(now time.Time) {
	for u, lim := range l.users {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.users, u)
		}
	}
	l.sweep = max(limiterSweepMin, 2*len(l.users))
}

// retrySeconds rounds d up to whole seconds, at least 1.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// ipLimits are the per-client-IP buckets of the public routes.
type ipLimits struct {
	address *userLimiter // widget loads and visitor sessions
	login   *userLimiter // console sign-ins
}

// perMinute makes a limiter of n per minute with a burst of n.
func perMinute(n int) *userLimiter {
	return newUserLimiter(float64(n)/60, n)
}

package ws

import (
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/protocol"
)

// expiries closes connections when their token expires. Connections are
// filed under the second their token's exp falls in, and the pinger pops
// the seconds that have passed once a second: a connection costs one map
// entry, there is no timer per connection, and each sweep touches only the
// connections due.
type expiries struct {
	mu    sync.Mutex
	due   map[int64]map[*conn]struct{} // unix second → connections expiring in it
	swept int64                        // the last second swept; 0 before the first sweep
}

func (e *expiries) init() { e.due = make(map[int64]map[*conn]struct{}) }

// second is where a connection expiring at exp is filed: exp's second,
// rounded up, so it is never closed before exp.
func expirySecond(exp time.Time) int64 {
	s := exp.Unix()
	if exp.Nanosecond() > 0 {
		s++
	}
	return s
}

// slotLocked is the second a connection expiring at exp is filed under: an
// exp already swept past is due at the next sweep.
func (e *expiries) slotLocked(exp time.Time) int64 {
	s := expirySecond(exp)
	if e.swept != 0 && s <= e.swept {
		s = e.swept + 1
	}
	return s
}

// add files c to be closed at exp (zero: never).
func (e *expiries) add(c *conn, exp time.Time) {
	if exp.IsZero() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.slotLocked(exp)
	m := e.due[s]
	if m == nil {
		m = make(map[*conn]struct{}, 1)
		e.due[s] = m
	}
	m[c] = struct{}{}
}

// remove forgets c, filed at exp.
func (e *expiries) remove(c *conn, exp time.Time) {
	if exp.IsZero() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.slotLocked(exp) // one already swept past was popped: nothing is there
	if m := e.due[s]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(e.due, s)
		}
	}
}

// pop appends to out the connections whose second has passed at now and
// forgets them.
func (e *expiries) pop(now time.Time, out []*conn) []*conn {
	end := now.Unix()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.swept == 0 {
		// First sweep: everything filed so far is in the future or due now.
		e.swept = end - 1
		for s := range e.due {
			if s < e.swept {
				e.swept = s - 1
			}
		}
	}
	for s := e.swept + 1; s <= end; s++ {
		for c := range e.due[s] {
			out = append(out, c)
		}
		delete(e.due, s)
	}
	e.swept = max(e.swept, end)
	return out
}

// expire sends token_expired and closes with 4003, after what is queued.
func (c *conn) expire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.authed {
		return
	}
	c.enqueueLocked(errorFrame("", errTokenExpired))
	c.closeWithLocked(protocol.CloseTokenExpired, false)
}

var errTokenExpired = apperr.New(apperr.Unauthorized, apperr.CodeTokenExpired, "the token has expired")

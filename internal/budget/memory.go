package budget

import (
	"context"
	"math"
	"sync"
	"time"
)

// Memory is the single-node Budget: buckets in a map under one mutex.
// Memory stays bounded by the keys active within one refill period: a
// bucket that has refilled is the same as no bucket, so full ones are
// dropped when the map has doubled since the last sweep.
type Memory struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	sweepAt int // size at which full buckets are dropped next
}

var _ Budget = (*Memory)(nil)

type bucket struct {
	tokens float64
	at     int64 // unix nanoseconds of tokens
	rate   Rate  // the rate of the last spend, for the sweep
}

const sweepMin = 1024

// NewMemory returns an empty in-memory Budget.
func NewMemory() *Memory {
	return &Memory{buckets: make(map[string]*bucket), sweepAt: sweepMin}
}

// Len is the number of buckets held (tests of the sweep).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}

func (m *Memory) Spend(_ context.Context, cost float64, now time.Time, buckets ...Bucket) (bool, time.Duration, error) {
	t := now.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.buckets) >= m.sweepAt {
		m.sweep(t)
	}
	var wait float64 // seconds
	for _, b := range buckets {
		need := min(cost, b.Rate.Burst)
		if have := m.level(b, t); have < need {
			wait = max(wait, (need-have)/b.Rate.PerSecond)
		}
	}
	if wait > 0 {
		return false, time.Duration(math.Ceil(wait * float64(time.Second))), nil
	}
	for _, b := range buckets {
		level := m.level(b, t)
		st := m.buckets[b.Key]
		if st == nil {
			st = &bucket{}
			m.buckets[b.Key] = st
		}
		st.tokens = min(level-cost, b.Rate.Burst)
		st.at = max(st.at, t)
		st.rate = b.Rate
	}
	return true, 0, nil
}

// level is what b holds at t.
func (m *Memory) level(b Bucket, t int64) float64 {
	st := m.buckets[b.Key]
	if st == nil {
		return b.Rate.Burst
	}
	return refilled(st.tokens, st.at, t, b.Rate)
}

func refilled(tokens float64, at, t int64, r Rate) float64 {
	if t > at {
		tokens += float64(t-at) / float64(time.Second) * r.PerSecond
	}
	return min(tokens, r.Burst)
}

func (m *Memory) sweep(t int64) {
	for k, st := range m.buckets {
		if refilled(st.tokens, st.at, t, st.rate) >= st.rate.Burst {
			delete(m.buckets, k)
		}
	}
	m.sweepAt = max(sweepMin, 2*len(m.buckets))
}

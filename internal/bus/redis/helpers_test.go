package redis_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/internal/bus"
	redisbus "github.com/parley-chat/parley/internal/bus/redis"
)

// open starts a bus closed when t ends.
func open(t testing.TB, c *goredis.Client, cfg redisbus.Config) *redisbus.Bus {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(&logWatch{t: t}, nil))
	}
	b, err := redisbus.New(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// openWatched is open with the bus's log watched.
func openWatched(t testing.TB, c *goredis.Client, cfg redisbus.Config) (*redisbus.Bus, *logWatch) {
	t.Helper()
	w := &logWatch{t: t}
	cfg.Log = slog.New(slog.NewTextHandler(w, nil))
	return open(t, c, cfg), w
}

// logWatch sends a bus's log to the test's (Close stops every goroutine
// that logs, before the test ends) and lets the test wait for a line.
type logWatch struct {
	t     testing.TB
	mu    sync.Mutex
	lines []string
}

func (w *logWatch) Write(p []byte) (int, error) {
	line := strings.TrimSuffix(string(p), "\n")
	w.t.Log(line)
	w.mu.Lock()
	w.lines = append(w.lines, line)
	w.mu.Unlock()
	return len(p), nil
}

// waitFor waits until the log has a line containing s.
func (w *logWatch) waitFor(s string) {
	w.t.Helper()
	eventually(w.t, "the log to say "+s, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, l := range w.lines {
			if strings.Contains(l, s) {
				return true
			}
		}
		return false
	})
}

// checkStream checks what a subscription got against what was published
// to its topic: the events in publish order, none twice, and those
// missing followed by a Gap before the next event delivered.
func checkStream(t testing.TB, published []string, got []bus.Event) {
	t.Helper()
	next, gapSince := 0, false // gapSince: a Gap since the last event delivered
	for k, ev := range got {
		if ev.Name == bus.Gap {
			gapSince = true
			continue
		}
		j := next
		for j < len(published) && published[j] != ev.Name {
			j++
		}
		if j == len(published) {
			t.Fatalf("event %d of %d received, %s: out of order, twice, or never published", k, len(got), ev.Name)
		}
		if j > next && !gapSince {
			t.Fatalf("event %d of %d received, %s: %d missing before it (from %s) with no gap", k, len(got), ev.Name, j-next, published[next])
		}
		next, gapSince = j+1, false
	}
	if next < len(published) && !gapSince {
		t.Fatalf("%d events missing at the end (from %s) with no gap", len(published)-next, published[next])
	}
}

// recorder keeps what a handler got.
type recorder struct {
	mu   sync.Mutex
	evs  []bus.Event
	wake chan struct{}
}

func newRecorder() *recorder { return &recorder{wake: make(chan struct{}, 1)} }

func (r *recorder) handle(_ string, ev bus.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *recorder) events() []bus.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bus.Event(nil), r.evs...)
}

// waitFor waits until done(events) holds, failing t after 10 s.
func (r *recorder) waitFor(t testing.TB, what string, done func([]bus.Event) bool) []bus.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		evs := r.events()
		if done(evs) {
			return evs
		}
		select {
		case <-r.wake:
		case <-deadline:
			t.Fatalf("waiting for %s; got %d events: %+v", what, len(evs), names(evs))
		}
	}
}

func names(evs []bus.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Name
	}
	return out
}

// has reports whether evs holds an event named name (or, for a name
// ending in no digit, name followed by digits: has("end") matches "end3").
func has(name string) func([]bus.Event) bool {
	return func(evs []bus.Event) bool {
		for _, ev := range evs {
			if ev.Name == name || strings.HasPrefix(ev.Name, name) && strings.Trim(ev.Name[len(name):], "0123456789") == "" {
				return true
			}
		}
		return false
	}
}

// eventually polls cond until it holds, failing t after 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// proxy is a TCP relay between a client and Redis that a test can cut
// (connections closed, new ones refused) or silence (bytes swallowed, the
// connections left open, as a dead network path does).
type proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	mode   int
	conns  map[net.Conn]*int // each side's mode when it was accepted
	closed bool
}

const (
	pass = iota
	refuse
	silence
)

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]*int{}}
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.mode == refuse || p.closed {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		mode := new(int)
		*mode = p.mode
		p.conns[c], p.conns[up] = mode, mode
		p.mu.Unlock()
		go p.pipe(c, up, mode)
		go p.pipe(up, c, mode)
	}
}

// pipe copies from src to dst unless the pair is silenced.
func (p *proxy) pipe(src, dst net.Conn, mode *int) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			src.Close()
			dst.Close()
			return
		}
		p.mu.Lock()
		silent := *mode == silence
		p.mu.Unlock()
		if silent {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			src.Close()
			dst.Close()
			return
		}
	}
}

// set switches mode: refuse closes every connection; silence swallows
// what every open connection carries from now on (and new ones' too);
// pass lets new connections through (silenced ones stay silent).
func (p *proxy) set(mode int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
	for c, m := range p.conns {
		switch mode {
		case refuse:
			c.Close()
			delete(p.conns, c)
		case silence:
			*m = silence
		}
	}
}

func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
}

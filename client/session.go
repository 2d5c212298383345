package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/parley-chat/parley/protocol"
)

// TokenSource returns a token for the next connection. It is called before
// every dial, so it can refresh an expired one.
type TokenSource func(ctx context.Context) (string, error)

// SessionOptions configure a Session. OnEvent is required; the rest may be zero.
type SessionOptions struct {
	// OnEvent receives every event of every connection, including the
	// messages, edits and deletions replayed after a reconnect: each message
	// once, in seq order per conversation. It runs on a read goroutine and
	// must not block for long.
	OnEvent func(protocol.Envelope)
	// OnConnect is called after each successful (re)connection and sync.
	OnConnect func(*Conn)
	// Cursors to start from (per conversation, the last seq already held).
	Cursors map[string]int64
	// MinBackoff and MaxBackoff bound the wait between attempts; it
	// doubles after each failure, with jitter. [100ms, 10s]
	MinBackoff, MaxBackoff time.Duration
	// Dial options for every connection (Resume and OnEvent are set by the session).
	Dial Options
}

// Session is a connection that comes back: after a drop it redials with
// backoff, resumes with chat:sync (its cursors, and the previous
// connection's start as since), and carries on delivering events.
type Session struct {
	url    string
	tokens TokenSource
	opt    SessionOptions
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	conn     *Conn
	cursors  map[string]int64
	since    time.Time
	connects int
	lastErr  error
}

// NewSession starts a session; it connects in the background. Close ends it.
func NewSession(wsURL string, tokens TokenSource, opt SessionOptions) *Session {
	if opt.MinBackoff <= 0 {
		opt.MinBackoff = 100 * time.Millisecond
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 10 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{url: wsURL, tokens: tokens, opt: opt, cancel: cancel, done: make(chan struct{}),
		cursors: make(map[string]int64)}
	for k, v := range opt.Cursors {
		s.cursors[k] = v
	}
	go s.run(ctx)
	return s
}

// Conn returns the current connection, or nil between connections.
func (s *Session) Conn() *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// Connects counts successful connections so far.
func (s *Session) Connects() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connects
}

// Err returns the last dial or sync error, if any.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// Close ends the session and its connection.
func (s *Session) Close() {
	s.cancel()
	<-s.done
}

func (s *Session) run(ctx context.Context) {
	defer close(s.done)
	wait := s.opt.MinBackoff
	for ctx.Err() == nil {
		start := time.Now()
		err := s.once(ctx)
		s.mu.Lock()
		s.lastErr = err
		s.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > 30*time.Second {
			wait = s.opt.MinBackoff // it was up for a while: a fresh failure
		}
		jitter := time.Duration(rand.Int64N(int64(wait)/2 + 1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait/2 + jitter):
		}
		wait = min(wait*2, s.opt.MaxBackoff)
	}
}

// once dials, syncs, and waits for the connection to end.
func (s *Session) once(ctx context.Context) error {
	tok, err := s.tokens(ctx)
	if err != nil {
		return err
	}
	opt := s.opt.Dial
	opt.Resume = true
	opt.OnEvent = s.opt.OnEvent
	opt.OnFrame = nil
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, err := Dial(dctx, s.url, tok, &opt)
	cancel()
	if err != nil {
		return err
	}
	s.mu.Lock()
	cursors := make(map[string]int64, len(s.cursors))
	for k, v := range s.cursors {
		cursors[k] = v
	}
	since := s.since
	s.mu.Unlock()

	// The first request after a resume=1 dial must be the sync (an empty one
	// releases what the server held for us).
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	var reply protocol.SyncReply
	if since.IsZero() {
		_, reply, err = c.Sync(sctx, cursors)
	} else {
		_, reply, err = c.SyncSince(sctx, cursors, since)
	}
	cancel()
	if err != nil {
		c.Close()
		return err
	}
	s.mu.Lock()
	for conv := range reply.Refused { // left elsewhere (or gone): nothing more to follow
		delete(s.cursors, conv)
	}
	s.conn = c
	s.connects++
	s.mu.Unlock()
	if s.opt.OnConnect != nil {
		s.opt.OnConnect(c)
	}
	select {
	case <-ctx.Done():
		c.Close()
	case <-c.Done():
	}
	s.mu.Lock()
	s.conn = nil
	for k, v := range c.Cursors() {
		if v > s.cursors[k] {
			s.cursors[k] = v
		}
	}
	s.since = c.Connected().ServerTime
	s.mu.Unlock()
	<-c.Done()
	if code := c.CloseCode(); code != 0 {
		return &CloseError{Code: code}
	}
	return errors.New("parley: connection lost")
}

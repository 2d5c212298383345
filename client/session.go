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
	// OnReset is called when the server's history of a conversation is
	// not the one the session saw (its database was restored from a
	// backup): drop what you hold of the conversation and reload it from
	// another goroutine (c.History); events that follow are its new
	// history. See Options.OnReset, whose rules it shares.
	OnReset func(c *Conn, conversationID string, lastSeq int64)
	// Cursors to start from (per conversation, the last seq already held),
	// and the id of the message at each (optional, see Conn.CursorIDs).
	Cursors   map[string]int64
	CursorIDs map[string]string
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
	curIDs   map[string]string
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
		cursors: make(map[string]int64), curIDs: make(map[string]string)}
	for k, v := range opt.Cursors {
		s.cursors[k] = v
	}
	for k, v := range opt.CursorIDs {
		s.curIDs[k] = v
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
		if ce := (*CloseError)(nil); errors.As(err, &ce) && ce.Code == protocol.CloseResync {
			wait = s.opt.MinBackoff // events were lost between nodes: resume at once
			continue
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

// syncAll syncs until no conversation is truncated, and drops from the
// cursors the conversations the user can no longer read (left, or gone with
// a restored backup), so that they do not stop the session from resuming
// the others. The server lists them in the reply's refused; a server that
// refuses the whole request instead is asked about each conversation alone.
func (s *Session) syncAll(ctx context.Context, c *Conn, req protocol.SyncRequest) error {
	gone, err := syncRounds(ctx, c, req)
	if refused(err) {
		gone, err = s.syncEach(ctx, c, req)
	}
	s.mu.Lock()
	for _, conv := range gone {
		delete(s.cursors, conv)
		delete(s.curIDs, conv)
	}
	s.mu.Unlock()
	return err
}

// syncEach syncs each conversation of req alone and returns the refused ones.
func (s *Session) syncEach(ctx context.Context, c *Conn, req protocol.SyncRequest) ([]string, error) {
	var gone []string
	// From where the refused request left each one: a server may have
	// replayed some conversations before refusing.
	cur, ids := c.Cursors(), c.CursorIDs()
	for conv, seq := range req.Cursors {
		one := protocol.SyncRequest{Cursors: map[string]int64{conv: seq}, Since: req.Since}
		if id, ok := req.CursorIDs[conv]; ok {
			one.CursorIDs = map[string]string{conv: id}
		}
		if cur[conv] > seq {
			one.Cursors[conv], one.CursorIDs = cur[conv], nil
			if ids[conv] != "" {
				one.CursorIDs = map[string]string{conv: ids[conv]}
			}
		}
		refusedHere, err := syncRounds(ctx, c, one)
		if refused(err) {
			gone = append(gone, conv)
		} else if err != nil {
			return gone, err
		}
		gone = append(gone, refusedHere...)
	}
	return gone, nil
}

// syncRounds calls chat:sync again for truncated conversations, from
// where the previous round ended, until none is. It returns the
// conversations the server refused (the reply's refused).
func syncRounds(ctx context.Context, c *Conn, req protocol.SyncRequest) ([]string, error) {
	var gone []string
	for {
		_, reply, err := c.SyncWith(ctx, req)
		for conv := range reply.Refused {
			gone = append(gone, conv)
		}
		if err != nil || len(reply.Truncated) == 0 {
			return gone, err
		}
		cur, ids := c.Cursors(), c.CursorIDs()
		req = protocol.SyncRequest{Cursors: make(map[string]int64, len(reply.Truncated)), CursorIDs: map[string]string{}}
		for _, conv := range reply.Truncated {
			req.Cursors[conv] = reply.Seqs[conv]
			if cur[conv] == reply.Seqs[conv] && ids[conv] != "" {
				req.CursorIDs[conv] = ids[conv]
			}
		}
		// No since: what the last round replayed was in its current state.
	}
}

// refused reports a sync refused because of a conversation the user may
// not read.
func refused(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Code == "not_found" || e.Code == "not_member")
}

// reset lowers the cursor of a conversation the server reset (before the
// connection's cursors are merged in, which then only move it forward).
func (s *Session) reset(c *Conn, conv string, lastSeq int64) {
	s.mu.Lock()
	s.cursors[conv] = lastSeq
	delete(s.curIDs, conv)
	s.mu.Unlock()
	if s.opt.OnReset != nil {
		s.opt.OnReset(c, conv, lastSeq)
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
	var c *Conn
	opt.OnReset = func(conv string, lastSeq int64) { s.reset(c, conv, lastSeq) }
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, err = Dial(dctx, s.url, tok, &opt)
	cancel()
	if err != nil {
		return err
	}
	s.mu.Lock()
	req := protocol.SyncRequest{Cursors: make(map[string]int64, len(s.cursors)), CursorIDs: make(map[string]string, len(s.curIDs))}
	for k, v := range s.cursors {
		req.Cursors[k] = v
		if id := s.curIDs[k]; id != "" && v > 0 {
			req.CursorIDs[k] = id
		}
	}
	if !s.since.IsZero() {
		since := s.since
		req.Since = &since
	}
	s.mu.Unlock()

	// The first request after a resume=1 dial must be the sync (an empty one
	// releases what the server held for us).
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = s.syncAll(sctx, c, req)
	cancel()
	if err != nil {
		c.Close()
		return err
	}
	s.mu.Lock()
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
	ids := c.CursorIDs()
	for k, v := range c.Cursors() {
		if v > s.cursors[k] {
			s.cursors[k] = v
			s.curIDs[k] = ids[k]
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

// Package ws serves Parley's WebSocket endpoint (/ws): upgrade, origin
// check, authentication, per-IP and per-account limits, request dispatch to
// the chat domain, and fan-out of bus events to connections.
//
// Memory per idle connection is kept small by construction: one reader
// goroutine per connection that only reads frame headers into an array in
// the connection (payload buffers come from a pool while a frame is in
// flight, and requests run on a short-lived goroutine so the reader's stack
// never grows); no writer goroutine while idle (one is started when the
// outgoing queue becomes non-empty and exits when it drains); no bufio
// buffers after the handshake.
//
// Fan-out: the hub subscribes to a bus topic once per node, builds each
// event's frame once and appends the same bytes to every local
// subscriber's queue; a connection's writer sends its whole queue with one
// writev.
package ws

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gws "github.com/gobwas/ws"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/budget"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/calls"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/rooms"
	"github.com/parley-chat/parley/internal/transport/clientip"
	"github.com/parley-chat/parley/protocol"
)

// Config holds the endpoint's limits. Zero values take the defaults in
// brackets, except ConnsPerIP and ConnsPerAccount where 0 means unlimited
// (the config package supplies their defaults, 200 and 20000).
type Config struct {
	// MaxFrameBytes is the largest message a client may send; a bigger one
	// closes the connection with 1009. [64 KiB]
	MaxFrameBytes int
	// Budget is the request budget every request spends from (shared with
	// REST). Nil: a budget of its own, MessagesPerSecond and MessagesBurst
	// per user and none per account. [10, 20]
	Budget            *budget.Guard
	MessagesPerSecond float64
	MessagesBurst     int
	// ConnsPerIP limits open sockets per client IP (0 = unlimited).
	ConnsPerIP int
	// ConnsPerAccount limits authenticated connections per account (0 = unlimited).
	ConnsPerAccount int
	// Slots, when set, counts ConnsPerIP and ConnsPerAccount across every
	// node (cluster.Slots, keys "ip:<ip>" and "acct:<account>"); a slot
	// store that does not answer refuses the connection, as a full cap
	// does. Nil: this node counts its own connections.
	Slots Slots
	// SendQueueBytes bounds a connection's outgoing queue; a connection
	// over it is closed with 4008 (slow consumer). [4 MiB]
	SendQueueBytes int
	// WriteTimeout closes a connection whose write is blocked this long. [10s]
	WriteTimeout time.Duration
	// AuthTimeout is the time a connection without a header or subprotocol
	// token has to send its auth frame; then it is closed with 4001. [10s]
	AuthTimeout time.Duration
	// PingInterval is how often the server pings every connection; one that
	// sent nothing for two intervals is closed. [30s]
	PingInterval time.Duration
	// AllowedOrigins lists the browser origins allowed to connect, e.g.
	// "https://chat.example.com"; "*" or an empty list allows any. Requests
	// without an Origin header (non-browser clients) are always allowed.
	AllowedOrigins []string
	// TrustProxyHeaders takes the client IP from the last X-Forwarded-For
	// entry (enable only behind a trusted reverse proxy).
	TrustProxyHeaders bool
	// CoalesceRate and CoalesceDelay: above CoalesceRate frames/s the
	// flushers wait CoalesceDelay before writing, so one writev carries
	// many frames. Zero CoalesceDelay never waits. [150000, 0]
	CoalesceRate  float64
	CoalesceDelay time.Duration
	// ICEServers, if set, gives each new connection its STUN/TURN servers
	// with credentials (chat:connected ice_servers).
	ICEServers func(id auth.Identity) []protocol.ICEServer
	// MaxCallBitrateKbps is told to clients in limits (0 = none).
	MaxCallBitrateKbps int
	// HoldBack, above zero, makes the hub deliver each conversation's
	// chat:message events in seq order, each once, without gaps, however
	// the bus brings them (order.go): a message ahead of the next expected
	// seq waits up to HoldBack for the missing ones, which are then read
	// from the store. Set it with several nodes (the Redis bus); one
	// node's bus already delivers in order, and zero costs nothing. [0]
	HoldBack time.Duration
}

func (c *Config) defaults() {
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 64 << 10
	}
	if c.MessagesPerSecond <= 0 {
		c.MessagesPerSecond = 10
	}
	if c.MessagesBurst <= 0 {
		c.MessagesBurst = 20
	}
	if c.SendQueueBytes <= 0 {
		c.SendQueueBytes = 4 << 20
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.AuthTimeout <= 0 {
		c.AuthTimeout = 10 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.CoalesceRate <= 0 {
		c.CoalesceRate = 150_000
	}
}

// closeGrace bounds how long a connection being closed may take to receive
// what is left of its queue and to answer the close frame.
const closeGrace = 2 * time.Second

// Server is the /ws endpoint. Create it with New, mount it on a net/http
// server, and call Shutdown before exiting.
type Server struct {
	cfg    Config
	auth   *auth.Authenticator
	chat   *chat.Service
	calls  *calls.Service // nil: call:* events are unknown
	rooms  *rooms.Service // nil: room:* and channel:* events are unknown
	log    *slog.Logger
	hub    hub
	flush  flusher
	expiry expiries // tokens' expiry, swept each second by the pinger
	limit  protocol.Limits

	ctx    context.Context // requests run under it; cancelled when Shutdown gives up
	cancel context.CancelFunc

	mu      sync.Mutex
	conns   map[*conn]struct{}
	perIP   map[string]int
	perAcct map[string]int

	wg       sync.WaitGroup // one per connection, done when it is fully closed
	tick     atomic.Uint32  // ping ticks so far; connections store the tick they last read at
	shutdown atomic.Bool
	stop     chan struct{}
	stopOnce sync.Once
	pingDone chan struct{}
}

// New returns a Server and starts its ping ticker (stopped by Shutdown).
func New(cfg Config, a *auth.Authenticator, c *chat.Service, b bus.Bus, log *slog.Logger) *Server {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	if cfg.Budget == nil {
		cfg.Budget = budget.NewGuard(budget.NewMemory(),
			budget.Rate{PerSecond: cfg.MessagesPerSecond, Burst: float64(cfg.MessagesBurst)}, budget.Rate{}, log)
	}
	s := &Server{
		cfg: cfg, auth: a, chat: c, log: log,
		conns:    make(map[*conn]struct{}),
		perIP:    make(map[string]int),
		perAcct:  make(map[string]int),
		stop:     make(chan struct{}),
		pingDone: make(chan struct{}),
	}
	s.limit = protocol.Limits{
		MaxMessageBytes:    c.Config().MaxMessageBytes,
		MessagesPerSecond:  cfg.Budget.UserRate().PerSecond,
		MaxFrameBytes:      cfg.MaxFrameBytes,
		MaxCallBitrateKbps: cfg.MaxCallBitrateKbps,
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.hub.init(b, log, cfg.HoldBack, c.MessageEvents)
	s.expiry.init()
	s.flush.start(cfg.CoalesceRate, cfg.CoalesceDelay)
	go s.pinger()
	return s
}

// SetCalls routes call:* requests to the calls service and tells it of
// closed connections. Call it before serving.
func (s *Server) SetCalls(c *calls.Service) { s.calls = c }

// SetRooms routes room:* and channel:* requests to the rooms service and
// tells it of closed connections. Call it before serving.
func (s *Server) SetRooms(r *rooms.Service) { s.rooms = r }

// Conns returns the number of open WebSocket connections.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// ServeHTTP upgrades the request to a WebSocket and authenticates it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.shutdown.Load() {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	if !s.originAllowed(r.Header.Get("Origin")) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	token, subproto := bearerToken(r)
	up := gws.HTTPUpgrader{Timeout: s.cfg.WriteTimeout}
	if subproto {
		up.Protocol = func(p string) bool { return p == protocol.Subprotocol }
	}
	nc, rw, _, err := up.Upgrade(r, w)
	if err != nil {
		if nc != nil {
			nc.Close()
		}
		return // the upgrader wrote the HTTP error
	}
	c := &conn{srv: s, nc: nc, raw: rawConn(nc), ip: s.clientIP(r)}
	c.seen.Store(s.tick.Load())
	c.resume = r.URL.Query().Get("resume") == "1"
	if n := rw.Reader.Buffered(); n > 0 { // the client did not wait for our handshake reply
		c.pre = make([]byte, n)
		rw.Reader.Read(c.pre)
	}
	switch ok, closing := s.add(c); {
	case closing:
		c.closeWith(protocol.CloseGoingAway, false)
	case !ok:
		c.reject(protocol.CloseTooManyConns, errTooManyConns("too many connections from your address"), "")
	case token != "":
		c.authenticate(s.ctx, token, "")
	}
	go c.readLoop()
}

// Slots is the part of cluster.Slots the server uses.
type Slots interface {
	Acquire(ctx context.Context, key string, limit int) (bool, error)
	Release(ctx context.Context, key string) error
}

// acquire takes a shared slot; false when the cap is full or the slot
// store does not answer.
func (s *Server) acquire(key string, limit int) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ok, err := s.cfg.Slots.Acquire(ctx, key, limit)
	if err != nil {
		s.log.Warn("ws: connection slots unavailable, connection refused", "err", err)
		return false
	}
	return ok
}

func (s *Server) release(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.cfg.Slots.Release(ctx, key); err != nil {
		s.log.Warn("ws: releasing a connection slot", "key", key, "err", err)
	}
}

// add registers a new socket and counts it against its IP. ok is false
// over the per-IP limit; closing is true once Shutdown has begun (checked
// under the lock Shutdown takes its snapshot under, so no socket escapes).
func (s *Server) add(c *conn) (ok, closing bool) {
	s.wg.Add(1)
	if s.cfg.Slots != nil {
		ok = s.acquire("ip:"+c.ip, s.cfg.ConnsPerIP)
		c.ipSlot = ok // release only what was acquired
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[c] = struct{}{}
	s.perIP[c.ip]++
	if s.cfg.Slots == nil {
		ok = s.cfg.ConnsPerIP <= 0 || s.perIP[c.ip] <= s.cfg.ConnsPerIP
	}
	return ok, s.shutdown.Load()
}

// remove forgets a socket.
func (s *Server) remove(c *conn, acct string) {
	s.mu.Lock()
	delete(s.conns, c)
	if s.perIP[c.ip]--; s.perIP[c.ip] <= 0 {
		delete(s.perIP, c.ip)
	}
	if acct != "" {
		if s.perAcct[acct]--; s.perAcct[acct] <= 0 {
			delete(s.perAcct, acct)
		}
	}
	s.mu.Unlock()
	if s.cfg.Slots != nil {
		if c.ipSlot {
			s.release("ip:" + c.ip)
		}
		if acct != "" {
			s.release("acct:" + acct)
		}
	}
}

// addAccount counts an authenticated connection against its account; it
// reports false (and counts nothing) when the account is at its limit.
func (s *Server) addAccount(acct string) bool {
	if s.cfg.Slots != nil && !s.acquire("acct:"+acct, s.cfg.ConnsPerAccount) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Slots == nil && s.cfg.ConnsPerAccount > 0 && s.perAcct[acct] >= s.cfg.ConnsPerAccount {
		return false
	}
	s.perAcct[acct]++
	return true
}

func (s *Server) originAllowed(origin string) bool {
	if origin == "" || len(s.cfg.AllowedOrigins) == 0 {
		return true
	}
	for _, o := range s.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	return false
}

func (s *Server) clientIP(r *http.Request) string {
	return clientip.Of(r, s.cfg.TrustProxyHeaders)
}

// bearerToken finds the token in the Authorization header or, failing
// that, in a "bearer.<token>" subprotocol offered with "parley.v1". subproto
// reports whether the client offered parley.v1 (and so must get it back).
// Tokens in the query string are not accepted.
func bearerToken(r *http.Request) (token string, subproto bool) {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			p = strings.TrimSpace(p)
			switch {
			case p == protocol.Subprotocol:
				subproto = true
			case strings.HasPrefix(p, protocol.BearerSubprotocol) && token == "":
				token = p[len(protocol.BearerSubprotocol):]
			}
		}
	}
	if !subproto {
		token = ""
	}
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		token = strings.TrimSpace(h[7:])
	}
	return token, subproto
}

// pinger is the one server-wide ticker: it pings every connection and
// closes those silent for two intervals; each second it closes the
// connections whose token has expired.
func (s *Server) pinger() {
	defer close(s.pingDone)
	t := time.NewTicker(s.cfg.PingInterval)
	defer t.Stop()
	sec := time.NewTicker(time.Second)
	defer sec.Stop()
	var snap []*conn
	for {
		select {
		case <-s.stop:
			return
		case <-sec.C:
			snap = s.expiry.pop(time.Now(), snap[:0])
			for _, c := range snap {
				c.expire()
			}
			clear(snap)
			continue
		case <-t.C:
		}
		tick := s.tick.Add(1)
		s.mu.Lock()
		snap = snap[:0]
		for c := range s.conns {
			snap = append(snap, c)
		}
		s.mu.Unlock()
		for _, c := range snap {
			c.onTick(tick)
		}
		clear(snap)
	}
}

func (s *Server) stopPinger() {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.pingDone
}

// Shutdown refuses new connections, sends close 1001 (going away) to every
// connection after what is already queued for it, and waits until they are
// closed or ctx ends; then it cuts the rest and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdown.Store(true)
	s.stopPinger()
	s.mu.Lock()
	snap := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		snap = append(snap, c)
	}
	s.mu.Unlock()
	for _, c := range snap {
		c.closeWith(protocol.CloseGoingAway, false)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.cancel()
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
	}
	s.cancel()
	s.hub.closeAll()
	s.flush.stop()
	return err
}

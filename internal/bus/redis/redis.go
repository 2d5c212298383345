// Package redis is the Bus of several nodes: events cross nodes through
// Redis pub/sub, sharded (SPUBLISH/SSUBSCRIBE) when the server has it
// (Redis 7+), classic otherwise.
//
// Each node holds ONE Redis subscription per topic however many local
// handlers want it: the first Subscribe of a topic subscribes the node's
// pub/sub connection, the last unsubscribe drops it, and one dispatcher
// goroutine fans each event out to the topic's local handlers in order.
// Publishing goes through one writer goroutine that pipelines what is
// queued, so events leave a node in Publish order and order within a topic
// is kept.
//
// Nothing is dropped silently (bus.Gap): when the subscription connection
// is lost, the bus reconnects, resubscribes every topic and then delivers
// a Gap to each of them; when the writer cannot hand events to Redis, it
// publishes a Gap to their topics as soon as Redis takes commands again,
// so every node's subscribers hear of it.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/internal/bus"
)

// Config configures a Bus.
type Config struct {
	// Prefix starts every channel name (Prefix + topic), so deployments and
	// tests that share one Redis do not hear each other, e.g. "parley:".
	Prefix string
	// Classic uses PUBLISH/SUBSCRIBE even when the server has sharded
	// pub/sub. Defaults to false: sharded when the server has it.
	Classic bool
	// HealthInterval is how long the subscription connection may stay
	// silent before a PING checks it; a PING unanswered for as long again
	// counts as a lost link. Defaults to 5 s.
	HealthInterval time.Duration
	// Log receives link losses and recoveries. Defaults to slog.Default().
	Log *slog.Logger
}

func (c *Config) validate() error {
	if c.HealthInterval == 0 {
		c.HealthInterval = 5 * time.Second
	}
	if c.HealthInterval < 0 {
		return errors.New("redis bus: HealthInterval must be positive")
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return nil
}

// ErrClosed is what Publish returns after Close.
var ErrClosed = errors.New("redis bus: closed")

// Bus is a bus.Bus over Redis pub/sub. Make one per node with New.
type Bus struct {
	cfg     Config
	client  *goredis.Client // the caller's: the pub/sub connection comes from it
	pub     *goredis.Client // the writer's, without retries (see New)
	sharded bool

	mu      sync.RWMutex
	closed  bool
	topics  map[string]*topic
	ps      *goredis.PubSub // the subscription connection; nil while the link is down
	gen     uint64          // counts connections; pong tokens carry it
	tok     uint64          // the last ping token of gen
	waiters []waiter        // pings of gen awaiting their pong, in order

	out  outbox
	disp dispatcher

	quit       chan struct{}
	ctx        context.Context // the reader's: cancelled by Close, so a dial does not hold it up
	cancel     context.CancelFunc
	readerDone chan struct{}
	writerDone chan struct{}
	dispDone   chan struct{}
}

var _ bus.Bus = (*Bus)(nil)

// topic is one Redis subscription of this node and its local handlers.
type topic struct {
	name  string
	subs  []*sub // copy on write: the reader hands the slice to the dispatcher
	live  bool   // Redis confirmed the subscription on the current connection
	ready chan struct{}
}

// sub is one Subscribe.
type sub struct {
	h    bus.Handler
	gone atomic.Bool
}

// waiter is a PING sent after (S)SUBSCRIBE commands: its pong means Redis
// has run them, so the topics are live. gap marks the resubscription
// after a lost link.
type waiter struct {
	token  uint64
	topics []*topic
	gap    bool
}

// New starts a Bus on client (a standalone or Sentinel Redis; the bus
// takes its pub/sub connection from it and does not close it). It fails
// when Redis does not answer.
func New(ctx context.Context, client *goredis.Client, cfg Config) (*Bus, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// Publishing has a client of its own that never retries: a pipeline
	// retried after a broken connection would repeat events that already
	// went out, behind later ones. A failed batch is reported as a Gap.
	opt := *client.Options()
	if opt.MaintNotificationsConfig != nil {
		mc := *opt.MaintNotificationsConfig
		opt.MaintNotificationsConfig = &mc
	}
	opt.PushNotificationProcessor = nil // NewClient set the parent's; ours makes its own
	opt.MaxRetries = -1
	opt.PoolSize = 2
	opt.MinIdleConns = 0
	b := &Bus{
		cfg:        cfg,
		client:     client,
		pub:        goredis.NewClient(&opt),
		topics:     make(map[string]*topic),
		quit:       make(chan struct{}),
		readerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
		dispDone:   make(chan struct{}),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.out.init()
	b.disp.init()
	sharded, err := hasShardedPubSub(ctx, b.pub)
	if err == nil {
		b.sharded = sharded && !cfg.Classic
		err = b.connect(ctx, false)
	}
	if err != nil {
		b.cancel()
		b.pub.Close()
		return nil, fmt.Errorf("redis bus: %w", err)
	}
	go b.read()
	go b.write()
	go b.dispatch()
	return b, nil
}

// Sharded reports whether the bus uses sharded pub/sub.
func (b *Bus) Sharded() bool { return b.sharded }

func hasShardedPubSub(ctx context.Context, c *goredis.Client) (bool, error) {
	v, err := c.Do(ctx, "COMMAND", "INFO", "SPUBLISH").Slice()
	if err != nil {
		return false, err
	}
	return len(v) == 1 && v[0] != nil, nil
}

// Publish queues ev for the writer and returns; it waits only when the
// queue is full (Redis slower than the publishers).
func (b *Bus) Publish(name string, ev bus.Event) error {
	return b.out.put(outItem{topic: name, payload: encode(ev)})
}

// Subscribe registers h for the topic. The first handler of a topic waits
// until Redis has confirmed the subscription, so that every event
// published after Subscribe returns reaches it; a later handler of a live
// topic may also get events already in flight. While the link is down it
// returns at once: the handler gets a Gap when the link is back.
func (b *Bus) Subscribe(name string, h bus.Handler) func() {
	s := &sub{h: h}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return func() {}
	}
	t := b.topics[name]
	if t == nil {
		t = &topic{name: name, ready: make(chan struct{})}
		b.topics[name] = t
		if b.ps == nil {
			close(t.ready) // the reconnection subscribes it
		} else if err := b.subscribeLocked(t); err != nil {
			b.lostLocked(err)
		}
	}
	t.subs = append(t.subs[:len(t.subs):len(t.subs)], s)
	ready := t.ready
	b.mu.Unlock()
	<-ready // closed when live, when the link drops, or on Close
	var once sync.Once
	return func() { once.Do(func() { b.unsubscribe(t, s) }) }
}

func (b *Bus) unsubscribe(t *topic, s *sub) {
	s.gone.Store(true)
	b.mu.Lock()
	defer b.mu.Unlock()
	subs := make([]*sub, 0, len(t.subs))
	for _, o := range t.subs {
		if o != s {
			subs = append(subs, o)
		}
	}
	t.subs = subs
	if len(subs) > 0 || b.topics[t.name] != t {
		return
	}
	delete(b.topics, t.name)
	if b.ps == nil || b.closed {
		return
	}
	ch := b.cfg.Prefix + t.name
	var err error
	if b.sharded {
		err = b.ps.SUnsubscribe(context.Background(), ch)
	} else {
		err = b.ps.Unsubscribe(context.Background(), ch)
	}
	if err != nil {
		b.lostLocked(err)
	}
}

// subscribeLocked sends the (S)SUBSCRIBE of topics and a PING whose pong
// makes them live.
func (b *Bus) subscribeLocked(ts ...*topic) error {
	chans := make([]string, len(ts))
	for i, t := range ts {
		chans[i] = b.cfg.Prefix + t.name
	}
	ctx := context.Background()
	var err error
	if b.sharded {
		err = b.ps.SSubscribe(ctx, chans...)
	} else {
		err = b.ps.Subscribe(ctx, chans...)
	}
	if err != nil {
		return err
	}
	b.tok++
	if err := b.ps.Ping(ctx, pongToken(b.gen, b.tok)); err != nil {
		return err
	}
	b.waiters = append(b.waiters, waiter{token: b.tok, topics: ts})
	return nil
}

func pongToken(gen, tok uint64) string {
	return strconv.FormatUint(gen, 10) + "." + strconv.FormatUint(tok, 10)
}

// connect opens a subscription connection and subscribes every topic on
// it. After a lost link (gap), the topics get a Gap once live again.
func (b *Bus) connect(ctx context.Context, gap bool) error {
	var ps *goredis.PubSub
	if b.sharded {
		ps = b.client.SSubscribe(ctx)
	} else {
		ps = b.client.Subscribe(ctx)
	}
	// Dial before taking the lock: Subscribe calls meanwhile go on as
	// while the link is down.
	if err := ps.Ping(ctx, "dial"); err != nil {
		ps.Close()
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		ps.Close()
		return ErrClosed
	}
	b.gen++
	b.ps, b.tok, b.waiters = ps, 0, nil
	if len(b.topics) == 0 {
		return nil
	}
	ts := make([]*topic, 0, len(b.topics))
	for _, t := range b.topics {
		t.ready = make(chan struct{})
		ts = append(ts, t)
	}
	if err := b.subscribeLocked(ts...); err != nil {
		b.lostLocked(err)
		return err
	}
	b.waiters[len(b.waiters)-1].gap = gap
	return nil
}

// lostLocked drops the subscription connection: every topic stops being
// live and waiting Subscribe calls return. The reader reconnects.
func (b *Bus) lostLocked(err error) {
	if b.ps == nil {
		return
	}
	if !b.closed {
		b.cfg.Log.Warn("redis bus: subscription link lost", "err", err)
	}
	b.ps.Close()
	b.ps, b.waiters = nil, nil
	for _, t := range b.topics {
		t.live = false
		closeOnce(t.ready)
	}
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// read is the subscription connection's reader: it routes messages to the
// dispatcher in arrival order, turns pongs into live topics, and
// reconnects after a lost link.
func (b *Bus) read() {
	defer close(b.readerDone)
	backoff := minBackoff
	for {
		b.mu.RLock()
		ps, gen, closed := b.ps, b.gen, b.closed
		b.mu.RUnlock()
		if closed {
			return
		}
		if ps == nil {
			err := b.connect(b.ctx, true)
			if err == nil {
				b.cfg.Log.Info("redis bus: subscription link back")
				backoff = minBackoff
				continue
			}
			select {
			case <-b.quit:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		err := b.receive(ps, gen)
		b.mu.Lock()
		if b.gen == gen {
			b.lostLocked(err)
		}
		b.mu.Unlock()
	}
}

const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// receive reads ps until it fails.
func (b *Bus) receive(ps *goredis.PubSub, gen uint64) error {
	ctx := b.ctx
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, b.cfg.HealthInterval)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				if err := ps.Ping(ctx, "health"); err != nil {
					return err
				}
				pinged = true
				continue
			}
			return err
		}
		pinged = false
		switch m := msg.(type) {
		case *goredis.Message:
			b.route(m)
		case *goredis.Pong:
			b.pong(gen, m.Payload)
		}
	}
}

func (b *Bus) route(m *goredis.Message) {
	name, ok := strings.CutPrefix(m.Channel, b.cfg.Prefix)
	if !ok {
		return
	}
	b.mu.RLock()
	t := b.topics[name]
	var subs []*sub
	if t != nil && t.live {
		subs = t.subs
	}
	b.mu.RUnlock()
	if len(subs) > 0 {
		b.disp.put(delivery{topic: name, subs: subs, payload: m.Payload})
	}
}

// pong makes the topics of the waiters it answers live; after a lost link
// it queues their Gap ahead of any later event.
func (b *Bus) pong(gen uint64, payload string) {
	g, t, ok := strings.Cut(payload, ".")
	if !ok || g != strconv.FormatUint(gen, 10) {
		return // "dial", "health", or a pong of an older connection
	}
	tok, err := strconv.ParseUint(t, 10, 64)
	if err != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.gen != gen {
		return
	}
	for len(b.waiters) > 0 && b.waiters[0].token <= tok {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		for _, t := range w.topics {
			t.live = true
			closeOnce(t.ready)
			if w.gap && b.topics[t.name] == t && len(t.subs) > 0 {
				b.disp.put(delivery{topic: t.name, subs: t.subs, gap: true})
			}
		}
	}
}

// Close stops the bus: queued events are still handed to Redis (as far as
// it takes them), the subscription connection closes, and handlers are
// not called any more once Close returns. The caller's client stays open.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	if b.ps != nil {
		b.ps.Close()
		b.ps = nil
	}
	for _, t := range b.topics {
		closeOnce(t.ready)
	}
	b.mu.Unlock()
	close(b.quit)
	b.cancel()
	b.out.close()
	<-b.writerDone
	<-b.readerDone
	b.disp.close()
	<-b.dispDone
	return b.pub.Close()
}

package cascade

import (
	"context"
	"sync"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/sfu"
)

// Pool keeps one Edge per channel on this node's SFU, shared by every
// local viewer of the channel: the first Edge call pulls, the last release
// closes. A channel's local room keeps its name while the pull is redone,
// so viewers joined to it get the tracks back when the channel has moved
// to another origin.
type Pool struct {
	sfu    *sfu.SFU
	opts   Options
	prefix string

	mu    sync.Mutex
	pulls map[string]*pooled // by channel key
}

type pooled struct {
	origin   string
	signal   Signal
	refs     int
	ready    chan struct{} // closed once Pull has returned
	edge     *Edge
	err      error
	prev     *pooled // the pull this one replaces, closed before it starts
	released bool    // its last reference went: closing
}

// NewPool makes a pool pulling into local rooms named prefix+channelKey.
func NewPool(local *sfu.SFU, prefix string, o Options) *Pool {
	return &Pool{sfu: local, opts: o, prefix: prefix, pulls: map[string]*pooled{}}
}

// Edge makes sure the channel is pulled from originNode into its local
// room and returns that room, and a channel closed when the pull ends
// (the origin went away, or the last release); release (once per successful call) lets the
// pull go when nobody needs it. A pull whose origin went away, or another
// originNode than the running pull's, pulls again. signal reaches Accept
// on originNode for this channel (a bus request in production); it is
// used when this call starts the pull. The method has the shape of
// rooms.Cascade.
func (p *Pool) Edge(ctx context.Context, originNode, channelKey string, signal Signal) (localRoom string, ended <-chan struct{}, release func(), err error) {
	if originNode == "" || channelKey == "" || signal == nil {
		return "", nil, nil, apperr.Invalidf("origin node, channel and signal are required")
	}
	for {
		p.mu.Lock()
		x := p.pulls[channelKey]
		if x == nil || x.stale(originNode) {
			x = &pooled{origin: originNode, signal: signal, ready: make(chan struct{}), prev: x}
			p.pulls[channelKey] = x
			go p.start(x, channelKey)
		}
		x.refs++
		p.mu.Unlock()
		select {
		case <-x.ready:
		case <-ctx.Done():
			p.release(channelKey, x)
			return "", nil, nil, ctx.Err()
		}
		if x.err != nil {
			p.release(channelKey, x)
			return "", nil, nil, x.err
		}
		p.mu.Lock()
		stale := x.stale(originNode)
		p.mu.Unlock()
		if stale { // ended while we waited: pull again
			p.release(channelKey, x)
			continue
		}
		var once sync.Once
		return p.prefix + channelKey, x.edge.Done(), func() { once.Do(func() { p.release(channelKey, x) }) }, nil
	}
}

// stale reports whether a pull can no longer serve originNode; p.mu is held.
func (x *pooled) stale(originNode string) bool {
	if x.origin != originNode || x.released {
		return true
	}
	select {
	case <-x.ready:
	default:
		return false // still pulling
	}
	if x.err != nil {
		return true
	}
	select {
	case <-x.edge.Done():
		return true
	default:
		return false
	}
}

// start pulls without the caller's context: the pull outlives the request
// that started it.
func (p *Pool) start(x *pooled, channelKey string) {
	if x.prev != nil { // its feeds leave the local room before ours join
		p.closeWhenReady(x.prev)
		x.prev = nil
	}
	x.edge, x.err = Pull(context.Background(), p.sfu, p.prefix+channelKey, x.signal, p.opts)
	close(x.ready)
}

// release drops a reference; the last one closes the pull. The entry
// stays until the Edge has closed, so a pull starting meanwhile waits for
// its feeds to leave the local room.
func (p *Pool) release(channelKey string, x *pooled) {
	p.mu.Lock()
	x.refs--
	last := x.refs == 0 && !x.released
	if last {
		x.released = true
	}
	p.mu.Unlock()
	if !last {
		return
	}
	go func() {
		p.closeWhenReady(x)
		p.mu.Lock()
		if p.pulls[channelKey] == x {
			delete(p.pulls, channelKey)
		}
		p.mu.Unlock()
	}()
}

func (p *Pool) closeWhenReady(x *pooled) {
	<-x.ready
	if x.edge != nil {
		_ = x.edge.Close()
	}
}

// Close ends every pull.
func (p *Pool) Close() {
	p.mu.Lock()
	pulls := p.pulls
	p.pulls = map[string]*pooled{}
	p.mu.Unlock()
	for _, x := range pulls {
		p.closeWhenReady(x)
	}
}

// AcceptFunc answers edges' offers for rooms of the origin SFU, in the
// shape of rooms.Config.EdgeAccept: stop ends that edge's subscription.
func AcceptFunc(origin *sfu.SFU) func(ctx context.Context, room, offer string) (answer string, stop func(), err error) {
	return func(ctx context.Context, room, offer string) (string, func(), error) {
		answer, sub, err := Accept(ctx, origin, room, offer)
		if err != nil {
			return "", nil, err
		}
		return answer, sub.Close, nil
	}
}

package ws

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	gws "github.com/gobwas/ws"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/protocol"
)

const closeInternalError = 1011

// conn is one WebSocket connection. Its reader goroutine (readLoop) lives
// as long as the socket; a writer goroutine (writeLoop) exists only while
// the queue is not empty.
type conn struct {
	srv    *Server
	nc     net.Conn
	raw    syscall.RawConn // nc's socket for non-blocking writes; nil if it has none
	ip     string
	pre    []byte // bytes read past the handshake by the HTTP server (rare)
	resume bool   // ?resume=1: hold conversation events until the first chat:sync
	ipSlot bool   // holds a shared per-IP slot (Config.Slots) to release

	// Reader side only.
	hdr   [gws.MaxHeaderSize]byte
	req   sync.WaitGroup // the request goroutine the reader waits for
	seen  atomic.Uint32  // server tick at the last frame read
	pause time.Duration  // set by a request refused over budget: read nothing for this long

	// Set by authentication (under mu), read-only afterwards.
	id     auth.Identity
	connID string // the connection id in chat:connected; calls address a device by it

	mu          sync.Mutex
	queue       [][]byte // frames to write, shared with other connections: never modified
	queued      int      // bytes in queue
	writing     bool     // a writer goroutine is running
	closing     bool     // a close frame is queued: nothing more is accepted
	dead        bool     // torn down or a write failed
	readerDone  bool     // teardown finished; the last of reader and writer closes the socket
	authed      bool
	acctCounted bool
	announced   bool       // chat.Connected was called: chat.Disconnected is owed
	sync        *syncState // while holding events for chat:sync, or suppressing truncated ones

	// drained (under mu) is what a paced replay waits on; closed when the
	// writer takes the queue or the connection ends.
	drained chan struct{}

	topics []string // guarded by srv.hub.mu
}

// syncState holds live events of conversations being replayed.
type syncState struct {
	holdAll    bool     // ?resume=1 and no request yet: hold every conversation's events
	convs      []string // conversations of the chat:sync in progress
	held       []heldEvent
	heldBytes  int
	suppressed []string // truncated replays: live chat:message dropped until synced again
	// floors holds, per replayed conversation, the last seq replayed: a
	// message committed before the replay read it may still be on its way
	// through the bus, and must not arrive twice. Events of a conversation
	// arrive in seq order, so the first one above the floor removes it.
	floors map[string]int64
}

func (st *syncState) idle() bool {
	return !st.holdAll && len(st.convs) == 0 && len(st.suppressed) == 0 && len(st.floors) == 0
}

type heldEvent struct {
	frame   []byte
	conv    string
	message bool // a chat:message, droppable by seq
	seq     int64
}

// Read reads the socket, first what the HTTP server had buffered.
func (c *conn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		if len(c.pre) == 0 {
			c.pre = nil
		}
		return n, nil
	}
	return c.nc.Read(p)
}

// readLoop reads frames until the socket fails or a close completes. It
// runs each request on a short-lived goroutine and waits for it, so
// requests of a connection stay in order and this goroutine's stack stays
// at its minimum size.
func (c *conn) readLoop() {
	defer c.teardown()
	s := c.srv
	if !c.isAuthed() {
		c.nc.SetReadDeadline(time.Now().Add(s.cfg.AuthTimeout))
	}
	var frag *[]byte // a fragmented message being assembled
	defer func() {
		if frag != nil {
			putBuf(frag)
		}
	}()
	for {
		h, err := gws.ReadHeaderBuffer(c, c.hdr[:])
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !c.isClosing() && !c.isAuthed() {
				c.reject(protocol.CloseUnauthorized, apperr.New(apperr.Unauthorized, apperr.CodeUnauthenticated,
					"no auth frame within %s", s.cfg.AuthTimeout), "")
				c.nc.SetReadDeadline(time.Now().Add(closeGrace))
				continue
			}
			return
		}
		c.seen.Store(s.tick.Load())
		if h.Rsv != 0 || !h.Masked || h.Length < 0 {
			c.closeWith(protocol.CloseProtocolError, true)
			c.drain()
			return
		}
		if h.OpCode.IsControl() {
			if !h.Fin || h.Length > 125 {
				c.closeWith(protocol.CloseProtocolError, true)
				c.drain()
				return
			}
			p := getBuf(int(h.Length))
			if _, err := io.ReadFull(c, *p); err != nil {
				putBuf(p)
				return
			}
			gws.Cipher(*p, h.Mask, 0)
			switch h.OpCode {
			case gws.OpClose:
				putBuf(p)
				c.closeWith(protocol.CloseNormal, false) // echo; a no-op if we closed first
				return
			case gws.OpPing:
				c.enqueue(controlFrame(opPong, *p))
			}
			putBuf(p)
			continue
		}
		switch {
		case h.OpCode == gws.OpContinuation && frag != nil:
		case h.OpCode == gws.OpText && frag == nil:
		case h.OpCode == gws.OpBinary && frag == nil:
			// The protocol is JSON text; RFC 6455 §7.4.1: 1003, a type
			// of data the endpoint cannot accept.
			c.closeWith(protocol.CloseUnsupportedData, true)
			c.drain()
			return
		default:
			c.closeWith(protocol.CloseProtocolError, true)
			c.drain()
			return
		}
		total := h.Length
		if frag != nil {
			total += int64(len(*frag))
		}
		if total > int64(s.cfg.MaxFrameBytes) {
			c.closeWith(protocol.CloseTooBig, true)
			c.drain()
			return
		}
		var p *[]byte
		if frag == nil {
			p = getBuf(int(h.Length))
			if _, err := io.ReadFull(c, *p); err != nil {
				putBuf(p)
				return
			}
			gws.Cipher(*p, h.Mask, 0)
		} else {
			old := len(*frag)
			if cap(*frag) < int(total) {
				np := getBuf(int(total))
				copy(*np, *frag)
				putBuf(frag)
				frag = np
			}
			*frag = (*frag)[:total]
			if _, err := io.ReadFull(c, (*frag)[old:]); err != nil {
				return
			}
			gws.Cipher((*frag)[old:], h.Mask, 0)
		}
		if !h.Fin {
			if frag == nil {
				frag = p
			}
			continue
		}
		if frag != nil {
			p, frag = frag, nil
		}
		if !utf8.Valid(*p) {
			// A text message must be UTF-8 (RFC 6455 §8.1): close 1007.
			putBuf(p)
			c.closeWith(protocol.CloseInvalidPayload, true)
			c.drain()
			return
		}
		if c.isClosing() {
			putBuf(p) // waiting for the client's close frame
			continue
		}
		c.req.Go(func() { c.handle(p) })
		c.req.Wait()
		if c.pause > 0 {
			// Over budget: what the client sends meanwhile waits in its
			// own socket buffer instead of costing us a refusal each.
			time.Sleep(c.pause)
			c.pause = 0
		}
	}
}

// drain discards input until the peer goes away or closeGrace passes,
// letting the queued close frame reach a peer that is still sending.
func (c *conn) drain() {
	c.nc.SetReadDeadline(time.Now().Add(closeGrace))
	p := getBuf(512)
	defer putBuf(p)
	for {
		if _, err := c.Read(*p); err != nil {
			return
		}
	}
}

func (c *conn) isAuthed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.authed
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing || c.dead
}

// teardown runs once, when the reader exits.
func (c *conn) teardown() {
	s := c.srv
	c.mu.Lock()
	c.dead = true
	c.sync = nil
	c.wakeLocked()
	authed, announced, counted := c.authed, c.announced, c.acctCounted
	if c.writing {
		c.nc.SetWriteDeadline(time.Now().Add(closeGrace))
	}
	c.mu.Unlock()
	if authed {
		s.expiry.remove(c, c.id.ExpiresAt)
		s.hub.unregister(c)
		if s.calls != nil {
			s.calls.Disconnected(c.connID)
		}
		if s.rooms != nil {
			s.rooms.Disconnected(c.connID)
		}
	}
	if announced {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.chat.Disconnected(ctx, c.id, c.connID)
		cancel()
	}
	acct := ""
	if counted {
		acct = c.id.AccountID
	}
	s.remove(c, acct)
	c.mu.Lock()
	c.readerDone = true
	w := c.writing
	c.mu.Unlock()
	if !w {
		c.nc.Close()
		s.wg.Done()
	}
}

// enqueue queues a frame for writing.
func (c *conn) enqueue(f []byte) {
	c.mu.Lock()
	c.enqueueLocked(f)
	c.mu.Unlock()
}

func (c *conn) enqueueLocked(f []byte) {
	if c.closing || c.dead {
		return
	}
	if c.queued > 0 && c.queued+len(f)+c.heldBytesLocked() > c.srv.cfg.SendQueueBytes {
		c.slowLocked()
		return
	}
	c.queue = append(c.queue, f)
	c.queued += len(f)
	c.srv.flush.frames.Add(1)
	if !c.writing {
		c.writing = true
		c.srv.flush.push(c)
	}
}

// wakeLocked wakes a replay waiting for the queue to drain (see
// enqueueReplay): the writer took the queue, or the connection is ending.
func (c *conn) wakeLocked() {
	if c.drained != nil {
		close(c.drained)
		c.drained = nil
	}
}

// replayMark is how full a paced replay lets the queue get: a small share
// of the slow-consumer limit, so that live events keep room beside it and
// one blocking write of what is queued fits a slow link's write timeout.
func replayMark(queueBytes int) int { return min(queueBytes/4, 256<<10) }

// enqueueReplay queues a frame of a chat:sync replay, first waiting while
// the queue holds more than replayMark: a backlog goes out as fast as the
// client reads it instead of all at once, which would count as a slow
// consumer (4008). Waking on progress also marks the connection alive,
// since its reader waits for this request and cannot see the client's
// pongs meanwhile. False when the connection is closing or ctx is done:
// the replay stops.
func (c *conn) enqueueReplay(ctx context.Context, f []byte) bool {
	mark := replayMark(c.srv.cfg.SendQueueBytes)
	c.mu.Lock()
	for {
		if c.closing || c.dead {
			c.mu.Unlock()
			return false
		}
		if c.queued == 0 || c.queued+len(f) <= mark {
			c.enqueueLocked(f)
			c.mu.Unlock()
			return true
		}
		if c.drained == nil {
			c.drained = make(chan struct{})
		}
		ch := c.drained
		c.mu.Unlock()
		select {
		case <-ch:
			c.seen.Store(c.srv.tick.Load())
		case <-ctx.Done():
			return false
		}
		c.mu.Lock()
	}
}

func (c *conn) heldBytesLocked() int {
	if c.sync == nil {
		return 0
	}
	return c.sync.heldBytes
}

// slowLocked closes a connection whose queue overflowed: what is queued is
// dropped, a close frame 4008 is queued, and a write in progress gets
// closeGrace to finish. The client resumes with chat:sync.
func (c *conn) slowLocked() {
	c.srv.log.Debug("ws: slow consumer", "ip", c.ip, "user", c.id.UserID, "queued", c.queued)
	c.closeWithLocked(protocol.CloseSlowConsumer, true)
}

// closeWith queues a close frame, after what is queued unless drop is set.
// Nothing more is queued afterwards; the writer sends the close frame and
// gives the reader closeGrace to receive the client's answer.
func (c *conn) closeWith(code int, drop bool) {
	c.mu.Lock()
	c.closeWithLocked(code, drop)
	c.mu.Unlock()
}

func (c *conn) closeWithLocked(code int, drop bool) {
	if c.closing || c.dead {
		return
	}
	if drop {
		clear(c.queue)
		c.queue = c.queue[:0]
		c.queued = 0
	}
	c.sync = nil
	c.wakeLocked()
	f := sharedCloseFrame(code)
	c.queue = append(c.queue, f)
	c.queued += len(f)
	c.closing = true
	if !c.writing {
		c.writing = true
		c.srv.flush.push(c)
	} else if drop {
		c.nc.SetWriteDeadline(time.Now().Add(closeGrace))
	}
}

// writeLoop is the slow path: it writes pending and then the queue in
// batches, one blocking writev per batch with the write deadline, and exits
// when the queue is empty. The flusher starts it for sockets that could not
// take everything at once, and for closing connections.
func (c *conn) writeLoop(pending [][]byte) {
	batch := pending
	for {
		if len(batch) == 0 {
			c.mu.Lock()
			if len(c.queue) == 0 {
				if !c.closing && !c.dead {
					c.nc.SetWriteDeadline(time.Time{}) // back to the flusher's non-blocking writes
				}
				c.finishLocked()
				return
			}
			batch, c.queue = c.queue, batch[:0]
			c.queued = 0
			c.wakeLocked()
			c.mu.Unlock()
		}
		c.mu.Lock()
		d := c.srv.cfg.WriteTimeout
		if c.closing || c.dead {
			d = closeGrace
		}
		c.nc.SetWriteDeadline(time.Now().Add(d))
		c.mu.Unlock()

		bufs := net.Buffers(batch)
		_, err := bufs.WriteTo(c.nc)
		clear(batch)
		batch = batch[:0]
		if err != nil {
			c.writeFailed()
			return
		}
	}
}

// onTick runs at each ping tick: it closes a connection silent for two
// intervals and pings the others. (Token expiry has its own sweep, each
// second: expiries.)
func (c *conn) onTick(tick uint32) {
	if tick-c.seen.Load() > 2 {
		c.nc.Close() // the reader fails and tears down
		return
	}
	c.enqueue(pingFrame)
}

// deliver queues a bus event's frame, unless a chat:sync holds or
// suppresses events of its conversation.
func (c *conn) deliver(f []byte, ev *bus.Event) {
	c.mu.Lock()
	// Under ?resume=1 every event waits for the first chat:sync's reply
	// (presence and calls too); later syncs hold only their conversations.
	if st := c.sync; st != nil && (ev.ConversationID != "" || st.holdAll) && c.interceptLocked(st, f, ev) {
		c.mu.Unlock()
		return
	}
	c.enqueueLocked(f)
	c.mu.Unlock()
}

func (c *conn) interceptLocked(st *syncState, f []byte, ev *bus.Event) bool {
	if fl, ok := st.floors[ev.ConversationID]; ok && ev.Name == protocol.EvMessage {
		if ev.Seq <= fl {
			return true // already replayed
		}
		delete(st.floors, ev.ConversationID)
		if c.missedLocked(fl, ev.Seq) {
			return true
		}
		if st.idle() {
			c.sync = nil
		}
	}
	if st.holdAll || contains(st.convs, ev.ConversationID) {
		if c.closing || c.dead {
			return true
		}
		if c.queued+st.heldBytes+len(f) > c.srv.cfg.SendQueueBytes {
			c.slowLocked()
			return true
		}
		st.held = append(st.held, heldEvent{frame: f, conv: ev.ConversationID, message: ev.Name == protocol.EvMessage, seq: ev.Seq})
		st.heldBytes += len(f)
		return true
	}
	return ev.Name == protocol.EvMessage && contains(st.suppressed, ev.ConversationID)
}

// releaseLocked ends holding: held events are queued in order, except
// chat:message events already replayed (seq ≤ last[conv]) and those of
// truncated conversations, which the client fetches with its next sync.
func (c *conn) releaseLocked(last map[string]int64, truncated []string) {
	st := c.sync
	if st == nil {
		return
	}
	held := st.held
	st.held, st.heldBytes, st.convs, st.holdAll = nil, 0, nil, false
	for _, t := range truncated {
		if !contains(st.suppressed, t) {
			st.suppressed = append(st.suppressed, t)
		}
	}
	for conv, seq := range last {
		if seq > 0 && !contains(truncated, conv) {
			if st.floors == nil {
				st.floors = make(map[string]int64, len(last))
			}
			st.floors[conv] = max(seq, st.floors[conv])
		}
	}
	for _, h := range held {
		if h.message {
			if contains(truncated, h.conv) {
				continue
			}
			if fl, ok := st.floors[h.conv]; ok {
				if h.seq <= fl {
					continue // replayed
				}
				delete(st.floors, h.conv)
				if c.missedLocked(fl, h.seq) {
					return
				}
			}
		}
		c.enqueueLocked(h.frame)
	}
	if st.idle() && c.sync == st {
		c.sync = nil
	}
}

// missedLocked checks the first live message after a replay that ended at
// seq floor: when the hub orders messages (several nodes), it must be
// floor+1. Anything else means a message the bus brought out of order
// before this node's hub had settled the conversation's order was dropped;
// the connection then resyncs (4009) rather than show a gap. One node's
// bus delivers in order and needs no check.
func (c *conn) missedLocked(floor, seq int64) bool {
	if c.srv.hub.hold <= 0 || seq == floor+1 {
		return false
	}
	c.srv.log.Warn("ws: a message is missing after chat:sync, connection resyncs", "user", c.id.UserID, "after", floor, "got", seq)
	c.closeWithLocked(protocol.CloseResync, false)
	return true
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// reject sends an error envelope and closes with code.
func (c *conn) reject(code int, err error, reqID string) {
	c.mu.Lock()
	c.enqueueLocked(errorFrame(reqID, err))
	c.closeWithLocked(code, false)
	c.mu.Unlock()
}

func errTooManyConns(msg string) error {
	return apperr.New(apperr.RateLimited, apperr.CodeTooManyConns, "%s", msg)
}

// errorFrame builds an "error" envelope; internal errors get a generic message.
func errorFrame(reqID string, err error) []byte {
	e := apperr.As(err)
	msg := e.Message
	if e.Kind == apperr.Internal {
		msg = "internal error"
	}
	var retry int64
	if e.RetryAfter > 0 {
		retry = max(1, e.RetryAfter.Milliseconds())
	}
	data, _ := json.Marshal(protocol.Error{Code: e.Code, Message: msg, RetryAfterMS: retry})
	return eventFrame(protocol.EvError, reqID, data)
}

// Package client is a Go client of Parley's WebSocket protocol
// (docs/protocol.md). Tests, `parley bench` and load tools use it.
//
//	c, err := client.Dial(ctx, "ws://localhost:8080/ws", token, nil)
//	if err != nil { ... }
//	defer c.Close()
//	m, err := c.Send(ctx, protocol.SendRequest{ConversationID: id, Text: "hi"})
//	for ev := range c.Events() { ... }
//
// The read path is cheap enough for load tools: one goroutine per
// connection, a bufio reader, one reused payload buffer, and with
// Options.OnFrame no JSON decoding of events at all.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	gws "github.com/gobwas/ws"

	"github.com/parley-chat/parley/protocol"
)

// AuthMethod chooses how Dial presents the token.
type AuthMethod int

const (
	// AuthHeader sends "Authorization: Bearer <token>" (the default).
	AuthHeader AuthMethod = iota
	// AuthSubprotocol offers the subprotocols "parley.v1" and
	// "bearer.<token>", as browsers do.
	AuthSubprotocol
	// AuthFrame sends {"event":"auth","data":{"token":…}} as the first frame.
	AuthFrame
)

// Options configure a connection. The zero value (or nil) is fine.
type Options struct {
	Auth AuthMethod
	// Resume dials with ?resume=1: the server holds conversation events
	// until the first request, which should be Sync; then every missed
	// message arrives once, in order.
	Resume bool
	// OnEvent receives every server event (frames without an id) on the
	// read goroutine; it must not block for long. When nil, events go to
	// the channel returned by Events, and a full channel blocks reading.
	OnEvent func(protocol.Envelope)
	// OnFrame, when set, receives the raw payload of every server event
	// instead of OnEvent/Events, without any JSON decoding (replies to
	// requests are still decoded and matched). payload is valid only during
	// the call. Cursors are not tracked in this mode.
	OnFrame func(payload []byte)
	// OnReset is called for each conversation a chat:sync reply lists in
	// reset: the server's history of it is not the one the cursor came
	// from (its database was restored from a backup). Drop what you hold
	// of the conversation and reload it (History); lastSeq is its newest
	// seq on the server and the connection's cursor from now on. It runs on
	// the read goroutine, after the events before the reply and before any
	// later one; it must not wait for a request of this connection (their
	// replies are read by that goroutine): reload from another goroutine.
	OnReset func(conversationID string, lastSeq int64)
	// EventBuffer is the capacity of the Events channel. [1024]
	EventBuffer int
	// ReadBufferSize and WriteBufferSize size the socket buffers. [16 KiB, 4 KiB]
	ReadBufferSize  int
	WriteBufferSize int
	// MaxFrameBytes refuses server frames bigger than this. [16 MiB]
	MaxFrameBytes int
	// IdleTimeout ends the connection when nothing arrives for this long
	// (0 = never). The server pings every PingInterval (30 s by default),
	// so anything above twice that only fires on a dead link.
	IdleTimeout time.Duration
	// Header adds HTTP headers to the handshake (e.g. Origin).
	Header http.Header
	// NetDial replaces the TCP dialer.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Error is an "error" envelope: a stable Code (see docs/protocol.md) and a
// human Message. Dial returns one when the server refuses the connection;
// then CloseCode holds the close code that followed it, if one arrived.
type Error struct {
	Code      string
	Message   string
	CloseCode int
	// RetryAfter, with rate_limited, is how long until the request would
	// pass (0: not said).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.CloseCode != 0 {
		return fmt.Sprintf("parley: %s: %s (closed %d)", e.Code, e.Message, e.CloseCode)
	}
	return "parley: " + e.Code + ": " + e.Message
}

// CloseError reports that the server closed the connection.
type CloseError struct {
	Code   int // 0 when the socket ended without a close frame
	Reason string
}

func (e *CloseError) Error() string {
	if e.Code == 0 {
		return "parley: connection lost"
	}
	return fmt.Sprintf("parley: connection closed by the server: %d %s", e.Code, e.Reason)
}

// Conn is an authenticated connection. Its methods are safe for concurrent use.
type Conn struct {
	nc  net.Conn
	br  *bufio.Reader
	opt Options

	connected protocol.Connected

	// read side (read goroutine only)
	hdr [gws.MaxHeaderSize]byte
	buf []byte

	wmu  sync.Mutex
	wbuf []byte
	wErr error

	nextID atomic.Uint64

	mu      sync.Mutex
	pending map[string]chan protocol.Envelope
	cursors map[string]int64
	curIDs  map[string]string // the id of the message at each cursor
	syncs   []*syncCollector
	closeCd int
	closeRs string
	readErr error

	events    chan protocol.Envelope
	done      chan struct{}
	closeOnce sync.Once
}

type syncCollector struct {
	convs map[string]int64
	msgs  []protocol.Message
}

// Dial connects to a Parley /ws URL ("ws://host:port/ws"), authenticates
// with token and waits for chat:connected.
func Dial(ctx context.Context, wsURL, token string, opt *Options) (*Conn, error) {
	var o Options
	if opt != nil {
		o = *opt
	}
	if o.EventBuffer <= 0 {
		o.EventBuffer = 1024
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = 16 << 10
	}
	if o.WriteBufferSize <= 0 {
		o.WriteBufferSize = 4 << 10
	}
	if o.MaxFrameBytes <= 0 {
		o.MaxFrameBytes = 16 << 20
	}
	u, err := url.Parse(wsURL)
	if err != nil {
		return nil, err
	}
	if o.Resume {
		q := u.Query()
		q.Set("resume", "1")
		u.RawQuery = q.Encode()
	}
	h := http.Header{}
	for k, v := range o.Header {
		h[k] = v
	}
	d := gws.Dialer{NetDial: o.NetDial}
	switch o.Auth {
	case AuthHeader:
		h.Set("Authorization", "Bearer "+token)
	case AuthSubprotocol:
		d.Protocols = []string{protocol.Subprotocol, protocol.BearerSubprotocol + token}
	}
	if len(h) > 0 {
		d.Header = gws.HandshakeHeaderHTTP(h)
	}
	nc, br, _, err := d.Dial(ctx, u.String())
	if err != nil {
		return nil, err
	}
	var r io.Reader = nc
	if br != nil {
		if n := br.Buffered(); n > 0 {
			pre := make([]byte, n)
			br.Read(pre)
			r = io.MultiReader(bytes.NewReader(pre), nc)
		}
		gws.PutReader(br)
	}
	c := &Conn{
		nc: nc, br: bufio.NewReaderSize(r, o.ReadBufferSize), opt: o,
		wbuf:    make([]byte, 0, o.WriteBufferSize),
		pending: make(map[string]chan protocol.Envelope),
		cursors: make(map[string]int64),
		curIDs:  make(map[string]string),
		done:    make(chan struct{}),
	}
	if o.OnEvent == nil && o.OnFrame == nil {
		c.events = make(chan protocol.Envelope, o.EventBuffer)
	}
	if err := c.handshake(ctx, token); err != nil {
		nc.Close()
		return nil, err
	}
	go c.readLoop()
	return c, nil
}

// handshake authenticates (with a frame if asked) and reads until
// chat:connected, an error or a close.
func (c *Conn) handshake(ctx context.Context, token string) error {
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetDeadline(dl)
	} else {
		c.nc.SetDeadline(time.Now().Add(30 * time.Second))
	}
	defer c.nc.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if c.opt.Auth == AuthFrame {
		b, _ := json.Marshal(protocol.Envelope{Event: protocol.EvAuth, ID: "auth", Data: mustJSON(map[string]string{"token": token})})
		if err := c.WriteText(b); err != nil {
			return err
		}
	}
	var refused *Error
	for {
		op, p, err := c.readFrame()
		if err != nil {
			if refused != nil {
				return refused
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		switch op {
		case gws.OpPing:
			c.writeFrame(gws.OpPong, p)
		case gws.OpClose:
			code, reason := parseClose(p)
			c.writeFrame(gws.OpClose, p)
			if refused != nil {
				refused.CloseCode = code
				return refused
			}
			return &CloseError{Code: code, Reason: reason}
		case gws.OpText, gws.OpBinary:
			env, err := protocol.DecodeEnvelope(p)
			if err != nil {
				return fmt.Errorf("parley: bad frame from server: %w", err)
			}
			switch env.Event {
			case protocol.EvConnected:
				return json.Unmarshal(env.Data, &c.connected)
			case protocol.EvError:
				refused = decodeError(env.Data)
				// read on for the close code
			}
		}
	}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func decodeError(data []byte) *Error {
	var pe protocol.Error
	json.Unmarshal(data, &pe)
	return &Error{Code: pe.Code, Message: pe.Message, RetryAfter: time.Duration(pe.RetryAfterMS) * time.Millisecond}
}

func parseClose(p []byte) (int, string) {
	if len(p) < 2 {
		return 1005, "" // no status
	}
	return int(binary.BigEndian.Uint16(p)), string(p[2:])
}

// Connected returns the data of chat:connected.
func (c *Conn) Connected() protocol.Connected { return c.connected }

// Events returns the channel of server events (nil when Options.OnEvent or
// OnFrame is set). It is closed when the connection ends.
func (c *Conn) Events() <-chan protocol.Envelope { return c.events }

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// CloseCode returns the close code the server sent, or 0.
func (c *Conn) CloseCode() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCd
}

// Cursors returns the highest chat:message seq seen per conversation: pass
// it to Sync after reconnecting.
func (c *Conn) Cursors() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int64, len(c.cursors))
	for k, v := range c.cursors {
		m[k] = v
	}
	return m
}

// CursorIDs returns, per conversation of Cursors, the id of the message at
// the cursor's seq (absent after a reset until a newer message arrives):
// pass it to SyncWith with the cursors, so that the server can recognize a
// cursor from another history.
func (c *Conn) CursorIDs() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]string, len(c.curIDs))
	for k, v := range c.curIDs {
		m[k] = v
	}
	return m
}

// applyResets moves the cursor of every conversation a chat:sync reply
// resets to the server's newest seq, before any later event is read.
func (c *Conn) applyResets(data []byte) {
	var r protocol.SyncReply
	if json.Unmarshal(data, &r) != nil || len(r.Reset) == 0 {
		return
	}
	c.mu.Lock()
	for _, conv := range r.Reset {
		c.cursors[conv] = r.Seqs[conv]
		delete(c.curIDs, conv)
	}
	c.mu.Unlock()
	if c.opt.OnReset != nil {
		for _, conv := range r.Reset {
			c.opt.OnReset(conv, r.Seqs[conv])
		}
	}
}

// Close sends a close frame, waits briefly for the server's answer and
// closes the socket.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.writeFrame(gws.OpClose, []byte{0x03, 0xE8}) // 1000
		c.nc.SetReadDeadline(time.Now().Add(time.Second))
	})
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
	}
	c.nc.Close()
	<-c.done
	return nil
}

// Kill closes the socket without a close handshake (tests: a dropped link).
func (c *Conn) Kill() {
	c.nc.Close()
	<-c.done
}

// readFrame reads one whole message (assembling fragments) into the
// reused buffer; the payload is valid until the next call.
func (c *Conn) readFrame() (gws.OpCode, []byte, error) {
	var op gws.OpCode
	n := 0
	for {
		h, err := gws.ReadHeaderBuffer(c.br, c.hdr[:])
		if err != nil {
			return 0, nil, err
		}
		if h.Length < 0 || int64(n)+h.Length > int64(c.opt.MaxFrameBytes) {
			return 0, nil, fmt.Errorf("parley: server frame of %d bytes is over the limit", h.Length)
		}
		if h.OpCode.IsControl() {
			p := make([]byte, h.Length)
			if _, err := io.ReadFull(c.br, p); err != nil {
				return 0, nil, err
			}
			if h.Masked {
				gws.Cipher(p, h.Mask, 0)
			}
			return h.OpCode, p, nil
		}
		if h.OpCode != gws.OpContinuation {
			op = h.OpCode
		}
		end := n + int(h.Length)
		if cap(c.buf) < end {
			nb := make([]byte, end, max(end, 2*cap(c.buf), 4096))
			copy(nb, c.buf[:n])
			c.buf = nb
		}
		c.buf = c.buf[:end]
		if _, err := io.ReadFull(c.br, c.buf[n:end]); err != nil {
			return 0, nil, err
		}
		if h.Masked {
			gws.Cipher(c.buf[n:end], h.Mask, 0)
		}
		n = end
		if h.Fin {
			return op, c.buf[:n], nil
		}
	}
}

func (c *Conn) readLoop() {
	var err error
	defer func() {
		c.mu.Lock()
		if c.readErr == nil {
			c.readErr = err
		}
		for id, ch := range c.pending {
			close(ch)
			delete(c.pending, id)
		}
		c.mu.Unlock()
		c.nc.Close()
		if c.events != nil {
			close(c.events)
		}
		close(c.done)
	}()
	for {
		var op gws.OpCode
		var p []byte
		if c.opt.IdleTimeout > 0 {
			c.nc.SetReadDeadline(time.Now().Add(c.opt.IdleTimeout))
		}
		op, p, err = c.readFrame()
		if err != nil {
			return
		}
		switch op {
		case gws.OpPing:
			c.writeFrame(gws.OpPong, p)
		case gws.OpClose:
			code, reason := parseClose(p)
			c.mu.Lock()
			c.closeCd, c.closeRs = code, reason
			c.mu.Unlock()
			c.closeOnce.Do(func() { c.writeFrame(gws.OpClose, p[:min(len(p), 2)]) })
			err = &CloseError{Code: code, Reason: reason}
			return
		case gws.OpText, gws.OpBinary:
			c.dispatch(p)
		}
	}
}

// isReply reports whether a frame carries an id: the server writes
// {"event":"…","id":…} for replies and {"event":"…","data":…} for events.
func isReply(p []byte) bool {
	const pre = `{"event":"`
	if len(p) < len(pre) || string(p[:len(pre)]) != pre {
		return true // not in the server's usual form: decode it
	}
	for i := len(pre); i < len(p); i++ {
		if p[i] == '"' {
			rest := p[i+1:]
			return len(rest) >= 6 && string(rest[:6]) == `,"id":`
		}
	}
	return true
}

func (c *Conn) dispatch(p []byte) {
	if c.opt.OnFrame != nil && !isReply(p) {
		c.opt.OnFrame(p)
		return
	}
	env, err := protocol.DecodeEnvelope(p)
	if err != nil {
		return
	}
	if env.ID != "" {
		c.mu.Lock()
		ch := c.pending[env.ID]
		delete(c.pending, env.ID)
		c.mu.Unlock()
		if ch != nil {
			if env.Event == protocol.EvSync {
				c.applyResets(env.Data)
			}
			ch <- env
			return
		}
		// not ours (a frame written with WriteText): an event like any other
	}
	if env.Event == protocol.EvMessage {
		var m protocol.Message
		if json.Unmarshal(env.Data, &m) == nil {
			c.mu.Lock()
			if m.Seq > c.cursors[m.ConversationID] {
				c.cursors[m.ConversationID] = m.Seq
				c.curIDs[m.ConversationID] = m.ID
			}
			for _, s := range c.syncs {
				if _, ok := s.convs[m.ConversationID]; ok {
					s.msgs = append(s.msgs, m)
				}
			}
			c.mu.Unlock()
		}
	}
	if c.opt.OnEvent != nil {
		c.opt.OnEvent(env)
	} else if c.events != nil {
		c.events <- env
	}
}

// WriteText sends one text frame as is (tests and tools; a request needs an id).
func (c *Conn) WriteText(p []byte) error { return c.writeFrame(gws.OpText, p) }

// writeFrame writes one masked frame.
func (c *Conn) writeFrame(op gws.OpCode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wErr != nil {
		return c.wErr
	}
	var mask [4]byte
	binary.LittleEndian.PutUint32(mask[:], rand.Uint32())
	b := c.wbuf[:0]
	b = append(b, 0x80|byte(op))
	switch n := len(p); {
	case n <= 125:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, mask[:]...)
	start := len(b)
	b = append(b, p...)
	gws.Cipher(b[start:], mask, 0)
	if cap(b) <= c.opt.WriteBufferSize {
		c.wbuf = b[:0]
	}
	c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := c.nc.Write(b)
	if err != nil {
		c.wErr = err
	}
	return err
}

// ErrClosed is returned by requests on a closed connection (wrapped with
// the reason, often a *CloseError).
var ErrClosed = errors.New("parley: connection closed")

func (c *Conn) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readErr != nil {
		return fmt.Errorf("%w: %w", ErrClosed, c.readErr)
	}
	return ErrClosed
}

// Request sends a request and waits for its reply, decoding the reply's
// data into reply (which may be nil). An "error" reply is returned as *Error.
func (c *Conn) Request(ctx context.Context, event string, data any, reply any) error {
	env, err := c.request(ctx, event, data)
	if err != nil {
		return err
	}
	if env.Event == protocol.EvError {
		return decodeError(env.Data)
	}
	if reply != nil && len(env.Data) > 0 {
		return json.Unmarshal(env.Data, reply)
	}
	return nil
}

func (c *Conn) request(ctx context.Context, event string, data any) (protocol.Envelope, error) {
	id := strconv.FormatUint(c.nextID.Add(1), 36)
	var raw json.RawMessage
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return protocol.Envelope{}, err
		}
		raw = b
	}
	b, err := json.Marshal(protocol.Envelope{Event: event, ID: id, Data: raw})
	if err != nil {
		return protocol.Envelope{}, err
	}
	ch := make(chan protocol.Envelope, 1)
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return protocol.Envelope{}, c.closedErr()
	default:
	}
	c.pending[id] = ch
	c.mu.Unlock()
	if err := c.WriteText(b); err != nil {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return protocol.Envelope{}, fmt.Errorf("%w: %w", ErrClosed, err)
	}
	select {
	case env, ok := <-ch:
		if !ok {
			return protocol.Envelope{}, c.closedErr()
		}
		return env, nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return protocol.Envelope{}, ctx.Err()
	}
}

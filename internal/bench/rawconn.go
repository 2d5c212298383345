package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/parley-chat/parley/protocol"
)

// rawConn is a minimal WebSocket client written on github.com/gobwas/ws:
// one reading goroutine with a small reusable buffer, writes under a mutex.
// It exists so the load side stays cheap when it holds tens of thousands of
// sockets, and as a fallback when the Go client is not built.
type rawConn struct {
	nc      net.Conn
	br      *bufio.Reader
	onFrame func([]byte)

	wmu  sync.Mutex
	hb   bytes.Buffer
	wbuf []byte

	nextID  atomic.Uint64
	mu      sync.Mutex
	pending map[string]chan reply
	closed  bool
	done    chan struct{}
}

type reply struct {
	env protocol.Envelope
	err error
}

var _ conn = (*rawConn)(nil)

// rawDialer dials wsURL with the token in the Authorization header.
func rawDialer(wsURL string) dialer {
	return func(ctx context.Context, token string, onFrame func([]byte)) (conn, error) {
		d := ws.Dialer{
			Header:          ws.HandshakeHeaderHTTP(http.Header{"Authorization": {"Bearer " + token}}),
			ReadBufferSize:  1024,
			WriteBufferSize: 1024,
		}
		nc, br, _, err := d.Dial(ctx, wsURL)
		if err != nil {
			return nil, err
		}
		if br == nil {
			br = bufio.NewReaderSize(nc, 8192)
		}
		c := &rawConn{nc: nc, br: br, pending: map[string]chan reply{}, done: make(chan struct{})}
		// The first frame must be chat:connected.
		if dl, ok := ctx.Deadline(); ok {
			nc.SetReadDeadline(dl)
		}
		var buf []byte
		for {
			op, b, err := c.readFrame(buf)
			if err != nil {
				nc.Close()
				return nil, fmt.Errorf("waiting for %s: %w", protocol.EvConnected, err)
			}
			buf = b[:0]
			if op == ws.OpClose {
				code, reason := ws.ParseCloseFrameData(b)
				nc.Close()
				return nil, fmt.Errorf("closed before %s: %d %s", protocol.EvConnected, code, reason)
			}
			if op != ws.OpText {
				continue
			}
			env, err := protocol.DecodeEnvelope(b)
			if err != nil {
				nc.Close()
				return nil, fmt.Errorf("bad first frame: %w", err)
			}
			if env.Event == protocol.EvConnected {
				break
			}
			if env.Event == protocol.EvError {
				nc.Close()
				return nil, fmt.Errorf("refused: %s", env.Data)
			}
		}
		nc.SetReadDeadline(time.Time{})
		c.onFrame = onFrame
		go c.readLoop(buf)
		return c, nil
	}
}

// readFrame reads one whole message (joining fragments) into buf.
func (c *rawConn) readFrame(buf []byte) (ws.OpCode, []byte, error) {
	var op ws.OpCode
	for {
		h, err := readHeader(c.br)
		if err != nil {
			return 0, nil, err
		}
		if h.Length > 16<<20 {
			return 0, nil, fmt.Errorf("frame of %d bytes", h.Length)
		}
		n := len(buf)
		if cap(buf)-n < int(h.Length) {
			nb := make([]byte, n, n+int(h.Length)+512)
			copy(nb, buf)
			buf = nb
		}
		buf = buf[:n+int(h.Length)]
		if _, err := io.ReadFull(c.br, buf[n:]); err != nil {
			return 0, nil, err
		}
		if h.Masked {
			ws.Cipher(buf[n:], h.Mask, 0)
		}
		if h.OpCode.IsControl() {
			if h.OpCode == ws.OpPing {
				c.write(ws.OpPong, buf[n:])
				buf = buf[:n]
				continue
			}
			if h.OpCode == ws.OpPong {
				buf = buf[:n]
				continue
			}
			return h.OpCode, buf[n:], nil // close
		}
		if h.OpCode != ws.OpContinuation {
			op = h.OpCode
		}
		if h.Fin {
			return op, buf, nil
		}
	}
}

func (c *rawConn) readLoop(buf []byte) {
	defer c.shutdown()
	for {
		op, b, err := c.readFrame(buf[:0])
		if err != nil || op == ws.OpClose {
			return
		}
		if cap(b) > 64<<10 {
			buf = nil // do not keep a huge buffer for an idle socket
		} else {
			buf = b[:0]
		}
		if op != ws.OpText {
			continue
		}
		if c.onFrame != nil {
			c.onFrame(b)
		}
		// Replies carry our request id, which is "r<number>"; events do not
		// have an envelope id. Only then is the frame decoded.
		if !hasReplyID(b) {
			continue
		}
		env, err := protocol.DecodeEnvelope(b)
		if err != nil || env.ID == "" {
			continue
		}
		c.mu.Lock()
		ch := c.pending[env.ID]
		delete(c.pending, env.ID)
		c.mu.Unlock()
		if ch != nil {
			env.Data = append(json.RawMessage(nil), env.Data...)
			ch <- reply{env: env}
		}
	}
}

// hasReplyID looks for `"id":"r` outside data: the envelope id comes before
// data, so it is enough to look before the first `"data":`.
func hasReplyID(b []byte) bool {
	head := b
	if i := indexOf(b, `"data":`); i >= 0 {
		head = b[:i]
	}
	return indexOf(head, `"id":"r`) >= 0
}

func indexOf(b []byte, s string) int {
	n := len(s)
outer:
	for i := 0; i+n <= len(b); i++ {
		for j := 0; j < n; j++ {
			if b[i+j] != s[j] {
				continue outer
			}
		}
		return i
	}
	return -1
}

func (c *rawConn) shutdown() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.done)
		for id, ch := range c.pending {
			ch <- reply{err: errClosed}
			delete(c.pending, id)
		}
	}
	c.mu.Unlock()
	c.nc.Close()
}

// write sends one masked frame.
func (c *rawConn) write(op ws.OpCode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(p)), Masked: true, Mask: ws.NewMask()}
	c.hb.Reset()
	if err := ws.WriteHeader(&c.hb, h); err != nil {
		return err
	}
	c.wbuf = append(c.wbuf[:0], c.hb.Bytes()...)
	start := len(c.wbuf)
	c.wbuf = append(c.wbuf, p...)
	ws.Cipher(c.wbuf[start:], h.Mask, 0)
	_, err := c.nc.Write(c.wbuf)
	if cap(c.wbuf) > 16<<10 {
		c.wbuf = nil
	}
	return err
}

func (c *rawConn) Request(ctx context.Context, event string, data any) (json.RawMessage, error) {
	id := "r" + strconv.FormatUint(c.nextID.Add(1), 10)
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	frame, err := json.Marshal(protocol.Envelope{Event: event, ID: id, Data: raw})
	if err != nil {
		return nil, err
	}
	ch := make(chan reply, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errClosed
	}
	c.pending[id] = ch
	c.mu.Unlock()
	if err := c.write(ws.OpText, frame); err != nil {
		c.forget(id)
		return nil, err
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		if r.env.Event == protocol.EvError {
			var e protocol.Error
			json.Unmarshal(r.env.Data, &e)
			return nil, &replyError{e: e}
		}
		return r.env.Data, nil
	case <-ctx.Done():
		c.forget(id)
		return nil, ctx.Err()
	}
}

func (c *rawConn) forget(id string) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

func (c *rawConn) Close() error {
	c.write(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	c.shutdown()
	return nil
}

// readHeader parses a frame header straight from the buffered reader
// (ws.ReadHeader allocates per frame, which shows at 600k frames/s).
func readHeader(br *bufio.Reader) (ws.Header, error) {
	var h ws.Header
	b, err := br.Peek(2)
	if err != nil {
		return h, err
	}
	h.Fin = b[0]&0x80 != 0
	h.Rsv = (b[0] & 0x70) >> 4
	h.OpCode = ws.OpCode(b[0] & 0x0f)
	h.Masked = b[1]&0x80 != 0
	n := int(b[1] & 0x7f)
	size := 2
	switch n {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if h.Masked {
		size += 4
	}
	if b, err = br.Peek(size); err != nil {
		return h, err
	}
	rest := b[2:]
	switch n {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
	case 127:
		h.Length = int64(binary.BigEndian.Uint64(rest))
		rest = rest[8:]
	default:
		h.Length = int64(n)
	}
	if h.Masked {
		copy(h.Mask[:], rest)
	}
	br.Discard(size)
	return h, nil
}

package ws

import (
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// flusher writes queued frames from a few goroutines (one per core) with
// non-blocking writev, instead of a goroutine per connection per batch.
// While the flushers work through the connections that have something to
// send, more frames pile up on the ones not reached yet, so under load one
// writev carries many frames. A socket that cannot take everything at once
// is handed to a goroutine of its own that waits for it with the write
// deadline (writeLoop): a slow reader never holds a flusher.
type flusher struct {
	mu      sync.Mutex
	cond    sync.Cond
	ready   []*conn // connections with c.writing set and frames to write
	head    int
	waiting int
	stopped bool
	wg      sync.WaitGroup
	workers int
	frames  atomic.Int64 // frames queued so far, for the load estimate
	// Under heavy fan-out (over coalesceRate frames/s) a flusher waits
	// coalesceDelay before writing what it took, so that each writev
	// carries many frames instead of one or two: this server and its
	// clients pay per system call, not per byte. Below that rate it writes
	// at once and adds no latency. Measured in BENCHMARKS.md.
	coalesceRate  float64
	coalesceDelay time.Duration
}

// rateWindow is the shortest span the delivery rate is measured over.
const rateWindow = 100 * time.Millisecond

func (f *flusher) start(rate float64, delay time.Duration) {
	f.coalesceRate, f.coalesceDelay = rate, delay
	f.cond.L = &f.mu
	f.workers = max(1, runtime.GOMAXPROCS(0))
	for range f.workers {
		f.wg.Add(1)
		go f.work()
	}
}

// push schedules c; the caller has set c.writing under c.mu.
func (f *flusher) push(c *conn) {
	f.mu.Lock()
	f.ready = append(f.ready, c)
	if f.waiting > 0 {
		f.cond.Signal()
	}
	f.mu.Unlock()
}

// take returns a share of the ready connections, blocking while there are
// none; nil once stopped.
func (f *flusher) take(buf []*conn) []*conn {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.head == len(f.ready) {
		if f.stopped {
			return nil
		}
		f.waiting++
		f.cond.Wait()
		f.waiting--
	}
	n := len(f.ready) - f.head
	share := max(8, n/f.workers)
	share = min(share, n, 256)
	buf = append(buf[:0], f.ready[f.head:f.head+share]...)
	clear(f.ready[f.head : f.head+share])
	f.head += share
	if f.head == len(f.ready) {
		f.ready, f.head = f.ready[:0], 0
	} else if f.head > 4096 && f.head > len(f.ready)/2 {
		m := copy(f.ready, f.ready[f.head:])
		clear(f.ready[m:])
		f.ready, f.head = f.ready[:m], 0
	}
	return buf
}

func (f *flusher) work() {
	defer f.wg.Done()
	var batch []*conn
	var frames [][]byte
	// The rate is measured over windows of at least rateWindow, so that
	// one message fanned out to a thousand members (a burst of a thousand
	// frames in a millisecond) does not count as heavy load.
	winAt, winN, rate := time.Now(), f.frames.Load(), 0.0
	for {
		batch = f.take(batch)
		if batch == nil {
			return
		}
		if now := time.Now(); now.Sub(winAt) >= rateWindow {
			n := f.frames.Load()
			rate = float64(n-winN) / now.Sub(winAt).Seconds()
			winAt, winN = now, n
		}
		if f.coalesceDelay > 0 && rate > f.coalesceRate {
			time.Sleep(f.coalesceDelay)
		}
		for i, c := range batch {
			frames = c.flushOnce(frames)
			batch[i] = nil
		}
	}
}

func (f *flusher) stop() {
	f.mu.Lock()
	f.stopped = true
	f.cond.Broadcast()
	f.mu.Unlock()
	f.wg.Wait()
}

// flushOnce writes what c has queued without blocking. Left-overs go to a
// writeLoop goroutine; more frames queued meanwhile put c back in line.
// frames is scratch space, returned for reuse.
func (c *conn) flushOnce(frames [][]byte) [][]byte {
	c.mu.Lock()
	if len(c.queue) == 0 {
		c.finishLocked() // unlocks
		return frames
	}
	if c.raw == nil || c.closing || c.dead {
		// No raw socket (TLS, tests), or closing with its deadlines: the
		// blocking writer handles it.
		c.mu.Unlock()
		go c.writeLoop(nil)
		return frames
	}
	frames, c.queue = c.queue, frames[:0]
	c.queued = 0
	c.wakeLocked()
	c.mu.Unlock()

	rest, err := c.writeNonBlocking(frames)
	if err != nil {
		clear(frames)
		c.writeFailed()
		return frames[:0]
	}
	if len(rest) > 0 {
		// The socket is full: wait for it on a goroutine of this
		// connection's own, which then drains the queue as before.
		pending := append([][]byte(nil), rest...)
		clear(frames)
		go c.writeLoop(pending)
		return frames[:0]
	}
	clear(frames)
	c.mu.Lock()
	if len(c.queue) > 0 {
		c.mu.Unlock()
		c.srv.flush.push(c) // more arrived: to the back of the line, fairly
		return frames[:0]
	}
	c.finishLocked()
	return frames[:0]
}

// maxIOV is the most buffers one writev takes (IOV_MAX on Linux).
const maxIOV = 1024

// writeNonBlocking writes as much of frames as the socket takes now and
// returns what is left (nil when everything went out).
func (c *conn) writeNonBlocking(frames [][]byte) ([][]byte, error) {
	for len(frames) > 0 {
		chunk := frames[:min(len(frames), maxIOV)]
		want := totalLen(chunk)
		var n int
		var werr error
		err := c.raw.Write(func(fd uintptr) bool {
			n, werr = unix.Writev(int(fd), chunk)
			for werr == unix.EINTR {
				n, werr = unix.Writev(int(fd), chunk)
			}
			return true // never wait here: that is writeLoop's job
		})
		switch {
		case err != nil:
			return nil, err
		case werr == unix.EAGAIN:
			return frames, nil
		case werr != nil:
			return nil, werr
		}
		frames = advance(frames, n)
		if n < want {
			return frames, nil // the socket buffer is full
		}
	}
	return nil, nil
}

// advance drops the first n bytes of bufs, cutting into a buffer if needed
// (the shared frame itself is never modified: only the slice header is).
func advance(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if n > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}

func totalLen(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}

// rawConn returns the socket for non-blocking writes, or nil.
func rawConn(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// finishLocked ends a writing turn with an empty queue; it unlocks c.mu.
func (c *conn) finishLocked() {
	c.writing = false
	closed, dead, done := c.closing, c.dead, c.readerDone
	if cap(c.queue) > 16 {
		c.queue = nil // do not pin a big array on an idle connection
	}
	c.mu.Unlock()
	switch {
	case dead:
		c.nc.Close()
	case closed: // the close frame went out: wait a little for the answer
		c.nc.SetReadDeadline(time.Now().Add(closeGrace))
	}
	if done {
		c.srv.wg.Done()
	}
}

// writeFailed tears down the writing side after a failed write.
func (c *conn) writeFailed() {
	c.mu.Lock()
	c.dead = true
	clear(c.queue)
	c.queue, c.queued, c.writing = nil, 0, false
	c.wakeLocked()
	done := c.readerDone
	c.mu.Unlock()
	c.nc.Close()
	if done {
		c.srv.wg.Done()
	}
}

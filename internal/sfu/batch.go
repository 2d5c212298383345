package sfu

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// batchSize is how many datagrams one sendmmsg carries at most.
const batchSize = 64

// batchConn is the SFU's UDP socket as the ICE mux sees it. Outside a
// fan-out every write goes straight to the kernel. While a fan-out runs
// (between hold and release) writes are copied into a queue and sent
// together, with one sendmmsg system call where the platform has it, when
// the fan-out ends or the queue is full: one packet to N subscribers costs
// one system call instead of N. Writes from other goroutines during a
// fan-out join the batch; they wait at most for that fan-out to end.
type batchConn struct {
	conn *net.UDPConn

	mu    sync.Mutex
	holds int
	n     int
	lens  [batchSize]int
	addrs [batchSize]netip.AddrPort
	bufs  [batchSize][maxPacket]byte
	sys   batchSys // platform state for sendmmsg

	flushes, batched uint64 // counts, for tests and benchmarks
}

var _ net.PacketConn = (*batchConn)(nil)

func newBatchConn(conn *net.UDPConn) *batchConn {
	c := &batchConn{conn: conn}
	c.sys.init(c)
	return c
}

// packetConn is what the ICE mux should use: the batchConn, or with
// batching off (noBatch) the bare socket.
func (c *batchConn) packetConn() net.PacketConn {
	if noBatch {
		return c.conn
	}
	return c
}

// hold starts a fan-out: writes are queued until the matching release.
func (c *batchConn) hold() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.holds++
	c.mu.Unlock()
}

// release ends a fan-out and sends what is queued.
func (c *batchConn) release() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.holds--
	c.flushLocked()
	c.mu.Unlock()
}

// WriteToAddrPort is what the ICE mux calls for every datagram.
func (c *batchConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	c.mu.Lock()
	if c.holds == 0 || len(b) > maxPacket {
		c.mu.Unlock()
		return c.conn.WriteToUDPAddrPort(b, addr)
	}
	if c.n == batchSize {
		c.flushLocked()
	}
	i := c.n
	c.lens[i] = copy(c.bufs[i][:], b)
	c.addrs[i] = addr
	c.n++
	c.mu.Unlock()
	return len(b), nil
}

// flushLocked sends the queue. Errors are those of UDP: the datagram is
// dropped, as the network might have. c.mu is held.
func (c *batchConn) flushLocked() {
	if c.n == 0 {
		return
	}
	c.sys.send(c)
	c.flushes++
	c.batched += uint64(c.n)
	c.n = 0
}

// sendEach is the fallback: one system call per queued datagram.
func (c *batchConn) sendEach(from int) {
	for i := from; i < c.n; i++ {
		_, _ = c.conn.WriteToUDPAddrPort(c.bufs[i][:c.lens[i]], c.addrs[i])
	}
}

func (c *batchConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.conn.ReadFromUDPAddrPort(b)
}

func (c *batchConn) ReadFrom(b []byte) (int, net.Addr, error) { return c.conn.ReadFrom(b) }

func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if a, ok := addr.(*net.UDPAddr); ok {
		return c.WriteToAddrPort(b, a.AddrPort())
	}
	return c.conn.WriteTo(b, addr)
}

func (c *batchConn) Close() error                       { return c.conn.Close() }
func (c *batchConn) LocalAddr() net.Addr                { return c.conn.LocalAddr() }
func (c *batchConn) SetDeadline(t time.Time) error      { return c.conn.SetDeadline(t) }
func (c *batchConn) SetReadDeadline(t time.Time) error  { return c.conn.SetReadDeadline(t) }
func (c *batchConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

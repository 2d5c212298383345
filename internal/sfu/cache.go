package sfu

import (
	"sync"

	"github.com/pion/rtp"
)

// maxPacket is the largest RTP packet we read: pion's receive MTU is 1460.
const maxPacket = 1500

// slot holds one received packet: the bytes as read and the header parsed
// from them. Payload points into buf.
type slot struct {
	buf   [maxPacket]byte
	pkt   rtp.Packet
	valid bool
}

// packetCache keeps the last len(slots) packets of one publisher stream, by
// sequence number, to answer subscribers' NACKs.
//
// The publisher's read loop is the only writer: it reads into spare, then
// commit swaps spare into the ring, so a packet is never written while it is
// in the ring. Readers copy out under mu. The writer may use the packet it
// just committed without the lock until its next commit: only it replaces
// ring entries.
type packetCache struct {
	mu    sync.Mutex
	slots []*slot
	mask  uint16
	spare *slot
	top   uint16 // highest sequence number committed
	any   bool
}

// newPacketCache makes a cache of size packets; size is a power of two.
func newPacketCache(size int) *packetCache {
	c := &packetCache{slots: make([]*slot, size), mask: uint16(size - 1), spare: &slot{}}
	for i := range c.slots {
		c.slots[i] = &slot{}
	}
	return c
}

// commit puts the spare slot, holding a freshly parsed packet, into the ring
// and returns it; the evicted slot becomes the next spare. A packet too old
// for the ring is not cached, and commit returns it all the same.
func (c *packetCache) commit() *slot {
	s := c.spare
	seq := s.pkt.SequenceNumber
	c.mu.Lock()
	if c.any && seqBefore(seq, c.top) && c.top-seq > c.mask {
		c.mu.Unlock()
		return s // too old to keep; the caller still forwards it
	}
	if !c.any || seqBefore(c.top, seq) {
		c.top, c.any = seq, true
	}
	i := seq & c.mask
	old := c.slots[i]
	s.valid = true
	c.slots[i] = s
	old.valid = false
	c.spare = old
	c.mu.Unlock()
	return s
}

// get copies the payload of packet seq into dst and returns its length,
// timestamp and marker bit; ok is false if the packet is no longer cached.
func (c *packetCache) get(seq uint16, dst []byte) (n int, ts uint32, marker bool, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.slots[seq&c.mask]
	if !s.valid || s.pkt.SequenceNumber != seq || len(s.pkt.Payload) > len(dst) {
		return 0, 0, false, false
	}
	n = copy(dst, s.pkt.Payload)
	return n, s.pkt.Timestamp, s.pkt.Marker, true
}

// seqBefore reports whether sequence number a comes before b (RFC 1982).
func seqBefore(a, b uint16) bool { return a != b && b-a < 0x8000 }

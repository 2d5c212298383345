package record

import "time"

// packet is a WriteRTP packet copied out of the caller's buffer: only what
// the writer needs, in a buffer recycled through packetPool.
type packet struct {
	ssrc      uint32
	seq       uint16
	timestamp uint32
	marker    bool
	arrival   time.Time // set on a stream's first packet only
	payload   []byte
	buf       [1500]byte
}

const (
	reorderSize = 512 // ring slots; a power of two
	// maxLate is how many packets may arrive after a missing one before it
	// is given up as lost. Recording is not latency-bound, so the window is
	// wide enough for retransmissions (NACK/RTX) to fill the gap.
	maxLate = 256
	// resyncAfter late packets in a row mean the sender's sequence numbers
	// jumped backwards (a restarted encoder on the same SSRC): start over.
	resyncAfter = 64
)

// reorder is a jitter buffer keyed by RTP sequence number: it releases
// packets in sequence order, waits up to maxLate packets for a missing one,
// and reports it as lost after that. Sequence numbers wrap at 2^16.
type reorder struct {
	slots   [reorderSize]*packet
	started bool
	next    uint16 // the next sequence number to release
	high    uint16 // the highest sequence number held
	held    int
	late    int // late packets in a row
}

// push adds p and calls emit for every packet (or nil, for a lost one) that
// is now ready, in order. It returns false when p was late or a duplicate
// and was not taken; the caller still owns it then.
func (r *reorder) push(p *packet, emit func(*packet)) bool {
	if !r.started {
		r.started, r.next, r.high = true, p.seq, p.seq
	}
	d := int16(p.seq - r.next)
	if d < 0 {
		r.late++
		if r.late < resyncAfter {
			return false
		}
		r.flush(emit)
		r.started, r.next, r.high = true, p.seq, p.seq
		d = 0
	}
	r.late = 0
	if int(d) >= reorderSize {
		// Far ahead of what is held: release everything and jump.
		r.flush(emit)
		r.started, r.next, r.high = true, p.seq, p.seq
	}
	slot := &r.slots[p.seq%reorderSize]
	if *slot != nil {
		return false // a duplicate
	}
	*slot = p
	r.held++
	if int16(p.seq-r.high) > 0 {
		r.high = p.seq
	}
	r.release(emit, false)
	return true
}

// release emits packets from next on while they are present, and skips
// missing ones once maxLate packets have arrived after them (or always, when
// all is true).
func (r *reorder) release(emit func(*packet), all bool) {
	for r.held > 0 {
		slot := &r.slots[r.next%reorderSize]
		if p := *slot; p != nil {
			*slot = nil
			r.held--
			r.next++
			emit(p)
			continue
		}
		if !all && int(uint16(r.high-r.next)) < maxLate {
			return
		}
		r.next++
		emit(nil)
	}
}

// flush emits everything held, in order, with the gaps as losses, and
// forgets the sequence: the next packet pushed starts a new one.
func (r *reorder) flush(emit func(*packet)) {
	r.release(emit, true)
	r.started = false
}

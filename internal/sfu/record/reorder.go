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
	// A missing packet is given up as lost once maxLate packets have come
	// after it, or once it has been missing for maxWait: long enough for a
	// retransmission (NACK/RTX) to fill the gap, short enough that video
	// asks for a keyframe soon after a packet that will never come.
	maxLate = 256
	maxWait = 500 * time.Millisecond
	// resyncAfter late packets in a row mean the sender's sequence numbers
	// jumped backwards (a restarted encoder on the same SSRC): start over.
	resyncAfter = 64
)

// reorder is a jitter buffer keyed by RTP sequence number: it releases
// packets in sequence order, waits up to maxLate packets or maxWait for a
// missing one, and reports it as lost after that. Sequence numbers wrap at
// 2^16. Times are the caller's (a zero now never expires a wait).
type reorder struct {
	slots     [reorderSize]*packet
	started   bool
	next      uint16 // the next sequence number to release
	high      uint16 // the highest sequence number held
	held      int
	late      int       // late packets in a row
	waitSince time.Time // since when next has been missing
}

// push adds p, which arrived at now, and calls emit for every packet (or
// nil, for a lost one) that is now ready, in order. It returns false when p
// was late or a duplicate and was not taken; the caller still owns it then.
func (r *reorder) push(p *packet, now time.Time, emit func(*packet)) bool {
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
	r.release(emit, false, now)
	return true
}

// expire gives up, at now, on missing packets waited for long enough.
func (r *reorder) expire(now time.Time, emit func(*packet)) {
	r.release(emit, false, now)
}

// release emits packets from next on while they are present, and skips
// missing ones once maxLate packets have arrived after them or they have
// been missing for maxWait (or always, when all is true). A run of missing
// packets shares one wait.
func (r *reorder) release(emit func(*packet), all bool, now time.Time) {
	for r.held > 0 {
		slot := &r.slots[r.next%reorderSize]
		if p := *slot; p != nil {
			*slot = nil
			r.held--
			r.next++
			r.waitSince = time.Time{}
			emit(p)
			continue
		}
		if !all && int(uint16(r.high-r.next)) < maxLate {
			if r.waitSince.IsZero() {
				r.waitSince = now
				return
			}
			if now.Sub(r.waitSince) < maxWait {
				return
			}
		}
		r.next++
		emit(nil)
	}
}

// flush emits everything held, in order, with the gaps as losses, and
// forgets the sequence: the next packet pushed starts a new one.
func (r *reorder) flush(emit func(*packet)) {
	r.release(emit, true, time.Time{})
	r.started, r.waitSince = false, time.Time{}
}

package sfu

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// A packet lost on the way to a subscriber is NACKed by it and arrives
// again, retransmitted by the SFU from its cache.
func TestNACKRetransmission(t *testing.T) {
	deadline(t, 30*time.Second)
	s := newTestSFU(t, Config{})
	pub := join(t, s, "r", "pub", true, clientOptions{})
	track := vp8Track(t, "cam", "s", "")
	pub.publish(track)

	var seen atomic.Int32
	var dropped atomic.Int32 // seq + 1 of the dropped packet
	sub := join(t, s, "r", "sub", false, clientOptions{nack: true, drop: func(seq uint16) bool {
		if seen.Add(1) == 50 {
			dropped.Store(int32(seq) + 1)
			return true
		}
		return false
	}})

	got := make(chan *rtp.Packet, 4096)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		readAll(sub.nextTrack(15*time.Second), got, done)
	}()
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for n := uint32(0); ; n++ {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			_ = track.WriteRTP(&rtp.Packet{
				Header:  rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: n * 3000, Marker: true},
				Payload: vp8(n%20 == 0, 'x', n),
			})
		}
	}()

	timeout := time.After(15 * time.Second)
	received := map[uint16]int{} // seq → arrival index
	var order []uint16
	for {
		select {
		case p := <-got:
			received[p.SequenceNumber] = len(order)
			order = append(order, p.SequenceNumber)
		case <-timeout:
			t.Fatalf("dropped seq %d never came back (seen %d packets)", dropped.Load()-1, seen.Load())
		}
		if d := dropped.Load(); d != 0 {
			if i, ok := received[uint16(d-1)]; ok {
				if i > 0 && order[i-1] == uint16(d-2) {
					// it came back in order: it was not really dropped
					t.Fatalf("seq %d arrived in order, not retransmitted", d-1)
				}
				break
			}
		}
	}
	close(stop)
	var resent uint64
	sub.p.mu.Lock()
	for _, d := range sub.p.downs {
		resent += d.resent.Load()
		d.mu.Lock()
		t.Logf("resent %d, rtx ssrc %d pt %d", d.resent.Load(), d.rtxSSRC, d.rtxPT)
		d.mu.Unlock()
	}
	sub.p.mu.Unlock()
	if resent == 0 {
		t.Error("the SFU resent nothing")
	}
	close(done)
	sub.close()
	pub.close()
	wg.Wait()
}

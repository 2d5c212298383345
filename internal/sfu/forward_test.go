package sfu

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// A publisher and three subscribers: each subscriber gets every packet, in
// order, with its own SSRC and continuous sequence numbers.
// It runs on an IPv4 socket and on a dual-stack one (IPv4 peers as
// v4-mapped addresses), the two ways batched writes address datagrams.
func TestForwardToSubscribers(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", ":0"} {
		t.Run(addr, func(t *testing.T) { testForward(t, addr) })
	}
}

func testForward(t *testing.T, addr string) {
	deadline(t, 30*time.Second)
	s := newTestSFU(t, Config{UDPAddr: addr})
	pub := join(t, s, "r1", "pub", true, clientOptions{})
	track := vp8Track(t, "cam", "pub-stream", "")
	pub.publish(track)

	const nsub = 3
	subs := make([]*testClient, nsub)
	for i := range subs {
		subs[i] = join(t, s, "r1", string(rune('a'+i))+"-sub", false, clientOptions{})
	}

	// keyframes until every subscriber has the track
	var seq uint16 = 1000
	var n uint32
	send := func(key bool) {
		n++
		if err := track.WriteRTP(&rtp.Packet{
			Header:  rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: n * 3000, Marker: true},
			Payload: vp8(key, 'x', n),
		}); err != nil {
			t.Fatal(err)
		}
		seq++
	}
	got := make([]chan *rtp.Packet, nsub)
	done := make(chan struct{})
	var readers sync.WaitGroup
	ready := make(chan int, nsub)
	for i, c := range subs {
		got[i] = make(chan *rtp.Packet, 4096)
		readers.Add(1)
		go func() {
			defer readers.Done()
			tr := c.nextTrack(15 * time.Second)
			if tr.ID() != "cam" || tr.StreamID() != "pub" {
				t.Errorf("%s: track %s/%s, want pub/cam", c.id, tr.StreamID(), tr.ID())
			}
			ready <- i
			readAll(tr, got[i], done)
		}()
	}
	tk := time.NewTicker(5 * time.Millisecond)
	for waiting := nsub; waiting > 0; {
		select {
		case <-ready:
			waiting--
		case <-tk.C:
			send(true)
		}
	}
	first := n + 1
	const frames = 500
	for range frames {
		<-tk.C
		send(n%30 == 0)
	}
	tk.Stop()

	ssrcs := map[uint32]bool{}
	for i, c := range subs {
		var prev *rtp.Packet
		timeout := time.After(10 * time.Second)
	read:
		for {
			select {
			case p := <-got[i]:
				if prev != nil && p.SequenceNumber != prev.SequenceNumber+1 {
					// did the SFU get the missing packet from the publisher?
					var inCache []uint16
					for _, tr := range s.rooms["r1"].allTracks() {
						var buf [maxPacket]byte
						for q := prev.SequenceNumber + 1; q != p.SequenceNumber; q++ {
							if _, _, _, ok := tr.layer(0).cache.get(q, buf[:]); ok {
								inCache = append(inCache, q)
							}
						}
					}
					t.Fatalf("%s: seq %d after %d; of those missing, the SFU received %v", c.id, p.SequenceNumber, prev.SequenceNumber, inCache)
				}
				if prev != nil && p.SSRC != prev.SSRC {
					t.Fatalf("%s: SSRC changed", c.id)
				}
				_, k, ok := mark(p.Payload)
				if !ok {
					t.Fatalf("%s: payload %x", c.id, p.Payload)
				}
				if prev != nil {
					if _, pk, _ := mark(prev.Payload); k != pk+1 {
						t.Fatalf("%s: frame %d after %d", c.id, k, pk)
					}
					if p.Timestamp-prev.Timestamp != 3000 {
						t.Fatalf("%s: timestamp step %d", c.id, p.Timestamp-prev.Timestamp)
					}
				}
				prev = p
				if k == first+frames-1 {
					break read
				}
			case <-timeout:
				t.Fatalf("%s: stalled after %v", c.id, prev)
			}
		}
		if ssrcs[prev.SSRC] {
			t.Errorf("%s: shares SSRC %d", c.id, prev.SSRC)
		}
		ssrcs[prev.SSRC] = true
	}
	if st := s.Stats(); st.Forwarded < frames*nsub || st.Subscriptions != nsub || st.Tracks != 1 || st.Participants != nsub+1 {
		t.Errorf("stats %+v", st)
	}
	for _, c := range subs {
		if l := c.p.Subscriptions(); len(l) != 1 || l[0].TrackID != "cam" || l[0].Layer != "" || l[0].Packets < frames {
			t.Errorf("%s: subscriptions %+v", c.id, l)
		}
	}
	if g := s.batch(); g != nil {
		var flushes, batched uint64
		for _, c := range g {
			c.mu.Lock()
			flushes += c.flushes
			batched += c.batched
			c.mu.Unlock()
		}
		if batched < frames*nsub || flushes == 0 {
			t.Errorf("%d datagrams in %d batches, want at least %d", batched, flushes, frames*nsub)
		}
		t.Logf("%d datagrams in %d batches", batched, flushes)
	}
	close(done)
	for _, c := range subs {
		c.close()
	}
	pub.close()
	readers.Wait()
}

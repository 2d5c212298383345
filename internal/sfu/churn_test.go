package sfu

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// Participants join, publish, set preferences, mute and leave concurrently
// while media flows; nothing deadlocks, races or leaks, and the room ends
// empty.
func TestChurn(t *testing.T) {
	deadline(t, 60*time.Second)
	s := newTestSFU(t, Config{PLIInterval: 20 * time.Millisecond})
	stopTap, err := s.Tap("churn", func(TrackInfo) TrackSink { return &countSink{} })
	if err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 3 {
				c := join(t, s, "churn", fmt.Sprintf("w%d-%d", w, round), true, clientOptions{nack: true})
				track := vp8Track(t, "cam", "s", "")
				c.publish(track)
				end := time.Now().Add(300 * time.Millisecond)
				for n := uint32(0); time.Now().Before(end); n++ {
					_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: n * 3000, Marker: true}, Payload: vp8(n%5 == 0, 'c', n)})
					if n%10 == 0 {
						ri, _ := s.Room("churn")
						for _, p := range ri.Participants {
							for _, tr := range p.Tracks {
								_ = c.p.SetTrackPreference(tr.ID, 320, 180, n%20 == 0)
							}
						}
						_ = c.p.SetMuted("cam", n%20 == 0)
					}
					time.Sleep(5 * time.Millisecond)
				}
				c.close()
			}
		}()
	}
	wg.Wait()
	stopTap()
	eventually(t, "the room is gone", func() bool { _, ok := s.Room("churn"); return !ok })
	// participants leave nothing behind while the SFU runs on (the room's
	// own goroutine is gone too)
	eventually(t, "goroutines back to where they were", func() bool { return runtime.NumGoroutine() <= base-1 })
}

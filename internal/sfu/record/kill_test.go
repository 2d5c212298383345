package record

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestKilledChild is the child side of TestKilled: when RECORD_KILL_CHILD
// names a file and a codec, it records the clip (which its parent made)
// into it in real time, printing the media time fed every 100 ms, until it
// is killed. Otherwise it does nothing.
func TestKilledChild(t *testing.T) {
	spec := os.Getenv("RECORD_KILL_CHILD")
	if spec == "" {
		return // run only as TestKilled's child
	}
	path, codec, _ := strings.Cut(spec, "|")
	var pkts []*rtp.Packet
	switch codec {
	case CodecVP8:
		pkts = vp8RTP(t)
	default:
		pkts = opusRTP(t)
	}
	w, err := NewTrackWriter(path, Options{Codec: codec})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	next := 100 * time.Millisecond
	rate := map[string]float64{CodecVP8: 90000, CodecOpus: 48000}[codec]
	for _, p := range pkts {
		at := time.Duration(float64(p.Timestamp-pkts[0].Timestamp) / rate * float64(time.Second))
		time.Sleep(time.Until(start.Add(at)))
		if err := w.WriteRTP(p); err != nil {
			t.Fatal(err)
		}
		if at >= next {
			fmt.Printf("fed %.3f\n", at.Seconds())
			next += 100 * time.Millisecond
		}
	}
	select {} // wait to be killed
}

// TestKilled records in real time in another process and kills it with
// SIGKILL 2.5 s in: the file plays up to about where it was killed.
func TestKilled(t *testing.T) {
	for _, codec := range []string{CodecVP8, CodecOpus} {
		t.Run(codec[:5], func(t *testing.T) {
			t.Parallel()
			if codec == CodecVP8 { // made here, in the clip directory the child shares
				vp8Clip(t)
			} else {
				opusClip(t)
			}
			path := filepath.Join(t.TempDir(), "killed.webm")
			cmd := exec.Command(os.Args[0], "-test.run=^TestKilledChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "RECORD_KILL_CHILD="+path+"|"+codec)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			defer cmd.Process.Kill()
			fed := 0.0
			sc := bufio.NewScanner(out)
			for fed < 2.5 && sc.Scan() {
				if v, ok := strings.CutPrefix(sc.Text(), "fed "); ok {
					fed, _ = strconv.ParseFloat(v, 64)
				}
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			if fed < 2.5 {
				t.Fatalf("the child stopped at %.3f s", fed)
			}
			d := decodeCut(t, path, true)
			t.Logf("killed after %.3f s fed: %.3f s decoded", fed, d)
			// The child goes on a little between printing and dying.
			if d < fed-1 || d > fed+1 {
				t.Errorf("killed after %.3f s fed: %.3f s decoded, want within a second", fed, d)
			}
			near(t, "ffprobe duration of the killed file", formatDuration(t, probe(t, path)), fed, 1)
		})
	}
}

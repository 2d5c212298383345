package record

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// record writes packets to a new file through a TrackWriter and closes it.
// Like an SFU's read loop, it hands over each packet parsed from one reused
// buffer, and scribbles over the buffer after WriteRTP returns.
func record(t *testing.T, path string, o Options, pkts []*rtp.Packet) Stats {
	t.Helper()
	w, err := NewTrackWriter(path, o)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	var q rtp.Packet
	for _, p := range pkts {
		n, err := p.MarshalTo(buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Unmarshal(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteRTP(&q); err != nil {
			t.Fatal(err)
		}
		for i := range buf {
			buf[i] = 0xAA
		}
		// The packets come faster than a real track's; keep within the queue.
		if w.queued.Load() > queueLen/2 {
			waitQueue(t, w)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != ErrClosed {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
	if err := w.WriteRTP(pkts[0]); err != ErrClosed {
		t.Fatalf("WriteRTP after Close: %v, want ErrClosed", err)
	}
	return w.Stats()
}

// waitQueue waits for the writer to handle every queued packet.
func waitQueue(t *testing.T, w *TrackWriter) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for w.queued.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the writer does not drain its queue")
		}
		time.Sleep(time.Millisecond)
	}
}

func near(t *testing.T, what string, got, want, tolerance float64) {
	t.Helper()
	if math.Abs(got-want) > tolerance {
		t.Errorf("%s = %.3f s, want %.3f ± %.1f s", what, got, want, tolerance)
	} else {
		t.Logf("%s = %.3f s (want %.3f ± %.1f)", what, got, want, tolerance)
	}
}

func TestVP8(t *testing.T) {
	t.Parallel()
	pkts := vp8RTP(t)
	out := filepath.Join(t.TempDir(), "out.webm")
	st := record(t, out, Options{Codec: "video/VP8"}, pkts)
	if st.Packets != uint64(len(pkts)) || st.Dropped != 0 || st.Frames != 120 {
		t.Errorf("stats %+v, want %d packets, none dropped, 120 frames", st, len(pkts))
	}
	near(t, "Stats.Duration", st.Duration.Seconds(), 4, 0.05)
	r := probe(t, out)
	if s := r.Streams[0]; s.CodecName != "vp8" || s.Width != 320 || s.Height != 240 {
		t.Errorf("stream %+v, want vp8 320x240", s)
	}
	near(t, "ffprobe duration", formatDuration(t, r), 4, 1)
	near(t, "decoded duration", decode(t, out), 4, 1)
	// A seek to 2.5 s lands on the keyframe at 2 s (the cues point there).
	seek, err := exec.Command("ffprobe", "-v", "error", "-read_intervals", "2.5%+0.1",
		"-show_entries", "packet=pts_time,flags", "-of", "csv=p=0", out).Output()
	if first, _, _ := strings.Cut(string(seek), "\n"); err != nil || first != "2.000000,K_" {
		t.Errorf("seeking to 2.5 s: first packet %q (%v), want the keyframe at 2 s", first, err)
	}
}

// TestVP8ReorderedAndLost: neighbouring packets swapped here and there, one
// duplicated, one lost in the middle. The frames up to the next keyframe
// after the loss are left out, and what is written decodes cleanly.
func TestVP8ReorderedAndLost(t *testing.T) {
	t.Parallel()
	pkts := vp8RTP(t)
	var in []*rtp.Packet
	lost := len(pkts) / 2
	for i := 0; i < len(pkts); i++ {
		switch {
		case i == lost:
			continue
		case i%7 == 3 && i+1 < len(pkts) && i+1 != lost:
			in = append(in, pkts[i+1], pkts[i])
			i++
		case i == 100:
			in = append(in, pkts[i], clonePacket(pkts[i]))
		default:
			in = append(in, pkts[i])
		}
	}
	out := filepath.Join(t.TempDir(), "out.webm")
	st := record(t, out, Options{Codec: "video/vp8"}, in)
	t.Logf("stats %+v", st)
	if st.Frames < 90 || st.Frames >= 120 || st.Dropped == 0 {
		t.Errorf("stats %+v, want 90..119 frames (those up to a keyframe after the loss left out) and some dropped", st)
	}
	r := probe(t, out)
	if s := r.Streams[0]; s.CodecName != "vp8" || s.Width != 320 || s.Height != 240 {
		t.Errorf("stream %+v, want vp8 320x240", s)
	}
	near(t, "ffprobe duration", formatDuration(t, r), 4, 1)
	decode(t, out)
}

func TestOpus(t *testing.T) {
	t.Parallel()
	pkts := opusRTP(t)
	out := filepath.Join(t.TempDir(), "out.webm")
	st := record(t, out, Options{Codec: "audio/opus", Channels: 1}, pkts)
	if st.Packets != uint64(len(pkts)) || st.Dropped != 0 || st.Frames != uint64(len(pkts)) {
		t.Errorf("stats %+v, want %d packets and frames, none dropped", st, len(pkts))
	}
	near(t, "Stats.Duration", st.Duration.Seconds(), 4, 0.05)
	r := probe(t, out)
	if s := r.Streams[0]; s.CodecName != "opus" {
		t.Errorf("stream %+v, want opus", s)
	}
	near(t, "ffprobe duration", formatDuration(t, r), 4, 1)
	near(t, "decoded duration", decode(t, out), 4, 1)
}

func TestOpusReorderedAndLost(t *testing.T) {
	t.Parallel()
	pkts := opusRTP(t)
	var in []*rtp.Packet
	for i := 0; i < len(pkts); i++ {
		switch {
		case i == 77:
			continue
		case i%5 == 1 && i+1 < len(pkts) && i+1 != 77:
			in = append(in, pkts[i+1], pkts[i])
			i++
		default:
			in = append(in, pkts[i])
		}
	}
	out := filepath.Join(t.TempDir(), "out.webm")
	st := record(t, out, Options{Codec: "audio/opus"}, in)
	if st.Frames != uint64(len(pkts)-1) {
		t.Errorf("stats %+v, want %d frames", st, len(pkts)-1)
	}
	near(t, "ffprobe duration", formatDuration(t, probe(t, out)), 4, 1)
	decode(t, out)
}

// TestInterrupted: a file copied while the writer is still open, as a
// killed server leaves it, plays up to where it was written.
func TestInterrupted(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		pkts func(testing.TB) []*rtp.Packet
	}{
		{"vp8", Options{Codec: CodecVP8}, vp8RTP},
		{"opus", Options{Codec: CodecOpus}, opusRTP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			pkts := tc.pkts(t)
			w, err := NewTrackWriter(filepath.Join(dir, "live.webm"), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			for _, p := range pkts {
				if err := w.WriteRTP(p); err != nil {
					t.Fatal(err)
				}
				if w.queued.Load() > queueLen/2 {
					waitQueue(t, w)
				}
			}
			waitQueue(t, w)
			written := w.Stats().Duration.Seconds()
			// What the writer buffers reaches the OS within flushInterval.
			time.Sleep(2 * flushInterval)
			cut := filepath.Join(dir, "cut.webm")
			copyFile(t, filepath.Join(dir, "live.webm"), cut)
			near(t, "decoded duration of the copy", decode(t, cut), written, 1)
			near(t, "ffprobe duration of the copy", formatDuration(t, probe(t, cut)), written, 1)
			if written < 3.5 {
				t.Errorf("only %.3f s written of 4", written)
			}
			// Cut anywhere, even inside a block, it plays up to about there.
			b, err := os.ReadFile(cut)
			if err != nil {
				t.Fatal(err)
			}
			for _, frac := range []float64{0.1, 0.37, 0.5, 0.73, 0.9} {
				part := filepath.Join(dir, fmt.Sprintf("cut-%v.webm", frac))
				if err := os.WriteFile(part, b[:int(frac*float64(len(b)))], 0o600); err != nil {
					t.Fatal(err)
				}
				d := decodeCut(t, part, true)
				t.Logf("cut at %2.0f%% of the bytes: %.3f s decoded", frac*100, d)
				if d < frac*written-1 {
					t.Errorf("cut at %2.0f%% of the bytes: %.3f s decoded, want at least %.3f", frac*100, d, frac*written-1)
				}
			}
		})
	}
}

package record

import (
	"slices"
	"testing"
	"time"
)

// run pushes sequence numbers and returns what comes out (-1 for a loss)
// and which pushes were refused.
func run(r *reorder, seqs ...int) (out, refused []int) {
	return runAt(r, time.Time{}, seqs...)
}

// runAt is run with the packets arriving at now.
func runAt(r *reorder, now time.Time, seqs ...int) (out, refused []int) {
	for _, s := range seqs {
		if !r.push(&packet{seq: uint16(s)}, now, collect(&out)) {
			refused = append(refused, s)
		}
	}
	return out, refused
}

func collect(out *[]int) func(*packet) {
	return func(p *packet) {
		if p == nil {
			*out = append(*out, -1)
		} else {
			*out = append(*out, int(p.seq))
		}
	}
}

func TestReorder(t *testing.T) {
	t.Run("in order across the wrap", func(t *testing.T) {
		out, _ := run(&reorder{}, 65534, 65535, 0, 1)
		if want := []int{65534, 65535, 0, 1}; !slices.Equal(out, want) {
			t.Errorf("got %v, want %v", out, want)
		}
	})
	t.Run("swapped neighbours across the wrap", func(t *testing.T) {
		out, _ := run(&reorder{}, 65534, 0, 65535, 2, 1)
		if want := []int{65534, 65535, 0, 1, 2}; !slices.Equal(out, want) {
			t.Errorf("got %v, want %v", out, want)
		}
	})
	t.Run("late and duplicate packets are refused", func(t *testing.T) {
		out, refused := run(&reorder{}, 10, 11, 11, 9, 12)
		if want := []int{10, 11, 12}; !slices.Equal(out, want) {
			t.Errorf("got %v, want %v", out, want)
		}
		if want := []int{11, 9}; !slices.Equal(refused, want) {
			t.Errorf("refused %v, want %v", refused, want)
		}
	})
	t.Run("a gap is a loss after maxLate packets", func(t *testing.T) {
		r := &reorder{}
		seqs := []int{100}
		for s := 102; s < 102+maxLate-1; s++ {
			seqs = append(seqs, s)
		}
		out, _ := run(r, seqs...)
		if !slices.Equal(out, []int{100}) {
			t.Fatalf("released %v before the gap was given up", out)
		}
		out, _ = run(r, 102+maxLate-1)
		if len(out) != maxLate+1 || out[0] != -1 || out[1] != 102 {
			t.Errorf("after maxLate packets: %v…, want a loss then 102…", out[:3])
		}
	})
	t.Run("a gap is a loss after maxWait", func(t *testing.T) {
		r := &reorder{}
		t0 := time.Now()
		out, _ := runAt(r, t0, 1, 2, 5)
		r.expire(t0.Add(maxWait-time.Millisecond), collect(&out))
		if !slices.Equal(out, []int{1, 2}) {
			t.Fatalf("released %v before maxWait", out)
		}
		// A run of missing packets shares one wait.
		r.expire(t0.Add(maxWait), collect(&out))
		if want := []int{1, 2, -1, -1, 5}; !slices.Equal(out, want) {
			t.Errorf("got %v, want %v", out, want)
		}
		// The next gap waits afresh.
		t1 := t0.Add(time.Second)
		out, _ = runAt(r, t1, 7)
		r.expire(t1.Add(maxWait/2), collect(&out))
		if len(out) != 0 {
			t.Errorf("released %v before maxWait", out)
		}
		out, _ = runAt(r, t1.Add(maxWait), 8)
		if want := []int{-1, 7, 8}; !slices.Equal(out, want) {
			t.Errorf("got %v, want %v", out, want)
		}
	})
	t.Run("a jump far ahead flushes and restarts", func(t *testing.T) {
		out, _ := run(&reorder{}, 1, 3, 5000, 5001)
		if want := []int{1, -1, 3, 5000, 5001}; !slices.Equal(out, want) {
			t.Errorf("got %v, want %v", out, want)
		}
	})
	t.Run("a restart far behind resyncs", func(t *testing.T) {
		r := &reorder{}
		run(r, 30000)
		var seqs []int
		for s := 0; s < resyncAfter+5; s++ {
			seqs = append(seqs, s)
		}
		out, refused := run(r, seqs...)
		if len(refused) != resyncAfter-1 || len(out) != 6 || out[0] != resyncAfter-1 {
			t.Errorf("out %v, refused %d, want the stream taken up again after %d late packets", out, len(refused), resyncAfter)
		}
	})
	t.Run("flush releases the held packets with gaps as losses", func(t *testing.T) {
		r := &reorder{}
		out, _ := run(r, 1, 3, 6)
		r.flush(collect(&out))
		if want := []int{1, -1, 3, -1, -1, 6}; !slices.Equal(out, want) {
			t.Errorf("got %v, want %v", out, want)
		}
	})
}

func TestTimeline(t *testing.T) {
	var tl timeline
	// 90 kHz from 100 ms into the file, across the 32-bit wrap.
	tl.anchor(0xFFFFFFFF-2999, 100)
	for i, ts := range []uint32{0xFFFFFFFF - 2999, 0xFFFFFFFF, 2999, 0xFFFFFFFF - 6000} {
		got := tl.ms(ts, 90000)
		want := []int64{100, 133, 166, 166}[i] // the last went backwards: held at 166
		if got != want {
			t.Errorf("frame %d: %d ms, want %d", i, got, want)
		}
	}
	// A new stream, anchored at 700 ms; its first frame came 2 s of RTP
	// time after its first packet (a wait for a keyframe, say).
	tl.anchor(12345, 700)
	if got := tl.ms(12345+180000, 90000); got != 2700 {
		t.Errorf("new stream: %d ms, want 2700", got)
	}
	// One anchored before the last frame is held back to it.
	tl.anchor(5, 1000)
	if got := tl.ms(5, 90000); got != 2700 {
		t.Errorf("anchored in the past: %d ms, want 2700", got)
	}
}

package record

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/parley-chat/parley/internal/apperr"
)

func TestBadOptions(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []Options{
		{},
		{Codec: "video/H264"},
		{Codec: "audio/PCMU"},
		{Codec: "video/VP9"},
		{Codec: "VP8"},
		{Codec: "audio/opus", Channels: 6},
		{Codec: "video/VP8", Width: -1},
	} {
		path := filepath.Join(dir, "x.webm")
		w, err := NewTrackWriter(path, o)
		if err == nil {
			w.Close()
			t.Errorf("%+v: no error", o)
			continue
		}
		if apperr.KindOf(err) != apperr.Invalid {
			t.Errorf("%+v: %v, want an Invalid error", o, err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%+v: a file was left behind", o)
		}
	}
	if _, err := NewTrackWriter(filepath.Join(dir, "x.webm"), Options{Codec: "video/H264"}); !apperr.Is(err, apperr.CodeUnsupportedType) {
		t.Errorf("H264: %v, want code %s", err, apperr.CodeUnsupportedType)
	}
	path := filepath.Join(dir, "exists.webm")
	os.WriteFile(path, []byte("keep"), 0o600)
	if _, err := NewTrackWriter(path, Options{Codec: CodecOpus}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("an existing file: %v, want ErrExist", err)
	}
	if _, err := NewTrackWriter(filepath.Join(dir, "no", "such", "dir.webm"), Options{Codec: CodecOpus}); err == nil {
		t.Errorf("a missing directory: no error")
	}
}

// TestVP8WaitsForKeyframe: a track joined mid-stream writes nothing until a
// keyframe, asks for one, and still closes to a well-formed file.
func TestVP8WaitsForKeyframe(t *testing.T) {
	t.Parallel()
	pkts := vp8RTP(t)
	var asked atomic.Int32
	out := filepath.Join(t.TempDir(), "out.webm")
	// Start after the first keyframe's packets, stop before the second.
	var in []*rtp.Packet
	for _, p := range pkts {
		if p.Timestamp-pkts[0].Timestamp >= 3000 && p.Timestamp-pkts[0].Timestamp < 29*3000 {
			in = append(in, p)
		}
	}
	st := record(t, out, Options{Codec: CodecVP8, RequestKeyframe: func() { asked.Add(1) }}, in)
	if st.Frames != 0 || st.Dropped != uint64(len(in)) {
		t.Errorf("stats %+v, want nothing written and all %d packets dropped", st, len(in))
	}
	if asked.Load() < 1 {
		t.Errorf("no keyframe requested")
	}
	file, _ := os.ReadFile(out)
	if top := parseEBML(t, file, 0, int64(len(file))); len(top) != 2 {
		t.Errorf("not a well-formed file: %d top-level elements", len(top))
	}
}

// TestSSRCChange: the publisher's stream restarts with a new SSRC, sequence
// and timestamps halfway; the file goes on without a gap.
func TestSSRCChange(t *testing.T) {
	t.Parallel()
	frames := vp8Frames(t, vp8Clip(t))
	a := packetize(frames[:60], &codecs.VP8Payloader{EnablePictureID: true}, 90000, 1, func([]byte) uint32 { return 3000 })
	b := rtp.NewPacketizerWithOptions(1200, &codecs.VP8Payloader{}, rtp.NewFixedSequencer(7), 90000,
		rtp.WithSSRC(2), rtp.WithPayloadType(96), rtp.WithTimestamp(123456789))
	for _, f := range frames[60:] { // frame 60 is a keyframe
		a = append(a, b.Packetize(f, 3000)...)
	}
	out := filepath.Join(t.TempDir(), "out.webm")
	st := record(t, out, Options{Codec: CodecVP8}, a)
	if st.Frames != 120 || st.Dropped != 0 {
		t.Errorf("stats %+v, want 120 frames, none dropped", st)
	}
	near(t, "Stats.Duration", st.Duration.Seconds(), 4, 0.1)
	near(t, "decoded duration", decode(t, out), 4, 1)
}

// vp8Keyframe is the start of a 64x48 VP8 keyframe behind an RTP payload
// descriptor (S=1, partition 0): enough for the writer, not for a decoder.
var vp8Keyframe = []byte{0x10, 0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, 64, 0, 48, 0, 1, 2, 3}

// FuzzWriteRTP feeds packets cut from the fuzzer's bytes, with sequence
// numbers, timestamps, markers and SSRCs it picks, to both codecs: nothing
// may panic, and the closed file must be well-formed EBML.
func FuzzWriteRTP(f *testing.F) {
	f.Add(append([]byte{0x01, 0x00, 0x01, byte(len(vp8Keyframe))}, vp8Keyframe...))
	f.Add(append(append([]byte{0x00, 0x00, 0x00, byte(len(vp8Keyframe))}, vp8Keyframe...),
		0x01, 0x01, 0x00, 3, 0x10, 0x01, 0x02, 0x03, 0xff, 0x01, 2, 0xf8, 0xff))
	f.Add([]byte{0x00, 0x01, 0x01, 3, 0xf8, 0xff, 0xfe, 0x02, 0xfe, 0x01, 1, 0x78})
	f.Add([]byte{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		var pkts []*rtp.Packet
		seq, ts, ssrc := uint16(65530), uint32(0xFFFFFF00), uint32(1)
		for len(data) >= 4 {
			flags, dseq, dts, n := data[0], int8(data[1]), data[2], int(data[3])
			data = data[4:]
			n = min(n, len(data))
			if flags&0x02 != 0 {
				ssrc++
			}
			seq += uint16(dseq)
			ts += uint32(dts) * 1500
			pkts = append(pkts, &rtp.Packet{
				Header:  rtp.Header{SSRC: ssrc, SequenceNumber: seq, Timestamp: ts, Marker: flags&0x01 != 0},
				Payload: data[:n],
			})
			data = data[n:]
		}
		dir := t.TempDir()
		for _, codec := range []string{CodecVP8, CodecOpus} {
			path := filepath.Join(dir, codec[:5]+".webm")
			w, err := NewTrackWriter(path, Options{Codec: codec})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pkts {
				if err := w.WriteRTP(p); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if top := parseEBML(t, file, 0, int64(len(file))); len(top) != 2 || top[1].size != int64(len(file))-top[1].data {
				t.Fatalf("%s: not a well-formed file", codec)
			}
		}
	})
}

// TestStartOffset: a file's 0 s is when its writer was made, so the tracks
// of a room line up by their manifest's started_at; a stream whose first
// packet comes later starts that much into the file.
func TestStartOffset(t *testing.T) {
	t.Parallel()
	pkts := opusRTP(t)
	w, err := NewTrackWriter(filepath.Join(t.TempDir(), "out.webm"), Options{Codec: CodecOpus})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	for _, p := range pkts {
		w.WriteRTP(p)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// 4.02 s of packets, from 0.3 s (and a little more on a busy machine).
	if d := w.Stats().Duration.Seconds(); d < 4.3 || d > 4.6 {
		t.Errorf("duration %.3f s, want 4.32 s", d)
	}
}

// TestResolutionChange: WebRTC senders change resolution with the bandwidth,
// each change starting with a keyframe; the file keeps the first size in its
// header and decodes through the change.
func TestResolutionChange(t *testing.T) {
	t.Parallel()
	frames := append(vp8Frames(t, vp8Clip(t)), vp8Frames(t, vp8BigClip(t))...)
	pkts := packetize(frames, &codecs.VP8Payloader{EnablePictureID: true}, 90000, 9, func([]byte) uint32 { return 3000 })
	out := filepath.Join(t.TempDir(), "out.webm")
	st := record(t, out, Options{Codec: CodecVP8}, pkts)
	if st.Frames != 150 || st.Dropped != 0 {
		t.Errorf("stats %+v, want 150 frames, none dropped", st)
	}
	if s := probe(t, out).Streams[0]; s.Width != 320 || s.Height != 240 {
		t.Errorf("header size %dx%d, want the first, 320x240", s.Width, s.Height)
	}
	near(t, "decoded duration", decode(t, out), 5, 0.1)
}

// renumber gives packets consecutive sequence numbers from 65000, as a
// sender does for what it actually sends.
func renumber(pkts []*rtp.Packet) []*rtp.Packet {
	out := make([]*rtp.Packet, len(pkts))
	for i, p := range pkts {
		c := *p
		c.SequenceNumber = uint16(65000 + i)
		out[i] = &c
	}
	return out
}

// TestPadding: browsers probe bandwidth with padding-only packets in the
// video's own sequence; they fill the sequence and write nothing.
func TestPadding(t *testing.T) {
	t.Parallel()
	var in []*rtp.Packet
	for i, p := range vp8RTP(t) {
		in = append(in, p)
		if i%10 == 9 {
			in = append(in, &rtp.Packet{Header: rtp.Header{
				Version: 2, Padding: true, PayloadType: p.PayloadType, SSRC: p.SSRC, Timestamp: p.Timestamp,
			}, PaddingSize: 200})
		}
	}
	out := filepath.Join(t.TempDir(), "out.webm")
	st := record(t, out, Options{Codec: CodecVP8}, renumber(in))
	if st.Frames != 120 || st.Dropped != 0 {
		t.Errorf("stats %+v, want 120 frames, none dropped", st)
	}
	near(t, "decoded duration", decode(t, out), 4, 0.1)
}

// TestOpusDTX: in silence, WebRTC's Opus sends a packet every 400 ms or so
// (discontinuous transmission); timestamps jump, sequence numbers do not,
// and the file keeps the timing.
func TestOpusDTX(t *testing.T) {
	t.Parallel()
	var in []*rtp.Packet
	for i, p := range opusRTP(t) {
		if i < 50 || i >= 150 || i%20 == 0 {
			in = append(in, p)
		}
	}
	out := filepath.Join(t.TempDir(), "out.webm")
	st := record(t, out, Options{Codec: CodecOpus}, renumber(in))
	if st.Frames != uint64(len(in)) || st.Dropped != 0 {
		t.Errorf("stats %+v, want %d frames, none dropped", st, len(in))
	}
	near(t, "Stats.Duration", st.Duration.Seconds(), 4, 0.05)
	near(t, "ffprobe duration", formatDuration(t, probe(t, out)), 4, 0.1)
	decode(t, out)
}

// TestConcurrentUse: WriteRTP from several goroutines while Stats is read,
// the sinks are closed and the recording stopped, all at once (for -race).
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	pkts := opusRTP(t)
	r, err := Start(t.TempDir(), "busy")
	if err != nil {
		t.Fatal(err)
	}
	var sinks []TrackSink
	for i := range 3 {
		s, err := r.OnTrack(TrackInfo{Participant: "p", Track: string(rune('a' + i)), Options: Options{Codec: CodecOpus}})
		if err != nil {
			t.Fatal(err)
		}
		sinks = append(sinks, s)
	}
	var wg sync.WaitGroup
	for _, s := range sinks {
		for g := range 2 {
			wg.Go(func() {
				for i := g; i < len(pkts); i += 2 {
					if err := s.WriteRTP(pkts[i]); err != nil && !errors.Is(err, ErrClosed) {
						t.Error(err)
						return
					}
					_ = s.(*recTrack).Stats()
				}
			})
		}
		wg.Go(func() {
			time.Sleep(time.Millisecond)
			if err := s.Close(); err != nil && !errors.Is(err, ErrClosed) {
				t.Error(err)
			}
		})
	}
	wg.Go(func() {
		time.Sleep(2 * time.Millisecond)
		if err := r.Stop(); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	m := r.Manifest()
	if m.EndedAt == nil || len(m.Tracks) != 3 {
		t.Fatalf("manifest %+v", m)
	}
	for _, tr := range m.Tracks {
		if tr.EndedAt == nil {
			t.Errorf("track %s not ended", tr.File)
		}
	}
}

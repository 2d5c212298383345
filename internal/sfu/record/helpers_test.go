package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"go.uber.org/goleak"
)

// clipDir holds the clips ffmpeg makes, once per test binary.
var clipDir string

func TestMain(m *testing.M) {
	// A child process (TestKilled's, a fuzz worker) uses its parent's clips:
	// it may be killed before it could remove a directory of its own.
	if dir := os.Getenv("RECORD_CLIP_DIR"); dir != "" {
		clipDir = dir
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "record-clips-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	clipDir = dir
	os.Setenv("RECORD_CLIP_DIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func needFFmpeg(tb testing.TB) {
	tb.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			tb.Fatalf("%s not found: install ffmpeg (apt-get install ffmpeg)", bin)
		}
	}
}

var clips sync.Map // name → *clip

type clip struct {
	once sync.Once
	path string
	err  error
}

// makeClip runs ffmpeg once per name to make a test clip in clipDir.
func makeClip(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	needFFmpeg(tb)
	v, _ := clips.LoadOrStore(name, &clip{})
	c := v.(*clip)
	c.once.Do(func() {
		c.path = filepath.Join(clipDir, name)
		out, err := exec.Command("ffmpeg", append(append([]string{"-v", "error", "-y"}, args...), c.path)...).CombinedOutput()
		if err != nil {
			c.err = fmt.Errorf("ffmpeg: %v: %s", err, out)
		}
	})
	if c.err != nil {
		tb.Fatal(c.err)
	}
	return c.path
}

// vp8Clip is 4 s of 320x240 VP8 at 30 frames/s, a keyframe every second.
func vp8Clip(tb testing.TB) string {
	return makeClip(tb, "vp8.ivf", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30",
		"-t", "4", "-c:v", "libvpx", "-g", "30", "-b:v", "500k", "-f", "ivf")
}

// vp8BigClip is 1 s of 640x480 VP8 at 30 frames/s.
func vp8BigClip(tb testing.TB) string {
	return makeClip(tb, "vp8-640.ivf", "-f", "lavfi", "-i", "testsrc=size=640x480:rate=30",
		"-t", "1", "-c:v", "libvpx", "-g", "30", "-b:v", "500k", "-f", "ivf")
}

// opusClip is 4 s of a 440 Hz tone in Opus, 20 ms packets.
func opusClip(tb testing.TB) string {
	return makeClip(tb, "opus.ogg", "-f", "lavfi", "-i", "sine=frequency=440:duration=4",
		"-c:a", "libopus", "-f", "ogg")
}

// vp8Frames reads the frames of an IVF file.
func vp8Frames(tb testing.TB, path string) [][]byte {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r, _, err := ivfreader.NewWith(f)
	if err != nil {
		tb.Fatal(err)
	}
	var frames [][]byte
	for {
		fr, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			return frames
		}
		if err != nil {
			tb.Fatal(err)
		}
		frames = append(frames, fr)
	}
}

// opusPackets reads the Opus packets of an Ogg file (after OpusHead and
// OpusTags). pion's oggreader returns whole pages, so this splits them by
// their lacing values (RFC 3533).
func opusPackets(tb testing.TB, path string) [][]byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var packets [][]byte
	var cur []byte
	for len(b) > 0 {
		if len(b) < 27 || string(b[:4]) != "OggS" {
			tb.Fatalf("bad Ogg page")
		}
		nseg := int(b[26])
		lacing := b[27 : 27+nseg]
		data := b[27+nseg:]
		for _, l := range lacing {
			cur = append(cur, data[:l]...)
			data = data[l:]
			if l < 255 {
				packets = append(packets, cur)
				cur = nil
			}
		}
		b = data
	}
	if len(packets) < 3 || !bytes.HasPrefix(packets[0], []byte("OpusHead")) {
		tb.Fatalf("not an Ogg Opus file")
	}
	return packets[2:]
}

// packetize turns frames into RTP packets the way a WebRTC sender does,
// starting near the wrap of both the sequence number and the timestamp.
func packetize(frames [][]byte, payloader rtp.Payloader, clockRate uint32, ssrc uint32, samples func([]byte) uint32) []*rtp.Packet {
	p := rtp.NewPacketizerWithOptions(1200, payloader, rtp.NewFixedSequencer(65500), clockRate,
		rtp.WithSSRC(ssrc), rtp.WithPayloadType(96), rtp.WithTimestamp(0xFFFFFFFF-3*clockRate/2))
	var out []*rtp.Packet
	for _, f := range frames {
		out = append(out, p.Packetize(f, samples(f))...)
	}
	return out
}

func vp8RTP(tb testing.TB) []*rtp.Packet {
	return packetize(vp8Frames(tb, vp8Clip(tb)), &codecs.VP8Payloader{EnablePictureID: true}, 90000, 0x1234,
		func([]byte) uint32 { return 3000 })
}

func opusRTP(tb testing.TB) []*rtp.Packet {
	return packetize(opusPackets(tb, opusClip(tb)), &codecs.OpusPayloader{}, 48000, 0x5678,
		func(p []byte) uint32 { return uint32(opusDuration(p) * 48) })
}

type probeResult struct {
	Streams []struct {
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

// probe runs ffprobe on a file.
func probe(t *testing.T, path string) probeResult {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries",
		"format=duration:stream=codec_name,width,height", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var r probeResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("ffprobe output %s: %v", out, err)
	}
	if len(r.Streams) != 1 {
		t.Fatalf("ffprobe: %d streams, want 1: %s", len(r.Streams), out)
	}
	return r
}

// decode decodes the whole file with ffmpeg, fails the test on any error
// it prints, and returns the decoded duration in seconds: the end of the
// last decoded frame (for a file without a Duration, such as a cut one).
func decode(t *testing.T, path string) float64 {
	t.Helper()
	return decodeCut(t, path, false)
}

// decodeCut is decode for a file that may end in the middle of a block: the
// demuxer's "File ended prematurely" is then expected.
func decodeCut(t *testing.T, path string, cut bool) float64 {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-")
	cmd.Stderr = &stderr
	msg := stderr.String
	if cut {
		msg = func() string {
			return strings.TrimSpace(truncatedMsg.ReplaceAllString(stderr.String(), ""))
		}
	}
	if err := cmd.Run(); err != nil || msg() != "" {
		t.Fatalf("ffmpeg decoding %s: %v: %s", path, err, stderr.String())
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "0", "-show_entries",
		"frame=pts_time,duration_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe frames %s: %v", path, err)
	}
	end := 0.0
	for line := range strings.Lines(string(out)) {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) < 1 {
			continue
		}
		pts, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		d := 0.0
		if len(f) > 1 {
			d, _ = strconv.ParseFloat(f[1], 64)
		}
		end = max(end, pts+d)
	}
	return end
}

var truncatedMsg = regexp.MustCompile(`(?m)^\[matroska,webm @ 0x[0-9a-f]+\] File ended prematurely\s*$`)

func formatDuration(t *testing.T, r probeResult) float64 {
	t.Helper()
	d, err := strconv.ParseFloat(r.Format.Duration, 64)
	if err != nil {
		t.Fatalf("ffprobe: no duration (%q)", r.Format.Duration)
	}
	return d
}

// copyFile copies what is in src now, as a server kill would leave it.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func clonePacket(p *rtp.Packet) *rtp.Packet {
	c := *p
	c.Payload = append([]byte(nil), p.Payload...)
	return &c
}

package record

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pion/rtp"

	"github.com/parley-chat/parley/internal/apperr"
)

func TestRecorder(t *testing.T) {
	t.Parallel()
	video, audio := vp8RTP(t), opusRTP(t)
	dir := filepath.Join(t.TempDir(), "recordings")
	r, err := Start(dir, "room/1")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^room_1-\d{8}T\d{6}Z$`).MatchString(r.Name()) {
		t.Errorf("recording name %q", r.Name())
	}
	vs, err := r.OnTrack(TrackInfo{Participant: "../../etc", Track: "cam 1", Options: Options{Codec: CodecVP8}})
	if err != nil {
		t.Fatal(err)
	}
	as, err := r.OnTrack(TrackInfo{Participant: "../../etc", Track: "mic", Options: Options{Codec: CodecOpus}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.OnTrack(TrackInfo{Participant: "p", Track: "screen", Options: Options{Codec: "video/H264"}}); apperr.KindOf(err) != apperr.Invalid {
		t.Errorf("an H264 track: %v, want Invalid", err)
	}
	// The same track published again gets a file of its own.
	again, err := r.OnTrack(TrackInfo{Participant: "../../etc", Track: "mic", Options: Options{Codec: CodecOpus}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range audio {
		if i < len(video) {
			writeSome(t, vs, video[i:i+1])
		}
		writeSome(t, as, audio[i:i+1])
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	// The listing while recording: no end yet.
	list, err := List(dir)
	if err != nil || len(list) != 1 || list[0].EndedAt != nil || len(list[0].Tracks) != 3 {
		t.Fatalf("List while recording: %+v, %v", list, err)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := r.OnTrack(TrackInfo{Participant: "p", Track: "t", Options: Options{Codec: CodecOpus}}); apperr.KindOf(err) != apperr.Conflict {
		t.Errorf("OnTrack after Stop: %v, want Conflict", err)
	}

	list, err = List(dir)
	if err != nil || len(list) != 1 {
		t.Fatalf("List: %+v, %v", list, err)
	}
	m := list[0]
	if m.Name != r.Name() || m.Room != "room/1" || m.EndedAt == nil || m.EndedAt.Before(m.StartedAt) {
		t.Errorf("manifest %+v", m)
	}
	want := []string{
		r.Name() + "-______etc-cam_1.webm",
		r.Name() + "-______etc-mic.webm",
		r.Name() + "-______etc-mic_2.webm",
	}
	if len(m.Tracks) != 3 {
		t.Fatalf("tracks %+v", m.Tracks)
	}
	for i, tr := range m.Tracks {
		if tr.File != want[i] || tr.EndedAt == nil || tr.Size == 0 {
			t.Errorf("track %d: %+v, want file %s, ended, with a size", i, tr, want[i])
		}
	}
	if m.Tracks[0].Codec != CodecVP8 || m.Tracks[0].DurationMS < 3900 || m.Tracks[0].Frames != 120 {
		t.Errorf("video track %+v", m.Tracks[0])
	}
	if m.Tracks[1].Codec != CodecOpus || m.Tracks[1].DurationMS < 3900 || m.Tracks[1].Participant != "../../etc" || m.Tracks[1].Track != "mic" {
		t.Errorf("audio track %+v", m.Tracks[1])
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("%d files in the directory, want 3 tracks and a manifest", len(entries))
	}

	// Each file downloads through Open and plays.
	for _, name := range append(want, r.Name()+".json") {
		f, err := Open(dir, name)
		if err != nil {
			t.Fatalf("Open(%q): %v", name, err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if strings.HasSuffix(name, ".json") {
			var got Manifest
			if err := json.Unmarshal(b, &got); err != nil || got.Name != r.Name() {
				t.Errorf("manifest file: %v", err)
			}
		}
	}
	near(t, "video duration", formatDuration(t, probe(t, filepath.Join(dir, want[0]))), 4, 1)
	near(t, "audio duration", formatDuration(t, probe(t, filepath.Join(dir, want[1]))), 4, 1)
}

func writeSome(t *testing.T, s TrackSink, pkts []*rtp.Packet) {
	t.Helper()
	for _, p := range pkts {
		if err := s.WriteRTP(p); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRecorderInterrupted: a recording never stopped (the server was
// killed) is listed without an end, and its files play.
func TestRecorderInterrupted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r, err := Start(dir, "r")
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.OnTrack(TrackInfo{Participant: "p", Track: "a", Options: Options{Codec: CodecOpus}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	writeSome(t, s, opusRTP(t))
	waitQueue(t, s.(*recTrack).TrackWriter)
	list, err := List(dir)
	if err != nil || len(list) != 1 || list[0].EndedAt != nil || list[0].Tracks[0].EndedAt != nil {
		t.Fatalf("List: %+v, %v", list, err)
	}
	// A second recording of the room in the same second has its own name.
	r2, err := Start(dir, "r")
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Stop()
	if r2.Name() == r.Name() {
		t.Errorf("two recordings named %s", r.Name())
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "rec")
	os.Mkdir(dir, 0o700)
	os.WriteFile(filepath.Join(root, "secret.webm"), []byte("secret"), 0o600)
	os.WriteFile(filepath.Join(dir, ".hidden.webm"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o600)
	os.Mkdir(filepath.Join(dir, "adir.webm"), 0o700)
	os.Symlink(filepath.Join(root, "secret.webm"), filepath.Join(dir, "link.webm"))
	os.Symlink("../secret.webm", filepath.Join(dir, "rel.webm"))

	for _, name := range []string{
		"", ".", "..", "../secret.webm", "..%2fsecret.webm", "/etc/passwd", filepath.Join(root, "secret.webm"),
		"a/b.webm", `a\b.webm`, ".hidden.webm", "notes.txt", "x.webm/..", "x.webm\x00", "-x.webm",
		"x.WEBM", "x.webm.", " x.webm", strings.Repeat("a", 300) + ".webm",
	} {
		f, err := Open(dir, name)
		if err == nil {
			f.Close()
			t.Errorf("Open(%q) opened it", name)
		} else if apperr.KindOf(err) != apperr.Invalid {
			t.Errorf("Open(%q): %v, want Invalid", name, err)
		}
	}
	for _, name := range []string{"missing.webm", "adir.webm", "link.webm", "rel.webm"} {
		f, err := Open(dir, name)
		if err == nil {
			f.Close()
			t.Errorf("Open(%q) opened it", name)
		} else if k := apperr.KindOf(err); k != apperr.NotFound {
			t.Errorf("Open(%q): %v (%v), want NotFound", name, err, k)
		}
	}
	// None of these are listed either.
	if list, err := List(dir); err != nil || len(list) != 0 {
		t.Errorf("List: %+v, %v", list, err)
	}
	if list, err := List(filepath.Join(root, "none")); err != nil || len(list) != 0 {
		t.Errorf("List of a missing directory: %+v, %v", list, err)
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "_",
		"abc-DEF_09":             "abc-DEF_09",
		"../x":                   "___x",
		"a b/c\\d":               "a_b_c_d",
		"é":                      "_",
		strings.Repeat("z", 100): strings.Repeat("z", 64),
	} {
		if got := safeName(in); got != want {
			t.Errorf("safeName(%q) = %q, want %q", in, got, want)
		}
	}
}

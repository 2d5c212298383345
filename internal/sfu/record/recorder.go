package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/parley-chat/parley/internal/apperr"
)

// TrackSink receives the RTP packets of one published track; the SFU
// forwards to it as to a subscriber and closes it when the track ends. It
// wants the media stream as the publisher sent it: one SSRC at a time (for
// simulcast, one layer; switching layers is a new SSRC), retransmissions
// unwrapped from RTX to their original sequence numbers, in any order.
type TrackSink interface {
	// WriteRTP takes one packet; it must not block, nor keep p.
	WriteRTP(p *rtp.Packet) error
	// Close finishes the track's file.
	Close() error
}

// TrackInfo describes a published track to a Recorder.
type TrackInfo struct {
	Participant string // the publisher's participant ID
	Track       string // the track's ID
	Options            // codec, clock rate, size, keyframe requests
}

// Manifest describes one recording of a room; it is kept next to the files
// as <Name>.json, rewritten whenever a track starts or ends.
type Manifest struct {
	Name      string     `json:"name"` // <room>-<start>; the manifest is <Name>.json
	Room      string     `json:"room"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"` // nil while recording, or when the server stopped mid-recording
	Tracks    []Track    `json:"tracks"`
}

// Track is one track's file in a Manifest.
type Track struct {
	File        string     `json:"file"` // the file's name, for Open
	Participant string     `json:"participant"`
	Track       string     `json:"track"`
	Codec       string     `json:"codec"`
	StartedAt   time.Time  `json:"started_at"`            // the wall-clock time of the file's 0 s
	EndedAt     *time.Time `json:"ended_at,omitempty"`    // nil while recording or if interrupted
	DurationMS  int64      `json:"duration_ms,omitempty"` // media time, set when the track ends
	Frames      uint64     `json:"frames,omitempty"`
	Size        int64      `json:"size"` // the file's size in bytes, filled in by List
}

// Recorder records one room: each track to its own file named
// <room>-<start>-<participant>-<track>.webm (IDs reduced to [A-Za-z0-9_-],
// start as 20060102T150405Z, UTC), and a manifest <room>-<start>.json.
type Recorder struct {
	dir string

	mu      sync.Mutex
	m       Manifest
	open    map[int]*recTrack // by index in m.Tracks
	stopped bool
}

const timeFormat = "20060102T150405Z"

// Start begins a recording of room roomID in dir, creating dir if needed.
// Tracks join it through OnTrack; Stop ends it.
func Start(dir, roomID string) (*Recorder, error) {
	if roomID == "" {
		return nil, apperr.Invalidf("record: empty room ID")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	base := safeName(roomID) + "-" + now.Format(timeFormat)
	r := &Recorder{dir: dir, open: map[int]*recTrack{}}
	// Two recordings of a room started in one second get _2, _3...
	for i := 1; ; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s_%d", base, i)
		}
		f, err := os.OpenFile(filepath.Join(dir, name+".json"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if errors.Is(err, fs.ErrExist) && i < 100 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("record: %w", err)
		}
		f.Close()
		r.m = Manifest{Name: name, Room: roomID, StartedAt: now, Tracks: []Track{}}
		break
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.saveLocked(); err != nil {
		return nil, err
	}
	return r, nil
}

// Name is the recording's name: its manifest is Name()+".json".
func (r *Recorder) Name() string { return r.m.Name }

// Manifest returns the recording's manifest as it stands.
func (r *Recorder) Manifest() Manifest {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.m
	m.Tracks = slices.Clone(r.m.Tracks)
	return m
}

// OnTrack starts recording a published track and returns the sink the SFU
// writes its packets to. It fails for a codec that is not recorded (an
// apperr.Invalid with code unsupported_type: the SFU records the room's
// other tracks and skips this one) and after Stop (apperr.Conflict).
func (r *Recorder) OnTrack(t TrackInfo) (TrackSink, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return nil, apperr.New(apperr.Conflict, apperr.CodeConflict, "record: recording %s has stopped", r.m.Name)
	}
	base := r.m.Name + "-" + safeName(t.Participant) + "-" + safeName(t.Track)
	var (
		w    *TrackWriter
		file string
		err  error
	)
	// A track published again under the same IDs gets _2, _3...
	for i := 1; ; i++ {
		file = base + ".webm"
		if i > 1 {
			file = fmt.Sprintf("%s_%d.webm", base, i)
		}
		w, err = NewTrackWriter(filepath.Join(r.dir, file), t.Options)
		if errors.Is(err, fs.ErrExist) && i < 100 {
			continue
		}
		if err != nil {
			return nil, err
		}
		break
	}
	r.m.Tracks = append(r.m.Tracks, Track{
		File: file, Participant: t.Participant, Track: t.Track, Codec: t.Codec,
		StartedAt: w.started.UTC().Truncate(time.Millisecond),
	})
	rt := &recTrack{TrackWriter: w, r: r, i: len(r.m.Tracks) - 1}
	r.open[rt.i] = rt
	if err := r.saveLocked(); err != nil {
		w.Close()
		return nil, err
	}
	return rt, nil
}

// Stop closes every track still open and marks the recording ended. It
// returns the first error met; calling it again does nothing.
func (r *Recorder) Stop() error {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return nil
	}
	r.stopped = true
	open := make([]*recTrack, 0, len(r.open))
	for _, t := range r.open {
		open = append(open, t)
	}
	r.mu.Unlock()

	// Close the tracks together: each ends with an fsync.
	errs := make([]error, len(open)+1)
	var wg sync.WaitGroup
	for i, t := range open {
		wg.Go(func() {
			if err := t.Close(); err != nil && !errors.Is(err, ErrClosed) {
				errs[i] = err
			}
		})
	}
	wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now().UTC().Truncate(time.Millisecond)
	r.m.EndedAt = &now
	errs[len(open)] = r.saveLocked()
	return errors.Join(errs...)
}

// recTrack is a TrackWriter that updates its recording's manifest on Close.
type recTrack struct {
	*TrackWriter
	r *Recorder
	i int
}

func (t *recTrack) Close() error {
	err := t.TrackWriter.Close()
	if errors.Is(err, ErrClosed) {
		return err
	}
	st := t.Stats()
	r := t.r
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.open, t.i)
	now := time.Now().UTC().Truncate(time.Millisecond)
	e := &r.m.Tracks[t.i]
	e.EndedAt, e.DurationMS, e.Frames = &now, st.Duration.Milliseconds(), st.Frames
	return errors.Join(err, r.saveLocked())
}

// saveLocked writes the manifest: to a temporary file, then renamed over the
// old one, so a reader never sees half of it.
func (r *Recorder) saveLocked() error {
	b, err := json.MarshalIndent(r.m, "", "  ")
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	tmp := filepath.Join(r.dir, "."+r.m.Name+".json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o640); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(r.dir, r.m.Name+".json")); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return nil
}

// validName matches the names this package writes, and nothing with a path
// separator, a leading dot or "..".
var validName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,254}\.(webm|json)$`)

// safeName reduces an ID to at most 64 of [A-Za-z0-9_-], others becoming _.
func safeName(id string) string {
	var b strings.Builder
	for _, c := range id {
		if b.Len() == 64 {
			break
		}
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

// List returns the recordings in dir, oldest first, each track with its
// file's current size. A recording the server stopped in the middle of has
// no EndedAt; its files play up to where they stop. A missing dir has none.
func List(dir string) ([]Manifest, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	var out []Manifest
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, ".json") || !validName.MatchString(name) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("record: %w", err)
		}
		var m Manifest
		if json.Unmarshal(b, &m) != nil || m.Name+".json" != name {
			continue // not ours, or not written yet
		}
		for i := range m.Tracks {
			if fi, err := os.Stat(filepath.Join(dir, m.Tracks[i].File)); err == nil && validName.MatchString(m.Tracks[i].File) {
				m.Tracks[i].Size = fi.Size()
			}
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Manifest) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// Open opens the recording file or manifest called name in dir, for a
// download. A name that is not one this package writes (a path, "..", a
// hidden file) is refused as invalid; a directory or a symbolic link is not
// found. Who may download is the caller's business.
func Open(dir, name string) (*os.File, error) {
	if !validName.MatchString(name) {
		return nil, apperr.Invalidf("record: %q is not a recording's name", name)
	}
	notFound := apperr.NotFoundf("record: no recording %q", name)
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notFound
	}
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	defer root.Close()
	// Only a regular file: not a directory, nor a link (even one inside dir).
	if fi, err := root.Lstat(name); errors.Is(err, fs.ErrNotExist) || err == nil && !fi.Mode().IsRegular() {
		return nil, notFound
	} else if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, notFound
	}
	return f, nil
}

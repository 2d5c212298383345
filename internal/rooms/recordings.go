package rooms

import (
	"os"
	"path/filepath"
	"slices"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/sfu"
	"github.com/parley-chat/parley/internal/sfu/record"
	"github.com/parley-chat/parley/protocol"
)

// Recordings are the rooms' recordings on disk, one directory per account
// (DIR/ACCOUNT), as package record writes them: a file per track and a
// JSON manifest per recording. Owners (and API keys) list and download
// them; nobody else, and never another account's.
type Recordings struct {
	Dir string // "": no recordings
}

// AccountDir is where an account's recordings go.
func (r Recordings) AccountDir(account string) string {
	return filepath.Join(r.Dir, account)
}

func ownerOnly(id auth.Identity) error {
	if id.Role != protocol.RoleOwner && !id.IsService() {
		return apperr.Forbiddenf("only owners get recordings")
	}
	return nil
}

// List returns the account's recordings, newest first.
func (r Recordings) List(id auth.Identity) ([]protocol.Recording, error) {
	if err := ownerOnly(id); err != nil {
		return nil, err
	}
	out := []protocol.Recording{}
	if r.Dir == "" {
		return out, nil
	}
	ms, err := record.List(r.AccountDir(id.AccountID))
	if err != nil {
		return nil, apperr.Wrap("rooms.Recordings", err)
	}
	for _, m := range slices.Backward(ms) {
		rec := protocol.Recording{Name: m.Name, Room: m.Room, StartedAt: m.StartedAt, EndedAt: m.EndedAt, Tracks: []protocol.RecordingTrack{}}
		for _, t := range m.Tracks {
			rec.Tracks = append(rec.Tracks, protocol.RecordingTrack{File: t.File, URL: "/api/v1/recordings/" + t.File,
				Participant: t.Participant, Track: t.Track, Codec: t.Codec, StartedAt: t.StartedAt, EndedAt: t.EndedAt,
				DurationMS: t.DurationMS, Size: t.Size})
		}
		out = append(out, rec)
	}
	return out, nil
}

// Open opens one of the account's recording files (or a manifest) for
// download. Names that are not a recording's are not found.
func (r Recordings) Open(id auth.Identity, name string) (*os.File, os.FileInfo, error) {
	if err := ownerOnly(id); err != nil {
		return nil, nil, err
	}
	if r.Dir == "" {
		return nil, nil, apperr.NotFoundf("no recording %q", name)
	}
	f, err := record.Open(r.AccountDir(id.AccountID), name)
	if apperr.KindOf(err) == apperr.Invalid || apperr.KindOf(err) == apperr.NotFound {
		return nil, nil, apperr.NotFoundf("no recording %q", name)
	}
	if err != nil {
		return nil, nil, apperr.Wrap("rooms.Recordings.Open", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, apperr.Wrap("rooms.Recordings.Open", err)
	}
	return f, info, nil
}

// SFURecorder records rooms of an SFU into Recordings: a tap on the room
// hands each published track to a record.Recorder.
type SFURecorder struct {
	S    *sfu.SFU
	Recs Recordings
	Log  interface {
		Warn(msg string, args ...any)
	}
}

var _ Recorder = SFURecorder{}

// Start implements Recorder.
func (r SFURecorder) Start(account, room string) (func(), error) {
	rec, err := record.Start(r.Recs.AccountDir(account), room)
	if err != nil {
		return nil, err
	}
	stopTap, err := r.S.Tap(room, func(t sfu.TrackInfo) sfu.TrackSink {
		sink, err := rec.OnTrack(record.TrackInfo{Participant: t.ParticipantID, Track: t.ID,
			Options: record.Options{Codec: t.Codec, Width: t.Width, Height: t.Height,
				RequestKeyframe: func() { r.S.RequestKeyframe(room, t.ParticipantID, t.ID) }}})
		if err != nil {
			r.Log.Warn("rooms: not recording a track", "room", room, "track", t.ID, "codec", t.Codec, "err", err)
			return nil
		}
		return sink
	})
	if err != nil {
		rec.Stop()
		return nil, err
	}
	return func() {
		stopTap()
		if err := rec.Stop(); err != nil {
			r.Log.Warn("rooms: finishing a recording", "room", room, "err", err)
		}
	}, nil
}

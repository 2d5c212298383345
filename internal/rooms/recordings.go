package rooms

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/protocol"
)

// Recordings are files under one directory, one subdirectory per account:
// DIR/ACCOUNT/ROOM__TRACK__TIME.webm (or .ogg). The recorder writes them;
// the owner lists and downloads them.
type Recordings struct {
	Dir string
}

// recordingName is what a recording's file name may be: no paths, no dots
// but the extension's.
var recordingName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,200}\.(webm|ogg)$`)

// AccountDir is where an account's recordings go.
func (r Recordings) AccountDir(account string) string {
	return filepath.Join(r.Dir, account)
}

// FileName names the file of one recorded track; ext is ".webm" or ".ogg".
func FileName(room, track, ext string, start time.Time) string {
	clean := func(s string) string {
		return strings.Map(func(c rune) rune {
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
				return c
			}
			return '-'
		}, s)
	}
	return clean(room) + "__" + clean(track) + "__" + start.UTC().Format("20060102T150405Z") + ext
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
	ents, err := os.ReadDir(r.AccountDir(id.AccountID))
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, apperr.Wrap("rooms.Recordings", err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !recordingName.MatchString(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		rec := protocol.Recording{Name: e.Name(), Size: info.Size(), CreatedAt: info.ModTime().UTC(),
			URL: "/api/v1/recordings/" + e.Name()}
		if parts := strings.SplitN(e.Name(), "__", 3); len(parts) == 3 {
			rec.Room, rec.Track = parts[0], parts[1]
		}
		if strings.HasSuffix(e.Name(), ".ogg") {
			rec.Kind = "audio"
		}
		out = append(out, rec)
	}
	slices.SortFunc(out, func(a, b protocol.Recording) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

// Open opens one of the account's recordings for download.
func (r Recordings) Open(id auth.Identity, name string) (*os.File, fs.FileInfo, error) {
	if err := ownerOnly(id); err != nil {
		return nil, nil, err
	}
	if !recordingName.MatchString(name) || r.Dir == "" {
		return nil, nil, apperr.NotFoundf("no recording %q", name)
	}
	f, err := os.Open(filepath.Join(r.AccountDir(id.AccountID), name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, apperr.NotFoundf("no recording %q", name)
	}
	if err != nil {
		return nil, nil, apperr.Wrap("rooms.Recordings.Open", err)
	}
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, apperr.NotFoundf("no recording %q", name)
	}
	return f, info, nil
}

package api

import (
	"net/http"
	"strings"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/media"
	"github.com/parley-chat/parley/internal/rooms"
	"github.com/parley-chat/parley/protocol"
)

// SetRooms serves the rooms, channels and recordings routes from r and
// recs. Without it they answer 503 unavailable. Call it before serving.
func (a *API) SetRooms(r *rooms.Service, recs rooms.Recordings) {
	a.rooms, a.recordings = r, recs
}

func (a *API) roomsOn() error {
	if a.rooms == nil {
		return apperr.New(apperr.Unavailable, rooms.CodeUnavailable, "this server runs without an SFU: no rooms or channels")
	}
	return nil
}

type roomsReply struct {
	Rooms []protocol.Room `json:"rooms"`
}

type channelsReply struct {
	Channels []protocol.Channel `json:"channels"`
}

type recordingsReply struct {
	Recordings []protocol.Recording `json:"recordings"`
}

func (a *API) listRooms(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	if err := a.roomsOn(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, roomsReply{Rooms: a.rooms.List(id)})
	return nil
}

func (a *API) createRoom(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	if err := a.roomsOn(); err != nil {
		return err
	}
	var req protocol.CreateRoom
	if err := a.decodeJSON(w, r, &req, true); err != nil {
		return err
	}
	room, err := a.rooms.Create(id, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, room)
	return nil
}

func (a *API) getRoom(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	if err := a.roomsOn(); err != nil {
		return err
	}
	room, err := a.rooms.Get(id, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, room)
	return nil
}

func (a *API) closeRoom(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	if err := a.roomsOn(); err != nil {
		return err
	}
	if err := a.rooms.Close(id, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type roomInviteBody struct {
	Users []string `json:"users"`
}

func (a *API) inviteToRoom(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	if err := a.roomsOn(); err != nil {
		return err
	}
	var b roomInviteBody
	if err := a.decodeJSON(w, r, &b, false); err != nil {
		return err
	}
	room, err := a.rooms.Invite(id, r.PathValue("id"), b.Users)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, room)
	return nil
}

func (a *API) listChannels(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	if err := a.roomsOn(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, channelsReply{Channels: a.rooms.Channels(id)})
	return nil
}

func (a *API) startRecording(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	if err := a.roomsOn(); err != nil {
		return err
	}
	room, err := a.rooms.StartRecording(id, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, room)
	return nil
}

func (a *API) stopRecording(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	if err := a.roomsOn(); err != nil {
		return err
	}
	room, err := a.rooms.StopRecording(id, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, room)
	return nil
}

func (a *API) listRecordings(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	list, err := a.recordings.List(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, recordingsReply{Recordings: list})
	return nil
}

func (a *API) downloadRecording(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	name := r.PathValue("name")
	f, info, err := a.recordings.Open(id, name)
	if err != nil {
		return err
	}
	defer f.Close()
	ct := "video/webm"
	if strings.HasSuffix(name, ".json") {
		ct = "application/json"
	}
	h := w.Header()
	media.SetDownloadHeaders(h, ct, name)
	h.Set("Cache-Control", "private")
	serveFile(w, r, info.ModTime(), f, info.Size())
	return nil
}

package api

import (
	"net/http"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/protocol"
)

type iceReply struct {
	ICEServers []protocol.ICEServer `json:"ice_servers"`
}

// iceServers mints the caller's STUN/TURN servers and credentials, for a
// client that needs fresh ones without reconnecting.
func (a *API) iceServers(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	if id.UserID == "" {
		return apperr.Forbiddenf("TURN credentials are for users, not API keys")
	}
	out := iceReply{ICEServers: []protocol.ICEServer{}}
	if a.cfg.ICEServers != nil {
		if s := a.cfg.ICEServers(id); s != nil {
			out.ICEServers = s
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

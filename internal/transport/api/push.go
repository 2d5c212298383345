package api

import (
	"net/http"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/protocol"
)

// pushKey returns the VAPID public key browsers subscribe with.
func (a *API) pushKey(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	if id.Role != protocol.RoleOwner && id.Role != protocol.RoleAgent {
		return apperr.Forbiddenf("only owners and agents receive push notifications")
	}
	writeJSON(w, http.StatusOK, protocol.PushKey{PublicKey: a.push.PublicKey()})
	return nil
}

// pushSubscribe stores the caller's browser subscription.
func (a *API) pushSubscribe(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	var sub protocol.PushSubscription
	if err := a.decodeJSON(w, r, &sub, false); err != nil {
		return err
	}
	if err := a.push.Subscribe(r.Context(), id, sub); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type endpointBody struct {
	Endpoint string `json:"endpoint"`
}

// pushUnsubscribe forgets one of the caller's subscriptions.
func (a *API) pushUnsubscribe(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	var b endpointBody
	if err := a.decodeJSON(w, r, &b, false); err != nil {
		return err
	}
	if err := a.push.Unsubscribe(r.Context(), id, b.Endpoint); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

package api

import (
	"net/http"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/inbox"
	"github.com/parley-chat/parley/internal/transport/clientip"
	"github.com/parley-chat/parley/protocol"
)

// limitIP takes one token from the caller's IP bucket of l.
func (a *API) limitIP(l *userLimiter, r *http.Request, what string) error {
	ok, wait := l.allow(clientip.Of(r, a.cfg.TrustProxyHeaders), time.Now())
	if ok {
		return nil
	}
	return &rateLimited{
		err:        apperr.New(apperr.RateLimited, apperr.CodeRateLimited, "too many %s from your address; retry in %s", what, wait.Round(time.Second)),
		retryAfter: retrySeconds(wait),
	}
}

// widget returns an address's public widget configuration.
func (a *API) widget(w http.ResponseWriter, r *http.Request, _ auth.Identity) error {
	if err := a.limitIP(a.byIP.address, r, "chat address lookups"); err != nil {
		return err
	}
	cfg, err := a.inboxes.Widget(r.Context(), r.PathValue("address"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cfg)
	return nil
}

// openSession opens a visitor session through an address: no sign-up, an
// anonymous visitor unless the request carries a returning visitor's
// ticket or an identity the site signed.
func (a *API) openSession(w http.ResponseWriter, r *http.Request, _ auth.Identity) error {
	if err := a.limitIP(a.byIP.address, r, "chat sessions"); err != nil {
		return err
	}
	var req protocol.SessionRequest
	if err := a.decodeJSON(w, r, &req, true); err != nil {
		return err
	}
	s, err := a.inboxes.OpenSession(r.Context(), r.PathValue("address"), req, inbox.Client{
		IP: clientip.Of(r, a.cfg.TrustProxyHeaders), UserAgent: r.UserAgent()})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

func (a *API) inboxSettings(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	s, err := a.inboxes.Settings(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

func (a *API) patchInboxSettings(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	var p protocol.InboxSettingsPatch
	if err := a.decodeJSON(w, r, &p, false); err != nil {
		return err
	}
	s, err := a.inboxes.UpdateSettings(r.Context(), id, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

// regenerateAddress replaces the inbox address; the old one stops at once.
func (a *API) regenerateAddress(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	s, err := a.inboxes.RegenerateAddress(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

func (a *API) visitor(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	v, err := a.inboxes.Visitor(r.Context(), id, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// LimitAddress takes one address lookup from the caller's IP budget: the
// full-page chat shares it with the widget routes.
func (a *API) LimitAddress(r *http.Request) error {
	return a.limitIP(a.byIP.address, r, "chat address lookups")
}

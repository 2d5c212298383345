package api

import (
	"net/http"
	"time"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/protocol"
)

type loginBody struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

// login signs an owner or agent in with a password.
func (a *API) login(w http.ResponseWriter, r *http.Request, _ auth.Identity) error {
	if err := a.limitIP(a.byIP.login, r, "sign-in attempts"); err != nil {
		return err
	}
	var b loginBody
	if err := a.decodeJSON(w, r, &b, false); err != nil {
		return err
	}
	s, err := a.auth.PasswordSignin(r.Context(), b.Login, b.Password, a.cfg.ConsoleSessionTTL)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

type codeBody struct {
	Code string `json:"code"`
}

// redeemLink signs in with a one-time link (the owner's first-start link).
// It is a POST, not the link's GET, so link previewers that fetch URLs
// cannot use it up.
func (a *API) redeemLink(w http.ResponseWriter, r *http.Request, _ auth.Identity) error {
	if err := a.limitIP(a.byIP.login, r, "sign-in attempts"); err != nil {
		return err
	}
	var b codeBody
	if err := a.decodeJSON(w, r, &b, false); err != nil {
		return err
	}
	s, err := a.auth.LinkSignin(r.Context(), b.Code, a.cfg.ConsoleSessionTTL)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

type acceptBody struct {
	Code        string `json:"code"`
	DisplayName string `json:"display_name"`
	Login       string `json:"login"`
	Password    string `json:"password"`
}

// acceptInvite makes an invited agent and signs them in.
func (a *API) acceptInvite(w http.ResponseWriter, r *http.Request, _ auth.Identity) error {
	if err := a.limitIP(a.byIP.login, r, "sign-in attempts"); err != nil {
		return err
	}
	var b acceptBody
	if err := a.decodeJSON(w, r, &b, false); err != nil {
		return err
	}
	s, err := a.auth.AcceptInvite(r.Context(), b.Code, b.DisplayName, b.Login, b.Password, a.cfg.ConsoleSessionTTL)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

// refresh renews a console session while it is valid.
func (a *API) refresh(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	s, err := a.auth.Refresh(r.Context(), id, a.cfg.ConsoleSessionTTL)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

type passwordBody struct {
	Login           string `json:"login"`
	Password        string `json:"password"`
	CurrentPassword string `json:"current_password,omitempty"`
}

// setPassword sets the caller's login and password. Changing an existing
// one needs the current password, so a stolen session cannot lock its
// owner out.
func (a *API) setPassword(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	if err := a.limitIP(a.byIP.login, r, "password changes"); err != nil {
		return err
	}
	var b passwordBody
	if err := a.decodeJSON(w, r, &b, false); err != nil {
		return err
	}
	if err := a.auth.ChangeLogin(r.Context(), id, b.CurrentPassword, b.Login, b.Password); err != nil {
		return err
	}
	s, err := a.auth.Refresh(r.Context(), id, a.cfg.ConsoleSessionTTL)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

type teamReply struct {
	Members []protocol.TeamMember `json:"members"`
}

// team lists the account's owners and agents with their status.
func (a *API) team(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	users, logins, err := a.auth.Team(r.Context(), id)
	if err != nil {
		return err
	}
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	ps, err := a.chat.Presence(r.Context(), id, ids)
	if err != nil {
		return err
	}
	out := teamReply{Members: make([]protocol.TeamMember, len(users))}
	for i, u := range users {
		out.Members[i] = protocol.TeamMember{
			User:  protocol.User{ID: u.ID, Name: u.Name, DisplayName: u.DisplayName, Role: u.Role},
			Login: logins[u.ID], Status: ps[i].Status,
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type inviteBody struct {
	DisplayName string `json:"display_name,omitempty"`
}

// invite makes a one-time link for a new agent (owners only).
func (a *API) invite(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	var b inviteBody
	if err := a.decodeJSON(w, r, &b, true); err != nil {
		return err
	}
	code, err := a.auth.Invite(r.Context(), id, b.DisplayName, a.cfg.InviteTTL)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, protocol.Invite{
		URL:       a.cfg.PublicURL + "/console/#invite=" + code,
		ExpiresAt: time.Now().Add(a.cfg.InviteTTL).UTC().Truncate(time.Second),
	})
	return nil
}

package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/textcheck"
	"github.com/parley-chat/parley/protocol"
)

// decodeJSON reads one JSON value from the body into v. An empty body is
// allowed when optional is set (v keeps its zero value). Every string in
// it is checked first (textcheck): encoding/json would store invalid UTF-8
// and lone surrogates changed, and NUL as it is.
func (a *API) decodeJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxJSONBytes)
	body, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return apperr.New(apperr.TooLarge, apperr.CodeMessageTooLarge, "the request body is over %d bytes", mbe.Limit)
	case err != nil:
		return apperr.Invalidf("reading the request body: %v", err)
	}
	if err := textcheck.JSON(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	err = dec.Decode(v)
	switch {
	case err == io.EOF && optional:
		return nil
	case err == io.EOF:
		return apperr.Invalidf("a JSON request body is required")
	case err != nil:
		return apperr.Invalidf("malformed JSON body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return apperr.Invalidf("malformed JSON body: data after the JSON value")
	}
	return nil
}

// --- tokens and identity ---

type tokenRequest struct {
	User        string `json:"user"`
	Role        string `json:"role"`
	DisplayName string `json:"display_name,omitempty"`
	TTL         string `json:"ttl,omitempty"`
}

type tokenReply struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

const maxUserName = 200

// createToken mints an access token for a user of the API key's account.
func (a *API) createToken(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	if !id.IsService() {
		return apperr.Forbiddenf("minting tokens needs the account's API key, not a user token")
	}
	var req tokenRequest
	if err := a.decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.User == "" || len(req.User) > maxUserName {
		return apperr.Invalidf("user must be 1 to %d bytes", maxUserName)
	}
	ttl := a.cfg.TokenTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			return apperr.Invalidf("ttl must be a positive duration such as \"1h\" or \"30m\"")
		}
		ttl = d
	}
	tok, err := a.auth.MintForAccount(r.Context(), auth.MintRequest{
		AccountID: id.AccountID, User: req.User, Role: req.Role, DisplayName: req.DisplayName, TTL: ttl})
	if err != nil {
		return err
	}
	var c auth.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil || c.ExpiresAt == nil {
		return apperr.Wrap("api.createToken", errors.Join(errors.New("minted token does not parse"), err))
	}
	writeJSON(w, http.StatusOK, tokenReply{Token: tok, ExpiresAt: c.ExpiresAt.UTC()})
	return nil
}

type meReply struct {
	User      *protocol.User `json:"user,omitempty"` // absent for an API key
	AccountID string         `json:"account_id"`
	Role      string         `json:"role"` // owner | agent | member | visitor | service
	APIKeyID  string         `json:"api_key_id,omitempty"`
	ExpiresAt *time.Time     `json:"expires_at,omitempty"`
}

func (a *API) me(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	out := meReply{AccountID: id.AccountID, Role: id.Role, APIKeyID: id.APIKeyID}
	if id.UserID != "" {
		out.User = &protocol.User{ID: id.UserID, Name: id.UserName, DisplayName: id.DisplayName, Role: id.Role}
	}
	if !id.ExpiresAt.IsZero() {
		t := id.ExpiresAt.UTC()
		out.ExpiresAt = &t
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// --- conversations ---

func queryInt(r *http.Request, name string) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, apperr.Invalidf("%s must be a non-negative integer", name)
	}
	return n, nil
}

func (a *API) listConversations(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	var before time.Time
	if s := r.URL.Query().Get("before"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return apperr.Invalidf("before must be an RFC 3339 time such as 2024-05-01T12:00:00Z")
		}
		before = t
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	if r.URL.Query().Has("limit") && limit == 0 {
		return apperr.Invalidf("limit must be 1 to 100")
	}
	cs, err := a.chat.ListConversations(r.Context(), id, before, int(min(limit, 1<<20)))
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []protocol.Conversation{}
	}
	writeJSON(w, http.StatusOK, protocol.ConversationsReply{Conversations: cs})
	return nil
}

// createConversation answers 201 with a new conversation, or 200 with the
// existing direct conversation between the two users.
func (a *API) createConversation(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	var req protocol.CreateConversationRequest
	if err := a.decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	start := time.Now().UTC()
	c, err := a.chat.CreateConversation(r.Context(), id, req)
	if err != nil {
		return err
	}
	st := http.StatusCreated
	if c.CreatedAt.Before(start) { // made by an earlier request: the existing one
		st = http.StatusOK
	}
	writeJSON(w, st, c)
	return nil
}

func (a *API) getConversation(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	c, err := a.chat.Conversation(r.Context(), id, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (a *API) join(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	c, err := a.chat.Join(r.Context(), id, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (a *API) leave(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	if err := a.chat.Leave(r.Context(), id, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) inbox(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	c, err := a.chat.OpenInbox(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

// --- messages ---

func (a *API) history(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	req := protocol.HistoryRequest{ConversationID: r.PathValue("id")}
	var err error
	if req.Before, err = queryInt(r, "before"); err != nil {
		return err
	}
	if r.URL.Query().Has("after") { // after=0 pages from the first message
		after, err := queryInt(r, "after")
		if err != nil {
			return err
		}
		req.After = &after
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	if r.URL.Query().Has("limit") && (limit == 0 || limit > 100) {
		return apperr.Invalidf("limit must be 1 to 100")
	}
	req.Limit = int(limit)
	h, err := a.chat.History(r.Context(), id, req)
	if err != nil {
		return err
	}
	if h.Messages == nil {
		h.Messages = []protocol.Message{}
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}

// send posts a message: a JSON SendRequest, or multipart/form-data with
// the attachment (see sendMultipart). It answers 201 with the new message,
// or 200 with the message first stored when client_id (or the
// Idempotency-Key header) repeats an earlier send.
func (a *API) send(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	convID := r.PathValue("id")
	start := time.Now().UTC()
	var (
		m   protocol.Message
		err error
	)
	if isMultipart(r) {
		m, err = a.sendMultipart(w, r, id, convID)
	} else {
		var req protocol.SendRequest
		if err := a.decodeJSON(w, r, &req, false); err != nil {
			return err
		}
		if req.ConversationID != "" && req.ConversationID != convID {
			return apperr.Invalidf("conversation_id in the body differs from the one in the path")
		}
		req.ConversationID = convID
		if req.ClientID, err = idempotencyKey(r, req.ClientID); err != nil {
			return err
		}
		m, err = a.chat.Send(r.Context(), id, req)
	}
	if err != nil {
		return err
	}
	st := http.StatusCreated
	if m.CreatedAt.Before(start) { // an idempotent resend: the message first stored
		st = http.StatusOK
		_, fanOut := a.cost(r, protocol.EvSend, id.AccountID)
		a.cfg.Budget.Refund(r.Context(), id.UserID, id.AccountID, fanOut) // it delivered nothing
	}
	writeJSON(w, st, m)
	return nil
}

// idempotencyKey merges the Idempotency-Key header with a body's client_id.
func idempotencyKey(r *http.Request, clientID string) (string, error) {
	key := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	switch {
	case key == "":
		return clientID, nil
	case clientID == "" || clientID == key:
		return key, nil
	}
	return "", apperr.Invalidf("the Idempotency-Key header and client_id differ")
}

type editBody struct {
	Text string `json:"text"`
}

func (a *API) edit(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	var b editBody
	if err := a.decodeJSON(w, r, &b, false); err != nil {
		return err
	}
	m, err := a.chat.Edit(r.Context(), id, protocol.EditRequest{
		ConversationID: r.PathValue("id"), MessageID: r.PathValue("message_id"), Text: b.Text})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

func (a *API) deleteMessage(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	m, err := a.chat.Delete(r.Context(), id, protocol.DeleteRequest{
		ConversationID: r.PathValue("id"), MessageID: r.PathValue("message_id")})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

type readBody struct {
	Seq *int64 `json:"seq"`
}

func (a *API) markRead(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	var b readBody
	if err := a.decodeJSON(w, r, &b, false); err != nil {
		return err
	}
	if b.Seq == nil {
		return apperr.Invalidf("seq is required")
	}
	st, err := a.chat.MarkRead(r.Context(), id, protocol.ReadRequest{ConversationID: r.PathValue("id"), Seq: *b.Seq})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

type typingBody struct {
	IsTyping *bool `json:"is_typing"`
}

func (a *API) typing(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	var b typingBody
	if err := a.decodeJSON(w, r, &b, false); err != nil {
		return err
	}
	if b.IsTyping == nil {
		return apperr.Invalidf("is_typing is required")
	}
	if err := a.chat.Typing(r.Context(), id, protocol.TypingRequest{ConversationID: r.PathValue("id"), IsTyping: *b.IsTyping}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- presence ---

func (a *API) setPresence(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	var b protocol.StatusRequest
	if err := a.decodeJSON(w, r, &b, false); err != nil {
		return err
	}
	p, err := a.chat.SetStatus(r.Context(), id, b.Status)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// getPresence takes user_ids=a,b (or user_ids repeated).
func (a *API) getPresence(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	var ids []string
	for _, v := range r.URL.Query()["user_ids"] {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				ids = append(ids, s)
			}
		}
	}
	if len(ids) == 0 {
		return apperr.Invalidf("user_ids is required: user_ids=usr_a,usr_b")
	}
	ps, err := a.chat.Presence(r.Context(), id, ids)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, protocol.PresenceReply{Users: ps})
	return nil
}

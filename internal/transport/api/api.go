// Package api is Parley's REST interface under /api/v1: JSON in and out,
// errors as {"error": {"code", "message"}}, every request authenticated by
// an "Authorization: Bearer …" header carrying an access token or an API
// key. It translates requests into chat and auth calls and is the only
// place where apperr kinds become HTTP statuses (see status). The routes
// live in one table (routes) which the OpenAPI document served at
// /api/v1/openapi.json is tested against.
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/budget"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/inbox"
	"github.com/parley-chat/parley/internal/push"
	"github.com/parley-chat/parley/internal/rooms"
	"github.com/parley-chat/parley/protocol"
)

// Prefix is where the API is mounted.
const Prefix = "/api/v1"

// Config tunes the REST layer. Zero values take the defaults in brackets.
// Upload size limits per kind are enforced by the media store; this layer
// only caps request bodies.
type Config struct {
	// AllowedOrigins lists the origins allowed to call the API from a
	// browser (CORS), e.g. "https://www.example.com". Empty allows any
	// origin: tokens in headers, not cookies, authenticate, so a foreign
	// page gains nothing it does not already hold. ["*"] means the same.
	AllowedOrigins []string
	// Budget is the request budget every authenticated request spends from,
	// shared with the WebSocket endpoint. Nil: a budget of its own,
	// MessagesPerSecond and MessagesBurst per user [10, 20], none per
	// account.
	Budget            *budget.Guard
	MessagesPerSecond float64
	MessagesBurst     int
	// Audience, if set, is how many members a conversation of the account
	// has (chat.Service.Audience): the fan-out that requests into it are
	// priced with (nil: none).
	Audience func(ctx context.Context, accountID, convID string) int
	// TokenTTL is the lifetime of tokens minted by POST /tokens when the
	// request names none [24h].
	TokenTTL time.Duration
	// PublicURL is the server's public base URL ("https://chat.example.com"),
	// advertised as the server of the OpenAPI document ["" = relative].
	PublicURL string
	// MaxUploadBytes is the largest upload of any kind (the media store
	// enforces the per-kind limits); upload bodies are capped at this plus
	// uploadOverhead so a client cannot stream past it [25 MiB].
	MaxUploadBytes int64
	// MaxJSONBytes caps JSON request bodies [1 MiB].
	MaxJSONBytes int64
	// TrustProxyHeaders takes the client IP from X-Forwarded-For (only
	// behind a reverse proxy you control).
	TrustProxyHeaders bool
	// AddressAttemptsPerMinute limits, per client IP, widget loads and
	// visitor sessions (lookups of inbox addresses) [60].
	AddressAttemptsPerMinute int
	// LoginAttemptsPerMinute limits, per client IP, console sign-ins:
	// passwords, one-time links and invitations [10].
	LoginAttemptsPerMinute int
	// ConsoleSessionTTL is the lifetime of a console sign-in [12h].
	ConsoleSessionTTL time.Duration
	// SigninLinkTTL and InviteTTL bound one-time links [24h, 7 days].
	SigninLinkTTL time.Duration
	InviteTTL     time.Duration
	// ICEServers, if set, mints a user's STUN/TURN servers (GET /ice-servers).
	ICEServers func(id auth.Identity) []protocol.ICEServer
}

const uploadOverhead = 1 << 20 // multipart headers and text fields

func (c *Config) defaults() {
	if c.MessagesPerSecond <= 0 {
		c.MessagesPerSecond = 10
	}
	if c.MessagesBurst <= 0 {
		c.MessagesBurst = 20
	}
	if c.TokenTTL <= 0 {
		c.TokenTTL = 24 * time.Hour
	}
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = 25 << 20
	}
	if c.MaxJSONBytes <= 0 {
		c.MaxJSONBytes = 1 << 20
	}
	if c.AddressAttemptsPerMinute <= 0 {
		c.AddressAttemptsPerMinute = 60
	}
	if c.LoginAttemptsPerMinute <= 0 {
		c.LoginAttemptsPerMinute = 10
	}
	if c.ConsoleSessionTTL <= 0 {
		c.ConsoleSessionTTL = 12 * time.Hour
	}
	if c.SigninLinkTTL <= 0 {
		c.SigninLinkTTL = 24 * time.Hour
	}
	if c.InviteTTL <= 0 {
		c.InviteTTL = 7 * 24 * time.Hour
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
}

// API serves the REST routes. It is safe for concurrent use.
type API struct {
	cfg     Config
	auth    *auth.Authenticator
	chat    *chat.Service
	inboxes *inbox.Service
	push    *push.Service
	// rooms is nil on a server without an SFU; recordings has an empty
	// Dir then.
	rooms      *rooms.Service
	recordings rooms.Recordings
	log        *slog.Logger
	byIP       ipLimits
	origins    map[string]bool // nil: any origin
	openapi    []byte          // the served document, servers filled in
	handler    http.Handler
}

// New returns the REST API.
func New(cfg Config, a *auth.Authenticator, c *chat.Service, in *inbox.Service, p *push.Service, log *slog.Logger) *API {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	if cfg.Budget == nil {
		cfg.Budget = budget.NewGuard(budget.NewMemory(),
			budget.Rate{PerSecond: cfg.MessagesPerSecond, Burst: float64(cfg.MessagesBurst)}, budget.Rate{}, log)
	}
	api := &API{cfg: cfg, auth: a, chat: c, inboxes: in, push: p, log: log,
		byIP: ipLimits{
			address: perMinute(cfg.AddressAttemptsPerMinute),
			login:   perMinute(cfg.LoginAttemptsPerMinute),
		}}
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			api.origins = nil
			break
		}
		if api.origins == nil {
			api.origins = make(map[string]bool)
		}
		api.origins[strings.TrimRight(o, "/")] = true
	}
	api.openapi = openAPIDocument(cfg.PublicURL)
	api.handler = api.cors(api.mux())
	return api
}

// Handler serves /api/v1/…; mount it at "/api/v1/".
func (a *API) Handler() http.Handler { return a.handler }

// access says who may call a route.
type access uint8

const (
	authenticated access = iota // any valid bearer credential
	public                      // no credential needed
)

// route is one entry of the route table.
type route struct {
	method, pattern string // pattern as in the OpenAPI document, under Prefix
	access          access
	handle          func(a *API, w http.ResponseWriter, r *http.Request, id auth.Identity) error
}

// routes is the one route table: the mux is built from it and the OpenAPI
// test checks the document against it.
var routes = []route{
	{"POST", "/tokens", authenticated, (*API).createToken},
	{"GET", "/me", authenticated, (*API).me},
	{"GET", "/conversations", authenticated, (*API).listConversations},
	{"POST", "/conversations", authenticated, (*API).createConversation},
	{"GET", "/conversations/{id}", authenticated, (*API).getConversation},
	{"POST", "/conversations/{id}/join", authenticated, (*API).join},
	{"POST", "/conversations/{id}/leave", authenticated, (*API).leave},
	{"POST", "/inbox", authenticated, (*API).inbox},
	{"GET", "/conversations/{id}/messages", authenticated, (*API).history},
	{"POST", "/conversations/{id}/messages", authenticated, (*API).send},
	{"PATCH", "/conversations/{id}/messages/{message_id}", authenticated, (*API).edit},
	{"DELETE", "/conversations/{id}/messages/{message_id}", authenticated, (*API).deleteMessage},
	{"POST", "/conversations/{id}/read", authenticated, (*API).markRead},
	{"POST", "/conversations/{id}/typing", authenticated, (*API).typing},
	{"PUT", "/presence", authenticated, (*API).setPresence},
	{"GET", "/presence", authenticated, (*API).getPresence},
	{"POST", "/conversations/{id}/attachments", authenticated, (*API).upload},
	{"GET", "/attachments/{id}", authenticated, (*API).download},
	{"GET", "/attachments/{id}/link", authenticated, (*API).attachmentLink},
	{"GET", "/downloads/{account}/{id}", public, (*API).signedDownload},
	{"GET", "/openapi.json", public, (*API).serveOpenAPI},
	{"GET", "/protocol.json", public, (*API).serveProtocol},

	// The website inbox: widgets and visitor sessions (public, limited per IP) ...
	{"GET", "/widget/{address}", public, (*API).widget},
	{"POST", "/widget/{address}/session", public, (*API).openSession},
	// ... and its settings and visitors, for owners and agents.
	{"GET", "/inbox/settings", authenticated, (*API).inboxSettings},
	{"PATCH", "/inbox/settings", authenticated, (*API).patchInboxSettings},
	{"POST", "/inbox/address", authenticated, (*API).regenerateAddress},
	{"GET", "/conversations/{id}/visitor", authenticated, (*API).visitor},

	// The console's sign-in and team.
	{"POST", "/auth/login", public, (*API).login},
	{"POST", "/auth/link", public, (*API).redeemLink},
	{"POST", "/auth/invite", public, (*API).acceptInvite},
	{"POST", "/auth/refresh", authenticated, (*API).refresh},
	{"PUT", "/auth/password", authenticated, (*API).setPassword},
	{"GET", "/team", authenticated, (*API).team},
	{"POST", "/team/invites", authenticated, (*API).invite},

	// Web Push for the console.
	{"GET", "/push/key", authenticated, (*API).pushKey},
	{"POST", "/push/subscriptions", authenticated, (*API).pushSubscribe},
	{"DELETE", "/push/subscriptions", authenticated, (*API).pushUnsubscribe},

	// Calls.
	{"GET", "/ice-servers", authenticated, (*API).iceServers},

	// Group calls (rooms), broadcasts (channels) and their recordings.
	{"GET", "/rooms", authenticated, (*API).listRooms},
	{"POST", "/rooms", authenticated, (*API).createRoom},
	{"GET", "/rooms/{id}", authenticated, (*API).getRoom},
	{"DELETE", "/rooms/{id}", authenticated, (*API).closeRoom},
	{"POST", "/rooms/{id}/invite", authenticated, (*API).inviteToRoom},
	{"POST", "/rooms/{id}/recording", authenticated, (*API).startRecording},
	{"DELETE", "/rooms/{id}/recording", authenticated, (*API).stopRecording},
	{"GET", "/channels", authenticated, (*API).listChannels},
	{"GET", "/recordings", authenticated, (*API).listRecordings},
	{"GET", "/recordings/{name}", authenticated, (*API).downloadRecording},
}

func (a *API) mux() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.method+" "+Prefix+rt.pattern, a.wrap(rt))
	}
	mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: errorData{
				Code: apperr.CodeBadRequest, Message: r.Method + " is not allowed here; use " + strings.Join(allow, ", ")}})
			return
		}
		writeJSON(w, http.StatusNotFound, errorBody{Error: errorData{Code: apperr.CodeNotFound, Message: "no such route"}})
	})
	return mux
}

// allowedMethods lists the methods the route table serves for r's path.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var out []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := mux.Handler(probe); p != "" && p != Prefix+"/" {
			out = append(out, m)
		}
	}
	return out
}

// wrap authenticates a request for rt and writes the error a handler returns.
func (a *API) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id auth.Identity
		if rt.access == authenticated {
			var err error
			id, err = a.authenticate(r)
			if err != nil {
				a.writeError(w, r, err)
				return
			}
			if err := a.spend(r, rt, id); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		if err := rt.handle(a, w, r, id); err != nil {
			a.writeError(w, r, err)
		}
	})
}

// authenticate reads "Authorization: Bearer <token or API key>". Identity
// comes from the credential only, never from the body or query.
func (a *API) authenticate(r *http.Request) (auth.Identity, error) {
	h := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || cred == "" {
		return auth.Identity{}, errUnauthenticated
	}
	return a.auth.Bearer(r.Context(), cred)
}

// writeJSON writes v as the JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own types are encoded here: a failure is a bug.
		panic("api: encoding response: " + err.Error())
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

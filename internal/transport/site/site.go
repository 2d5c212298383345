// Package site serves what a person opens in a browser: the landing page,
// the full-page chat at /chat/ADDRESS, the widget's loader (/widget.js) and
// modules, and the agent console. The files come from package web, served
// as they are; the pages are small templates.
package site

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/inbox"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
	"github.com/parley-chat/parley/web"
)

// Config tunes the site.
type Config struct {
	// PublicURL is the server's base URL, shown in the snippet.
	PublicURL string
	// MediaOrigins may serve the pages' images and audio besides this
	// server: the S3 endpoint that signed downloads redirect to.
	MediaOrigins []string
}

// Limiter refuses a request over a per-IP limit (the REST API's, so a
// client gets one budget for addresses whichever way it asks).
type Limiter func(r *http.Request) error

// Site serves the pages and the browser code.
type Site struct {
	cfg    Config
	st     store.Store
	inbox  *inbox.Service
	limit  Limiter
	log    *slog.Logger
	assets map[string]*asset
	pages  *template.Template
	icons  map[string][]byte
}

// New loads the embedded files and templates.
func New(cfg Config, st store.Store, in *inbox.Service, limit Limiter, log *slog.Logger) *Site {
	a, err := assets(web.FS)
	if err != nil {
		panic("site: embedded files: " + err.Error()) // the binary is broken
	}
	pages := template.Must(template.ParseFS(web.FS, "pages/*.html"))
	return &Site{cfg: cfg, st: st, inbox: in, limit: limit, log: log, assets: a, pages: pages, icons: renderIcons()}
}

// Handler serves every page and file.
func (s *Site) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.landing)
	mux.HandleFunc("GET /chat/{address}", s.chatPage)
	mux.HandleFunc("GET /watch/{address}/{channel}", s.watchPage)
	mux.HandleFunc("GET /widget.js", s.file("/widget/loader.js", true))
	for _, dir := range []string{"/sdk/", "/ui/", "/widget/"} {
		mux.HandleFunc("GET "+dir, s.dir(true)) // other sites load these: CORS
	}
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /console/{$}", s.console)
	mux.HandleFunc("GET /console/icons/{size}", s.icon)
	mux.HandleFunc("GET /console/", s.dir(false))
	mux.HandleFunc("GET /favicon.ico", s.icon)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, http.StatusNotFound, "Not found", "There is nothing at this address.")
	})
	return mux
}

// pageHeaders are the security headers of our own pages.
func (s *Site) pageHeaders(w http.ResponseWriter, frameable bool) {
	h := w.Header()
	media := strings.Join(append([]string{"'self'", "blob:"}, s.cfg.MediaOrigins...), " ")
	csp := "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src " + media + " data:; " +
		"media-src " + media + "; connect-src 'self'; base-uri 'none'; form-action 'self'; object-src 'none'"
	if !frameable {
		csp += "; frame-ancestors 'none'"
		h.Set("X-Frame-Options", "DENY")
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
}

func (s *Site) file(name string, cors bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := s.assets[name]
		if a == nil {
			http.NotFound(w, r)
			return
		}
		if cors {
			w.Header().Set("Access-Control-Allow-Origin", "*")
		}
		a.serve(w, r)
	}
}

func (s *Site) dir(cors bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := s.assets[r.URL.Path]
		if a == nil || strings.HasSuffix(r.URL.Path, ".html") {
			s.errorPage(w, http.StatusNotFound, "Not found", "There is nothing at this address.")
			return
		}
		if cors {
			w.Header().Set("Access-Control-Allow-Origin", "*")
		}
		if strings.HasSuffix(r.URL.Path, "/sw.js") {
			w.Header().Set("Service-Worker-Allowed", "/console/")
		}
		a.serve(w, r)
	}
}

func (s *Site) render(w http.ResponseWriter, status int, name string, data any) {
	w.WriteHeader(status)
	if err := s.pages.ExecuteTemplate(w, name, data); err != nil {
		s.log.Error("site: page", "page", name, "err", err)
	}
}

func (s *Site) errorPage(w http.ResponseWriter, status int, title, message string) {
	s.pageHeaders(w, false)
	s.render(w, status, "error.html", map[string]string{"Title": title, "Message": message})
}

// landing is the page a fresh install opens on: what Parley is, the widget
// live on the page, the console and the snippet.
func (s *Site) landing(w http.ResponseWriter, r *http.Request) {
	in, err := s.defaultInbox(r.Context())
	if err != nil {
		s.log.Error("site: landing", "err", err)
		s.errorPage(w, http.StatusInternalServerError, "Parley", "Parley is running, but its inbox could not be loaded; see the server log.")
		return
	}
	s.pageHeaders(w, false)
	s.render(w, http.StatusOK, "landing.html", map[string]any{
		"Address": in.Address, "Name": in.Name, "Snippet": s.inbox.Snippet(in.Address),
		"ChatURL": "/chat/" + in.Address, "PublicURL": s.cfg.PublicURL,
	})
}

// defaultInbox is the first account's inbox (the one made at first start).
func (s *Site) defaultInbox(ctx context.Context) (store.Inbox, error) {
	accts, err := s.st.ListAccounts(ctx)
	if err != nil {
		return store.Inbox{}, err
	}
	if len(accts) == 0 {
		return store.Inbox{}, errors.New("no account")
	}
	return s.inbox.Ensure(ctx, accts[0].ID)
}

// chatPage is the full-page chat of an address (like a 3CX link).
func (s *Site) chatPage(w http.ResponseWriter, r *http.Request) {
	if cfg, ok := s.addressed(w, r, "chat"); ok {
		s.pageHeaders(w, true)
		s.render(w, http.StatusOK, "chat.html", cfg)
	}
}

// watchPage is a broadcast's public viewer page: the inbox's address
// makes the viewer its visitor, as the chat page does.
func (s *Site) watchPage(w http.ResponseWriter, r *http.Request) {
	channel := r.PathValue("channel")
	if !channelName.MatchString(channel) {
		s.errorPage(w, http.StatusNotFound, "No such broadcast", "A broadcast's name is 1 to 64 letters, digits, _ or -.")
		return
	}
	if cfg, ok := s.addressed(w, r, "broadcast"); ok {
		s.pageHeaders(w, true)
		s.render(w, http.StatusOK, "watch.html", struct {
			protocol.WidgetConfig
			Channel string
		}{cfg, channel})
	}
}

// addressed looks up the inbox of the request's {address}, under the
// per-IP limit on address lookups; when it cannot, it has answered with
// an error page naming what (chat or broadcast) could not be opened.
func (s *Site) addressed(w http.ResponseWriter, r *http.Request, what string) (protocol.WidgetConfig, bool) {
	if err := s.limit(r); err != nil {
		w.Header().Set("Retry-After", "60")
		s.errorPage(w, http.StatusTooManyRequests, "Too many attempts", "Too many "+what+" links were opened from your address. Wait a minute and try again.")
		return protocol.WidgetConfig{}, false
	}
	cfg, err := s.inbox.Widget(r.Context(), r.PathValue("address"))
	if apperr.Is(err, apperr.CodeAddressInvalid) {
		title := strings.ToUpper(what[:1]) + what[1:]
		s.errorPage(w, http.StatusNotFound, title+" link not valid", "This "+what+" address is no longer valid. Ask the site for its current link.")
		return protocol.WidgetConfig{}, false
	}
	if err != nil {
		s.log.Error("site: "+what+" page", "err", err)
		s.errorPage(w, http.StatusInternalServerError, strings.ToUpper(what[:1])+what[1:]+" unavailable", "The "+what+" could not be opened; try again later.")
		return protocol.WidgetConfig{}, false
	}
	return cfg, true
}

// channelName is what rooms accept as a channel's name.
var channelName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// console serves the agent console's single page.
func (s *Site) console(w http.ResponseWriter, r *http.Request) {
	a := s.assets["/console/index.html"]
	s.pageHeaders(w, false)
	w.Header().Set("Cache-Control", "no-cache")
	a.serve(w, r)
}

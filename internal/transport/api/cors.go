package api

import (
	"net/http"

	"github.com/parley-chat/parley/internal/apperr"
)

const (
	corsMethods = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
	corsHeaders = "Authorization, Content-Type, Idempotency-Key"
	corsExpose  = "Content-Disposition, Content-Length, Content-Range, Accept-Ranges, ETag, Retry-After, WWW-Authenticate"
	corsMaxAge  = "600"
)

func (a *API) originAllowed(origin string) bool {
	return a.origins == nil || a.origins[origin]
}

// cors answers preflight requests and marks responses readable by allowed
// origins. Credentials (cookies) are never allowed: the API authenticates
// with the Authorization header only.
func (a *API) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		allowed := a.originAllowed(origin)
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if !allowed {
				writeJSON(w, http.StatusForbidden, errorBody{Error: errorData{
					Code: apperr.CodeForbidden, Message: "origin " + origin + " is not allowed"}})
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", corsExpose)
		}
		next.ServeHTTP(w, r)
	})
}

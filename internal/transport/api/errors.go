package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/parley-chat/parley/internal/apperr"
)

type errorData struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfterMS, with rate_limited from the request budget, is the wait
	// in milliseconds (Retry-After has it in whole seconds).
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
}

// errorBody is every error response: {"error": {"code", "message"}}.
type errorBody struct {
	Error errorData `json:"error"`
}

var errUnauthenticated = apperr.New(apperr.Unauthorized, apperr.CodeUnauthenticated,
	`send "Authorization: Bearer <access token or API key>"`)

// status maps an error kind to its HTTP status. This is the only place the
// mapping exists.
func status(k apperr.Kind) int {
	switch k {
	case apperr.Invalid:
		return http.StatusBadRequest
	case apperr.Unauthorized:
		return http.StatusUnauthorized
	case apperr.Forbidden:
		return http.StatusForbidden
	case apperr.NotFound:
		return http.StatusNotFound
	case apperr.Conflict:
		return http.StatusConflict
	case apperr.TooLarge:
		return http.StatusRequestEntityTooLarge
	case apperr.RateLimited:
		return http.StatusTooManyRequests
	case apperr.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// rateLimited carries how long to wait, for Retry-After.
type rateLimited struct {
	err        *apperr.Error
	retryAfter int // seconds
}

func (e *rateLimited) Error() string { return e.err.Error() }
func (e *rateLimited) Unwrap() error { return e.err }

// writeError writes err as {"error": {...}} with its kind's status.
// Internal errors get a generic message; their cause is logged.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = apperr.New(apperr.TooLarge, apperr.CodeFileTooLarge, "the request body is over %d bytes", mbe.Limit)
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client went away; nobody to answer
	}
	e := apperr.As(err)
	st := status(e.Kind)
	msg := e.Message
	if e.Kind == apperr.Internal {
		a.log.Error("api: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	switch e.Kind {
	case apperr.Unauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
	case apperr.RateLimited:
		sec := 1
		var rl *rateLimited
		if errors.As(err, &rl) && rl.retryAfter > 0 {
			sec = rl.retryAfter
		} else if e.RetryAfter > 0 {
			sec = retrySeconds(e.RetryAfter)
		}
		w.Header().Set("Retry-After", strconv.Itoa(sec))
	case apperr.Unavailable:
		w.Header().Set("Retry-After", "5")
	}
	code := e.Code
	if code == "" {
		code = e.Kind.String()
	}
	var retry int64
	if e.Kind == apperr.RateLimited && e.RetryAfter > 0 {
		retry = max(1, e.RetryAfter.Milliseconds())
	}
	writeJSON(w, st, errorBody{Error: errorData{Code: code, Message: msg, RetryAfterMS: retry}})
}

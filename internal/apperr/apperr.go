// Package apperr is the one error type the domain returns. An error has a
// Kind, which transports map to an HTTP status or a WebSocket error, and a
// Code, a stable string that clients match on (documented in docs/protocol.md).
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Kind groups errors by what the caller should do about them.
type Kind uint8

const (
	Internal     Kind = iota // a fault on our side; retry later
	Invalid                  // the request is malformed; do not retry as is
	Unauthorized             // no valid identity
	Forbidden                // identity is valid but may not do this
	NotFound                 // the thing does not exist (or is not visible to the caller)
	Conflict                 // the request clashes with current state
	TooLarge                 // a size limit was exceeded
	RateLimited              // slow down and retry
	Unavailable              // the server is shutting down or overloaded
)

func (k Kind) String() string {
	switch k {
	case Invalid:
		return "invalid"
	case Unauthorized:
		return "unauthorized"
	case Forbidden:
		return "forbidden"
	case NotFound:
		return "not_found"
	case Conflict:
		return "conflict"
	case TooLarge:
		return "too_large"
	case RateLimited:
		return "rate_limited"
	case Unavailable:
		return "unavailable"
	}
	return "internal"
}

// Stable error codes. Every code a client can see is listed here and in
// docs/protocol.md; tests match on them.
const (
	CodeInternal            = "internal"
	CodeBadRequest          = "bad_request"          // malformed JSON or missing fields
	CodeInvalidText         = "invalid_text"         // a string with invalid UTF-8, a lone surrogate, NUL or another control character
	CodeUnknownEvent        = "unknown_event"        // a WebSocket event the server does not handle
	CodeUnauthenticated     = "unauthenticated"      // no token, or a token that does not verify
	CodeTokenExpired        = "token_expired"        // a token whose exp has passed
	CodeForbidden           = "forbidden"            // the caller's role does not allow this
	CodeNotMember           = "not_member"           // the caller is not a member of the conversation
	CodeNotFound            = "not_found"            // no such object in the caller's account
	CodeNotSender           = "not_sender"           // only the sender may edit a message
	CodeMessageDeleted      = "message_deleted"      // edits to a deleted message are refused
	CodeMessageTooLarge     = "message_too_large"    // text over the configured limit
	CodeRateLimited         = "rate_limited"         // over a request budget or rate; retry later
	CodeTooManyConns        = "too_many_connections" // per-IP or per-account connection limit
	CodeFileTooLarge        = "file_too_large"       // upload over its kind's limit
	CodeUnsupportedType     = "unsupported_type"     // sniffed type not allowed for the kind
	CodeConflict            = "conflict"             // e.g. client_id reused for a different message
	CodeShuttingDown        = "shutting_down"
	CodeInvalidConversation = "invalid_conversation" // e.g. a direct conversation with oneself
	CodeAddressInvalid      = "address_invalid"      // an inbox address that does not exist or was regenerated
	CodeBadCredentials      = "bad_credentials"      // a login and password that do not match
	CodeLinkInvalid         = "link_invalid"         // a one-time link already used, expired or mistyped
	CodeLoginTaken          = "login_taken"          // the login belongs to someone else
	CodeURLExpired          = "url_expired"          // a signed download URL whose expiry has passed: ask for a fresh one
	CodeURLInvalid          = "url_invalid"          // a signed download URL whose signature does not match
)

// Error is a domain error. Op names the operation that failed ("chat.Send").
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Op      string
	Err     error // the underlying cause, never shown to clients
	// RetryAfter, on a RateLimited error, is how long until the request
	// would pass (0: unknown). Transports tell it to the client.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	s := e.Code + ": " + e.Message
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// New makes an error of a kind with a stable code and a human message.
func New(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap marks err as an internal fault in op. It keeps an *Error as it is.
func Wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Kind: Internal, Code: CodeInternal, Message: "internal error", Op: op, Err: err}
}

// As returns err as an *Error, turning anything else into an internal one.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: Internal, Code: CodeInternal, Message: "internal error", Err: err}
}

// Is reports whether err is an *Error with the given code.
func Is(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// KindOf returns the Kind of err (Internal for foreign errors).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Common constructors used across packages.
func NotFoundf(format string, args ...any) *Error {
	return New(NotFound, CodeNotFound, format, args...)
}

func Invalidf(format string, args ...any) *Error {
	return New(Invalid, CodeBadRequest, format, args...)
}

func Forbiddenf(format string, args ...any) *Error {
	return New(Forbidden, CodeForbidden, format, args...)
}

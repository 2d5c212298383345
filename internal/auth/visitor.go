package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/protocol"
)

// VisitorTicket is what lets an anonymous visitor's browser come back as
// the same visitor: an HMAC of the account and the visitor's name under
// the server's secret. It needs no storage and cannot be forged for
// another visitor.
func (a *Authenticator) VisitorTicket(accountID, name string) string {
	return base64.RawURLEncoding.EncodeToString(a.ticketMAC(accountID, name))
}

// CheckVisitorTicket reports whether ticket was made for this visitor.
func (a *Authenticator) CheckVisitorTicket(accountID, name, ticket string) bool {
	got, err := base64.RawURLEncoding.DecodeString(ticket)
	return err == nil && hmac.Equal(got, a.ticketMAC(accountID, name))
}

func (a *Authenticator) ticketMAC(accountID, name string) []byte {
	m := hmac.New(sha256.New, a.secret)
	m.Write([]byte("visitor-ticket\x00" + accountID + "\x00" + name))
	return m.Sum(nil)
}

// VerifyIdentity checks a token a site signed (with its API key) to vouch
// for one of its customers: it must verify, belong to accountID and have
// the visitor role.
func (a *Authenticator) VerifyIdentity(ctx context.Context, token, accountID string) (Claims, error) {
	c, err := Parse(token, a.lookup(ctx), a.now(), a.maxTTL)
	if err != nil {
		return Claims{}, err
	}
	if c.AccountID != accountID {
		return Claims{}, apperr.New(apperr.Unauthorized, apperr.CodeUnauthenticated, "the identity is for another account")
	}
	if c.Role != protocol.RoleVisitor {
		return Claims{}, apperr.New(apperr.Unauthorized, apperr.CodeUnauthenticated, "an identity token must have the visitor role")
	}
	return c, nil
}

package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/crypto/bcrypt"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

// Password sign-in for the console: owners and agents have a login (an
// e-mail address or a user name, unique across the server) and a bcrypt
// password hash.

const (
	MinPasswordBytes = 8
	MaxPasswordBytes = 72 // bcrypt's limit; longer would be silently cut
	maxLoginBytes    = 254
)

var errBadCredentials = apperr.New(apperr.Unauthorized, apperr.CodeBadCredentials, "the login or password is not right")

// NormalizeLogin lower-cases and trims a login and checks its form.
func NormalizeLogin(login string) (string, error) {
	l := strings.ToLower(strings.TrimSpace(login))
	if len(l) < 2 || len(l) > maxLoginBytes {
		return "", apperr.Invalidf("a login is 2 to %d characters", maxLoginBytes)
	}
	for _, r := range l {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", apperr.Invalidf("a login has no spaces or control characters")
		}
	}
	return l, nil
}

func checkPassword(p string) error {
	if len(p) < MinPasswordBytes || len(p) > MaxPasswordBytes {
		return apperr.Invalidf("a password is %d to %d bytes", MinPasswordBytes, MaxPasswordBytes)
	}
	return nil
}

// SetLogin gives an owner or agent a login and password (or changes them).
func (a *Authenticator) SetLogin(ctx context.Context, id Identity, login, password string) (string, error) {
	if id.UserID == "" || (id.Role != protocol.RoleOwner && id.Role != protocol.RoleAgent) {
		return "", apperr.Forbiddenf("only owners and agents sign in with a password")
	}
	l, err := NormalizeLogin(login)
	if err != nil {
		return "", err
	}
	if err := checkPassword(password); err != nil {
		return "", err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), a.bcryptCost())
	if err != nil {
		return "", apperr.Wrap("auth.SetLogin", err)
	}
	err = a.st.PutLogin(ctx, store.Login{Login: l, UserID: id.UserID, AccountID: id.AccountID,
		PasswordHash: string(hash), UpdatedAt: a.now().UTC()})
	if errors.Is(err, store.ErrConflict) {
		return "", apperr.New(apperr.Conflict, apperr.CodeLoginTaken, "the login %q is taken", l)
	}
	if err != nil {
		return "", apperr.Wrap("auth.SetLogin", err)
	}
	return l, nil
}

// LoginOf returns the caller's login, "" when they have none.
func (a *Authenticator) LoginOf(ctx context.Context, id Identity) (string, error) {
	l, err := a.st.GetLoginByUser(ctx, id.AccountID, id.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", apperr.Wrap("auth.LoginOf", err)
	}
	return l.Login, nil
}

// CheckPassword returns the user a login and password belong to. A wrong
// password and an unknown login take the same time and give the same error.
func (a *Authenticator) CheckPassword(ctx context.Context, login, password string) (store.User, error) {
	l, err := NormalizeLogin(login)
	if err != nil || len(password) > MaxPasswordBytes {
		return store.User{}, errBadCredentials
	}
	rec, err := a.st.GetLogin(ctx, l)
	switch {
	case errors.Is(err, store.ErrNotFound):
		bcrypt.CompareHashAndPassword(dummyHash(), []byte(password)) // same cost as a real check
		return store.User{}, errBadCredentials
	case err != nil:
		return store.User{}, apperr.Wrap("auth.CheckPassword", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(rec.PasswordHash), []byte(password)) != nil {
		return store.User{}, errBadCredentials
	}
	u, err := a.st.GetUser(ctx, rec.AccountID, rec.UserID)
	if err != nil {
		return store.User{}, apperr.Wrap("auth.CheckPassword", err)
	}
	return u, nil
}

// bcryptCost is bcrypt's default (10, ~60 ms) unless tests lowered it.
func (a *Authenticator) bcryptCost() int {
	if a.cost > 0 {
		return a.cost
	}
	return bcrypt.DefaultCost
}

var (
	dummyOnce sync.Once
	dummy     []byte
)

func dummyHash() []byte {
	dummyOnce.Do(func() {
		dummy, _ = bcrypt.GenerateFromPassword([]byte("no such login, but it costs the same"), bcrypt.DefaultCost)
	})
	return dummy
}

// ChangeLogin sets the caller's login and password. When they already
// have one, current must be their present password.
func (a *Authenticator) ChangeLogin(ctx context.Context, id Identity, current, login, password string) error {
	existing, err := a.LoginOf(ctx, id)
	if err != nil {
		return err
	}
	if existing != "" {
		if _, err := a.CheckPassword(ctx, existing, current); err != nil {
			return apperr.New(apperr.Forbidden, apperr.CodeBadCredentials, "the current password is not right")
		}
	}
	_, err = a.SetLogin(ctx, id, login, password)
	return err
}

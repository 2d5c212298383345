package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/config"
	"github.com/parley-chat/parley/internal/ids"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

const (
	settingSecret    = "token_secret"
	defaultOwnerName = "owner"
	// SigninLinkTTL is how long a one-time sign-in link works.
	SigninLinkTTL = 24 * time.Hour
)

// Secret returns the token signing secret: the configured one, or the one
// generated on first start and kept in the database.
func Secret(ctx context.Context, st store.Store, cfg config.Config) ([]byte, error) {
	if cfg.Secret != "" {
		return []byte(cfg.Secret), nil
	}
	s, err := st.GetSetting(ctx, settingSecret)
	if errors.Is(err, store.ErrNotFound) {
		s = auth.NewSecret(32)
		err = st.PutSetting(ctx, settingSecret, s)
	}
	if err != nil {
		return nil, fmt.Errorf("token secret: %w", err)
	}
	return []byte(s), nil
}

// FirstStart describes what Bootstrap created.
type FirstStart struct {
	Account    store.Account
	APIKey     string
	SigninLink string
	Address    string // the inbox's address
}

// Bootstrap creates, on a fresh database only, the default account, its
// owner, API key and inbox, and a one-time sign-in link for the owner. It
// returns nil when the database already has an account.
func (a *App) Bootstrap(ctx context.Context) (*FirstStart, error) {
	accts, err := a.Store.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	if len(accts) > 0 {
		return nil, nil
	}
	now := time.Now()
	acc, key, err := auth.CreateAccount(ctx, a.Store, "Default", now)
	if err != nil {
		return nil, err
	}
	owner, err := a.Store.UpsertUser(ctx, store.User{ID: ids.New(ids.User), AccountID: acc.ID, Name: defaultOwnerName,
		DisplayName: "Owner", Role: protocol.RoleOwner, CreatedAt: now.UTC()})
	if err != nil {
		return nil, err
	}
	in, err := a.Inbox.Ensure(ctx, acc.ID)
	if err != nil {
		return nil, err
	}
	in.Name = "Support" // what visitors see in the widget until the owner names it
	if err := a.Store.UpdateInbox(ctx, in); err != nil {
		return nil, err
	}
	link, err := SigninLink(ctx, a.Auth, a.Cfg, owner)
	if err != nil {
		return nil, err
	}
	return &FirstStart{Account: acc, APIKey: key, SigninLink: link, Address: in.Address}, nil
}

// SigninLink makes a one-time link that signs u in to the console. The
// code travels in the fragment, which browsers never send to a server, and
// the console redeems it with a POST, so neither logs nor link previewers
// can use it.
func SigninLink(ctx context.Context, a *auth.Authenticator, cfg config.Config, u store.User) (string, error) {
	code, err := a.SigninCode(ctx, u, SigninLinkTTL)
	if err != nil {
		return "", err
	}
	return cfg.PublicURLOrDefault() + "/console/#signin=" + code, nil
}

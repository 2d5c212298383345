package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/ids"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

// The console's people: owners and agents sign in with a one-time link or
// a password, owners invite agents, and a signed-in session can be renewed
// while it is valid.

// ConsoleSession mints a console token for u.
func (a *Authenticator) ConsoleSession(ctx context.Context, u store.User, ttl time.Duration) (protocol.ConsoleSession, error) {
	if u.Role != protocol.RoleOwner && u.Role != protocol.RoleAgent {
		return protocol.ConsoleSession{}, apperr.Forbiddenf("the console is for owners and agents")
	}
	tok, err := a.Mint(MintRequest{AccountID: u.AccountID, User: u.Name, Role: u.Role, TTL: ttl})
	if err != nil {
		return protocol.ConsoleSession{}, err
	}
	login, err := a.LoginOf(ctx, Identity{AccountID: u.AccountID, UserID: u.ID})
	if err != nil {
		return protocol.ConsoleSession{}, err
	}
	return protocol.ConsoleSession{
		Token: tok, ExpiresAt: a.now().Add(ttl).UTC().Truncate(time.Second),
		User:      protocol.User{ID: u.ID, Name: u.Name, DisplayName: u.DisplayName, Role: u.Role},
		AccountID: u.AccountID, Login: login, NeedsPassword: login == "",
	}, nil
}

// PasswordSignin signs in with a login and password.
func (a *Authenticator) PasswordSignin(ctx context.Context, login, password string, ttl time.Duration) (protocol.ConsoleSession, error) {
	u, err := a.CheckPassword(ctx, login, password)
	if err != nil {
		return protocol.ConsoleSession{}, err
	}
	return a.ConsoleSession(ctx, u, ttl)
}

// LinkSignin redeems a one-time sign-in link.
func (a *Authenticator) LinkSignin(ctx context.Context, code string, ttl time.Duration) (protocol.ConsoleSession, error) {
	g, err := a.RedeemLink(ctx, code, LinkSignin)
	if err != nil {
		return protocol.ConsoleSession{}, err
	}
	u, err := a.st.GetUserByName(ctx, g.AccountID, g.User)
	if err != nil {
		return protocol.ConsoleSession{}, apperr.Wrap("auth.LinkSignin", err)
	}
	return a.ConsoleSession(ctx, u, ttl)
}

// SigninCode makes a one-time sign-in link code for an existing owner or agent.
func (a *Authenticator) SigninCode(ctx context.Context, u store.User, ttl time.Duration) (string, error) {
	return a.CreateLink(ctx, Grant{Kind: LinkSignin, AccountID: u.AccountID, User: u.Name, Role: u.Role}, ttl)
}

// Invite makes a one-time invitation for a new agent (owners only).
func (a *Authenticator) Invite(ctx context.Context, id Identity, displayName string, ttl time.Duration) (string, error) {
	if id.Role != protocol.RoleOwner || id.UserID == "" {
		return "", apperr.Forbiddenf("only owners invite agents")
	}
	displayName = strings.TrimSpace(displayName)
	if len(displayName) > 100 {
		return "", apperr.Invalidf("display_name is at most 100 bytes")
	}
	return a.CreateLink(ctx, Grant{Kind: LinkInvite, AccountID: id.AccountID, Role: protocol.RoleAgent, DisplayName: displayName}, ttl)
}

// AcceptInvite makes the invited agent, with a login and password, and
// signs them in. The login is checked before the invitation is used up.
func (a *Authenticator) AcceptInvite(ctx context.Context, code, displayName, login, password string, ttl time.Duration) (protocol.ConsoleSession, error) {
	g, err := a.PeekLink(ctx, code)
	if err != nil {
		return protocol.ConsoleSession{}, err
	}
	if g.Kind != LinkInvite {
		return protocol.ConsoleSession{}, errLinkInvalid
	}
	l, err := NormalizeLogin(login)
	if err != nil {
		return protocol.ConsoleSession{}, err
	}
	if err := checkPassword(password); err != nil {
		return protocol.ConsoleSession{}, err
	}
	if _, err := a.st.GetLogin(ctx, l); err == nil {
		return protocol.ConsoleSession{}, apperr.New(apperr.Conflict, apperr.CodeLoginTaken, "the login %q is taken", l)
	} else if !errors.Is(err, store.ErrNotFound) {
		return protocol.ConsoleSession{}, apperr.Wrap("auth.AcceptInvite", err)
	}
	displayName = strings.TrimSpace(displayName)
	if displayName == "" {
		displayName = g.DisplayName
	}
	if displayName == "" || len(displayName) > 100 {
		return protocol.ConsoleSession{}, apperr.Invalidf("display_name must be 1 to 100 bytes")
	}
	if g, err = a.RedeemLink(ctx, code, LinkInvite); err != nil {
		return protocol.ConsoleSession{}, err
	}
	u, err := a.st.UpsertUser(ctx, store.User{ID: ids.New(ids.User), AccountID: g.AccountID,
		Name: "agent_" + strings.TrimPrefix(ids.New("a"), "a_"), DisplayName: displayName, Role: g.Role, CreatedAt: a.now().UTC()})
	if err != nil {
		return protocol.ConsoleSession{}, apperr.Wrap("auth.AcceptInvite", err)
	}
	if _, err := a.SetLogin(ctx, Identity{AccountID: u.AccountID, UserID: u.ID, Role: u.Role}, l, password); err != nil {
		return protocol.ConsoleSession{}, err
	}
	return a.ConsoleSession(ctx, u, ttl)
}

// Refresh renews a valid console session.
func (a *Authenticator) Refresh(ctx context.Context, id Identity, ttl time.Duration) (protocol.ConsoleSession, error) {
	if id.UserID == "" {
		return protocol.ConsoleSession{}, apperr.Forbiddenf("refresh a user's session, not an API key")
	}
	u, err := a.st.GetUser(ctx, id.AccountID, id.UserID)
	if err != nil {
		return protocol.ConsoleSession{}, apperr.Wrap("auth.Refresh", err)
	}
	return a.ConsoleSession(ctx, u, ttl)
}

// Team lists the owners and agents of the caller's account.
func (a *Authenticator) Team(ctx context.Context, id Identity) ([]store.User, map[string]string, error) {
	if id.Role != protocol.RoleOwner && id.Role != protocol.RoleAgent {
		return nil, nil, apperr.Forbiddenf("only owners and agents see the team")
	}
	users, err := a.st.ListUsersByRole(ctx, id.AccountID, protocol.RoleOwner, protocol.RoleAgent)
	if err != nil {
		return nil, nil, apperr.Wrap("auth.Team", err)
	}
	logins := make(map[string]string, len(users))
	for _, u := range users {
		if l, err := a.st.GetLoginByUser(ctx, u.AccountID, u.ID); err == nil {
			logins[u.ID] = l.Login
		}
	}
	return users, logins, nil
}

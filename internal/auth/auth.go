package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/ids"
	"github.com/parley-chat/parley/internal/store"
)

// Identity is who a request comes from, as established by a credential.
type Identity struct {
	AccountID   string
	UserID      string // empty for API keys
	UserName    string
	Role        string
	DisplayName string
	ExpiresAt   time.Time // zero for API keys
	// APIKeyID is set when a site's backend authenticated with its API key;
	// such a caller acts for the whole account.
	APIKeyID string
	// Address is the inbox address a visitor's session was opened through.
	Address string
}

// IsService reports whether the caller is a backend using an API key.
func (id Identity) IsService() bool { return id.APIKeyID != "" }

// Authenticator verifies tokens and API keys against the store.
type Authenticator struct {
	st     store.Store
	secret []byte
	maxTTL time.Duration
	now    func() time.Time

	mu   sync.Mutex
	keys map[string]cachedKey // API keys by id, so token checks do not query per connection

	addressCheck func(ctx context.Context, accountID, address string) error
	redeemMu     sync.Mutex // one-time links are redeemed one at a time on this node (see RedeemLink)
	claims       Claimer    // across nodes; nil on one node
	cost         int        // bcrypt cost; 0 = bcrypt.DefaultCost
}

type cachedKey struct {
	key     store.APIKey
	fetched time.Time
}

// keyCacheTTL bounds how long a revoked API key keeps working on this node.
const keyCacheTTL = time.Minute

// New returns an Authenticator. secret signs the server's own tokens; maxTTL
// is the longest token lifetime accepted.
func New(st store.Store, secret []byte, maxTTL time.Duration) *Authenticator {
	return &Authenticator{st: st, secret: secret, maxTTL: maxTTL, now: time.Now, keys: map[string]cachedKey{}}
}

// SetAddressCheck installs the check run on every token that names an inbox
// address (visitor sessions): an error refuses the token. The inbox service
// installs it so that regenerating an address revokes its sessions at once.
func (a *Authenticator) SetAddressCheck(f func(ctx context.Context, accountID, address string) error) {
	a.addressCheck = f
}

// SetBcryptCost lowers the password hashing cost (tests).
func (a *Authenticator) SetBcryptCost(cost int) { a.cost = cost }

// SetClock replaces time.Now (tests).
func (a *Authenticator) SetClock(now func() time.Time) { a.now = now }

// Mint signs a token with the server's secret.
func (a *Authenticator) Mint(r MintRequest) (string, error) {
	if a.maxTTL > 0 && r.TTL > a.maxTTL {
		return "", apperr.Invalidf("ttl %s is longer than token_max_ttl %s", r.TTL, a.maxTTL)
	}
	return Mint(ServerKeyID, a.secret, r, a.now())
}

// MintForAccount signs a token after checking the account exists.
func (a *Authenticator) MintForAccount(ctx context.Context, r MintRequest) (string, error) {
	if _, err := a.st.GetAccount(ctx, r.AccountID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", apperr.NotFoundf("no account %q", r.AccountID)
		}
		return "", apperr.Wrap("auth.MintForAccount", err)
	}
	return a.Mint(r)
}

func (a *Authenticator) lookup(ctx context.Context) KeyLookup {
	return func(kid string) ([]byte, string, error) {
		if kid == ServerKeyID {
			return a.secret, "", nil
		}
		k, err := a.apiKey(ctx, kid)
		if err != nil {
			return nil, "", err
		}
		return []byte(k.Secret), k.AccountID, nil
	}
}

func (a *Authenticator) apiKey(ctx context.Context, id string) (store.APIKey, error) {
	now := a.now()
	a.mu.Lock()
	c, ok := a.keys[id]
	a.mu.Unlock()
	if ok && now.Sub(c.fetched) < keyCacheTTL {
		return c.key, nil
	}
	k, err := a.st.GetAPIKey(ctx, id)
	if err != nil {
		return store.APIKey{}, err
	}
	if k.RevokedAt != nil {
		return store.APIKey{}, errors.New("api key revoked")
	}
	a.mu.Lock()
	if len(a.keys) > 10000 {
		clear(a.keys)
	}
	a.keys[id] = cachedKey{key: k, fetched: now}
	a.mu.Unlock()
	return k, nil
}

// Token verifies an access token and returns the identity it names,
// creating the user on first sight and updating role and display name when
// the token says otherwise (the token is signed, so it is authoritative).
func (a *Authenticator) Token(ctx context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, apperr.New(apperr.Unauthorized, apperr.CodeUnauthenticated, "a token is required")
	}
	c, err := Parse(token, a.lookup(ctx), a.now(), a.maxTTL)
	if err != nil {
		return Identity{}, err
	}
	if _, err := a.st.GetAccount(ctx, c.AccountID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Identity{}, apperr.New(apperr.Unauthorized, apperr.CodeUnauthenticated, "the token's account does not exist")
		}
		return Identity{}, apperr.Wrap("auth.Token", err)
	}
	if c.Address != "" && a.addressCheck != nil {
		if err := a.addressCheck(ctx, c.AccountID, c.Address); err != nil {
			return Identity{}, err
		}
	}
	u, err := a.st.GetUserByName(ctx, c.AccountID, c.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && (u.Role != c.Role || (c.DisplayName != "" && u.DisplayName != c.DisplayName))):
		u, err = a.st.UpsertUser(ctx, store.User{
			ID: ids.New(ids.User), AccountID: c.AccountID, Name: c.Subject,
			DisplayName: c.DisplayName, Role: c.Role, CreatedAt: a.now().UTC(),
		})
		if err != nil {
			return Identity{}, apperr.Wrap("auth.Token", err)
		}
	case err != nil:
		return Identity{}, apperr.Wrap("auth.Token", err)
	}
	return Identity{
		AccountID: u.AccountID, UserID: u.ID, UserName: u.Name, Role: u.Role,
		DisplayName: u.DisplayName, ExpiresAt: c.ExpiresAt.Time, Address: c.Address,
	}, nil
}

// APIKey verifies "<key id>.<secret>" and returns the account's service identity.
func (a *Authenticator) APIKey(ctx context.Context, s string) (Identity, error) {
	id, secret, ok := SplitAPIKey(s)
	if !ok {
		return Identity{}, apperr.New(apperr.Unauthorized, apperr.CodeUnauthenticated, "the API key is malformed")
	}
	k, err := a.apiKey(ctx, id)
	if err != nil || subtle.ConstantTimeCompare([]byte(k.Secret), []byte(secret)) != 1 {
		return Identity{}, apperr.New(apperr.Unauthorized, apperr.CodeUnauthenticated, "the API key is not valid")
	}
	return Identity{AccountID: k.AccountID, APIKeyID: k.ID, Role: "service"}, nil
}

// Bearer authenticates either kind of credential: API keys look like
// "key_….secret", anything else is taken as an access token.
func (a *Authenticator) Bearer(ctx context.Context, cred string) (Identity, error) {
	if _, _, ok := SplitAPIKey(cred); ok {
		return a.APIKey(ctx, cred)
	}
	return a.Token(ctx, cred)
}

// CreateAccount makes an account with one API key and returns both; the
// key string is shown once and is what the operator copies.
func CreateAccount(ctx context.Context, st store.Store, name string, now time.Time) (store.Account, string, error) {
	if name == "" || len(name) > 200 {
		return store.Account{}, "", apperr.Invalidf("account name must be 1 to 200 characters")
	}
	acc := store.Account{ID: ids.New(ids.Account), Name: name, CreatedAt: now.UTC()}
	if err := st.CreateAccount(ctx, acc); err != nil {
		return store.Account{}, "", apperr.Wrap("auth.CreateAccount", err)
	}
	key := store.APIKey{ID: ids.New(ids.APIKey), AccountID: acc.ID, Secret: NewSecret(32), CreatedAt: now.UTC()}
	if err := st.CreateAPIKey(ctx, key); err != nil {
		return store.Account{}, "", apperr.Wrap("auth.CreateAccount", err)
	}
	return acc, APIKeyString(key.ID, key.Secret), nil
}

// Package inbox is an account's website inbox: its unique address (the
// /chat/ADDRESS link and the widget's data-address), the widget's look and
// welcome message, the visitor sessions opened through the address, and
// what the console learns about each visitor. It knows nothing of HTTP.
package inbox

import (
	"context"
	"errors"
	"fmt"
	"html"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

// Config tunes the inbox. Zero values take the defaults in brackets.
type Config struct {
	// PublicURL is the server's base URL, for the links and the snippet
	// ["http://localhost:8080"].
	PublicURL string
	// VisitorTokenTTL is the lifetime of a visitor session's token; the
	// widget opens a new session (same visitor) before it runs out [24h].
	VisitorTokenTTL time.Duration
	// Bus, when set, carries address regenerations between nodes: every
	// node drops its cached address of the account (AddressTopic), so a
	// regenerated address stops working on all of them. Nil: one node.
	Bus bus.Bus
}

// AddressTopic is the bus topic of address regenerations (the event's
// Data is the account id); every node's inbox service listens to it.
const AddressTopic = "inbox:address"

func (c *Config) defaults() {
	if c.PublicURL == "" {
		c.PublicURL = "http://localhost:8080"
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.VisitorTokenTTL <= 0 {
		c.VisitorTokenTTL = 24 * time.Hour
	}
}

// Defaults of a new inbox.
const (
	DefaultWelcome  = "Hi! How can we help you today?"
	DefaultColor    = "#4f46e5"
	DefaultPosition = protocol.PositionRight
)

// Limits of the settings.
const (
	maxName    = 80
	maxWelcome = 1000
)

// Service runs the inbox. It is safe for concurrent use.
type Service struct {
	st   store.Store
	auth *auth.Authenticator
	chat *chat.Service
	cfg  Config
	now  func() time.Time

	addrs sync.Map // account id → current address, for CheckAddress
	mu    sync.Mutex
}

// New returns the inbox service and installs its address check in a, so
// visitor tokens stop working when their address is regenerated.
func New(st store.Store, a *auth.Authenticator, c *chat.Service, cfg Config) *Service {
	cfg.defaults()
	s := &Service{st: st, auth: a, chat: c, cfg: cfg, now: time.Now}
	a.SetAddressCheck(s.CheckAddress)
	if cfg.Bus != nil {
		cfg.Bus.Subscribe(AddressTopic, func(_ string, ev bus.Event) {
			if ev.Name == bus.Gap {
				s.addrs.Clear() // a regeneration may be among what was lost
				return
			}
			s.addrs.Delete(string(ev.Data))
		})
	}
	return s
}

// SetClock replaces time.Now (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

func (s *Service) clock() time.Time { return s.now().UTC() }

func errAddressInvalid() error {
	return apperr.New(apperr.NotFound, apperr.CodeAddressInvalid,
		"this chat address is no longer valid: ask the site for its current link")
}

// Ensure returns the account's inbox, creating it with a fresh address and
// the defaults on first use.
func (s *Service) Ensure(ctx context.Context, accountID string) (store.Inbox, error) {
	in, err := s.st.GetInbox(ctx, accountID)
	if err == nil {
		return in, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return in, apperr.Wrap("inbox.Ensure", err)
	}
	acc, err := s.st.GetAccount(ctx, accountID)
	if err != nil {
		return in, apperr.Wrap("inbox.Ensure", err)
	}
	s.mu.Lock() // one creation at a time on this node; the store refuses a second inbox anyway
	defer s.mu.Unlock()
	for range 5 { // a taken address (1 in 10^14) is retried
		now := s.clock()
		in = store.Inbox{AccountID: accountID, Address: NewAddress(), Name: acc.Name, Welcome: DefaultWelcome,
			Color: DefaultColor, Position: DefaultPosition, CreatedAt: now, UpdatedAt: now}
		err = s.st.CreateInbox(ctx, in)
		if !errors.Is(err, store.ErrConflict) {
			break
		}
		if got, gerr := s.st.GetInbox(ctx, accountID); gerr == nil {
			return got, nil // created meanwhile
		}
	}
	if err != nil {
		return store.Inbox{}, apperr.Wrap("inbox.Ensure", err)
	}
	s.addrs.Store(accountID, in.Address)
	return in, nil
}

// CheckAddress tells whether address is the account's current inbox
// address; the authenticator asks it about every visitor token.
func (s *Service) CheckAddress(ctx context.Context, accountID, address string) error {
	if v, ok := s.addrs.Load(accountID); ok {
		if v.(string) == address {
			return nil
		}
		return apperr.New(apperr.Unauthorized, apperr.CodeAddressInvalid, "this chat address is no longer valid")
	}
	in, err := s.st.GetInbox(ctx, accountID)
	if errors.Is(err, store.ErrNotFound) {
		return apperr.New(apperr.Unauthorized, apperr.CodeAddressInvalid, "this chat address is no longer valid")
	}
	if err != nil {
		return apperr.Wrap("inbox.CheckAddress", err)
	}
	s.addrs.Store(accountID, in.Address)
	if in.Address != address {
		return apperr.New(apperr.Unauthorized, apperr.CodeAddressInvalid, "this chat address is no longer valid")
	}
	return nil
}

// byAddress finds the inbox an address belongs to now.
func (s *Service) byAddress(ctx context.Context, address string) (store.Inbox, error) {
	if !ValidAddress(address) {
		return store.Inbox{}, errAddressInvalid()
	}
	in, err := s.st.GetInboxByAddress(ctx, address)
	if errors.Is(err, store.ErrNotFound) {
		return in, errAddressInvalid()
	}
	if err != nil {
		return in, apperr.Wrap("inbox.byAddress", err)
	}
	return in, nil
}

func (s *Service) public(ctx context.Context, in store.Inbox) protocol.WidgetConfig {
	st, err := s.chat.InboxStatus(ctx, in.AccountID)
	if err != nil {
		st = protocol.StatusOffline
	}
	return protocol.WidgetConfig{Address: in.Address, Name: in.Name, Welcome: in.Welcome,
		Color: in.Color, Position: in.Position, Status: st}
}

// Widget returns what a widget shows for an address, to anyone.
func (s *Service) Widget(ctx context.Context, address string) (protocol.WidgetConfig, error) {
	in, err := s.byAddress(ctx, address)
	if err != nil {
		return protocol.WidgetConfig{}, err
	}
	return s.public(ctx, in), nil
}

func staff(id auth.Identity) bool {
	return id.UserID != "" && (id.Role == protocol.RoleOwner || id.Role == protocol.RoleAgent)
}

// Snippet is the tag a site pastes to show the widget.
func (s *Service) Snippet(address string) string {
	return fmt.Sprintf(`<script src="%s/widget.js" data-address="%s" async></script>`,
		html.EscapeString(s.cfg.PublicURL), html.EscapeString(address))
}

func (s *Service) settings(ctx context.Context, in store.Inbox) protocol.InboxSettings {
	return protocol.InboxSettings{
		WidgetConfig: s.public(ctx, in),
		ChatURL:      s.cfg.PublicURL + "/chat/" + in.Address,
		WidgetURL:    s.cfg.PublicURL + "/widget.js",
		Snippet:      s.Snippet(in.Address),
		UpdatedAt:    in.UpdatedAt,
	}
}

// Settings returns the inbox's settings to its owners and agents.
func (s *Service) Settings(ctx context.Context, id auth.Identity) (protocol.InboxSettings, error) {
	if !staff(id) && !id.IsService() {
		return protocol.InboxSettings{}, apperr.Forbiddenf("only owners and agents see the inbox settings")
	}
	in, err := s.Ensure(ctx, id.AccountID)
	if err != nil {
		return protocol.InboxSettings{}, err
	}
	return s.settings(ctx, in), nil
}

var colorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// UpdateSettings changes the widget's name, welcome, colour or position
// (owners only) and tells connected widgets and consoles.
func (s *Service) UpdateSettings(ctx context.Context, id auth.Identity, p protocol.InboxSettingsPatch) (protocol.InboxSettings, error) {
	if id.Role != protocol.RoleOwner || id.UserID == "" {
		return protocol.InboxSettings{}, apperr.Forbiddenf("only owners change the inbox settings")
	}
	in, err := s.Ensure(ctx, id.AccountID)
	if err != nil {
		return protocol.InboxSettings{}, err
	}
	if p.Name != nil {
		n := strings.TrimSpace(*p.Name)
		if n == "" || utf8.RuneCountInString(n) > maxName || !utf8.ValidString(n) {
			return protocol.InboxSettings{}, apperr.Invalidf("name must be 1 to %d characters", maxName)
		}
		in.Name = n
	}
	if p.Welcome != nil {
		w := strings.TrimSpace(*p.Welcome)
		if utf8.RuneCountInString(w) > maxWelcome || !utf8.ValidString(w) {
			return protocol.InboxSettings{}, apperr.Invalidf("welcome must be at most %d characters", maxWelcome)
		}
		in.Welcome = w
	}
	if p.Color != nil {
		if !colorRE.MatchString(*p.Color) {
			return protocol.InboxSettings{}, apperr.Invalidf(`color must be "#rrggbb", e.g. "#4f46e5"`)
		}
		in.Color = strings.ToLower(*p.Color)
	}
	if p.Position != nil {
		if *p.Position != protocol.PositionRight && *p.Position != protocol.PositionLeft {
			return protocol.InboxSettings{}, apperr.Invalidf("position must be right or left")
		}
		in.Position = *p.Position
	}
	in.UpdatedAt = s.clock()
	if err := s.st.UpdateInbox(ctx, in); err != nil {
		return protocol.InboxSettings{}, apperr.Wrap("inbox.UpdateSettings", err)
	}
	out := s.settings(ctx, in)
	s.chat.ToVisitors(in.AccountID, protocol.EvInboxUpdated, out.WidgetConfig)
	s.chat.ToStaff(in.AccountID, protocol.EvInboxSettings, out)
	return out, nil
}

// RegenerateAddress gives the inbox a new address (owners only). The old
// one stops at once: its link and widgets get address_invalid, and the
// visitor sessions opened through it are closed.
func (s *Service) RegenerateAddress(ctx context.Context, id auth.Identity) (protocol.InboxSettings, error) {
	if id.Role != protocol.RoleOwner || id.UserID == "" {
		return protocol.InboxSettings{}, apperr.Forbiddenf("only owners regenerate the inbox address")
	}
	in, err := s.Ensure(ctx, id.AccountID)
	if err != nil {
		return protocol.InboxSettings{}, err
	}
	old := in.Address
	for range 5 {
		in.Address, in.UpdatedAt = NewAddress(), s.clock()
		err = s.st.ReplaceInboxAddress(ctx, in.AccountID, old, in.Address, in.UpdatedAt)
		if !errors.Is(err, store.ErrConflict) {
			break
		}
		cur, gerr := s.st.GetInbox(ctx, in.AccountID)
		if gerr == nil && cur.Address != old { // another owner regenerated it just now
			return protocol.InboxSettings{}, apperr.New(apperr.Conflict, apperr.CodeConflict, "the address was regenerated meanwhile; reload the settings")
		}
	}
	if err != nil {
		return protocol.InboxSettings{}, apperr.Wrap("inbox.RegenerateAddress", err)
	}
	s.addrs.Store(in.AccountID, in.Address)
	if s.cfg.Bus != nil { // the other nodes' caches hold the old address
		s.cfg.Bus.Publish(AddressTopic, bus.Event{Name: "inbox:address", Data: []byte(in.AccountID)})
	}
	out := s.settings(ctx, in)
	s.chat.ToVisitors(in.AccountID, protocol.EvInboxRevoked, protocol.InboxRevoked{Address: old})
	s.chat.ToStaff(in.AccountID, protocol.EvInboxSettings, out)
	return out, nil
}

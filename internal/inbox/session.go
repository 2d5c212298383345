package inbox

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/ids"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

// Client is what the transport knows about the caller of OpenSession.
type Client struct {
	IP        string
	UserAgent string
}

// anonPrefix starts the names of anonymous visitors; identified visitors
// keep the name their site gave them.
const anonPrefix = "v_"

// Lengths kept of what a widget reports (longer values are cut).
const (
	maxURL   = 2048
	maxTitle = 300
	maxUA    = 512
)

var (
	tzRE     = regexp.MustCompile(`^[A-Za-z0-9_+\-/]{1,64}$`)
	localeRE = regexp.MustCompile(`^[A-Za-z0-9\-_]{1,35}$`)
)

// OpenSession opens a visitor session through an inbox address: a new
// anonymous visitor, a returning one (by their ticket), or one the site
// vouches for (a signed identity). It records where the visitor is for the
// console and returns a token for /ws and the REST API.
func (s *Service) OpenSession(ctx context.Context, address string, r protocol.SessionRequest, cl Client) (protocol.Session, error) {
	in, err := s.byAddress(ctx, address)
	if err != nil {
		return protocol.Session{}, err
	}
	var (
		name, display string
		identified    bool
		ticket        *protocol.VisitorTicket
	)
	switch {
	case r.Identity != "":
		c, err := s.auth.VerifyIdentity(ctx, r.Identity, in.AccountID)
		if err != nil {
			return protocol.Session{}, err
		}
		name, display, identified = c.Subject, c.DisplayName, true
	case r.Visitor != nil && strings.HasPrefix(r.Visitor.ID, anonPrefix) && len(r.Visitor.ID) <= 64 &&
		s.auth.CheckVisitorTicket(in.AccountID, r.Visitor.ID, r.Visitor.Ticket):
		name = r.Visitor.ID
	default: // new, or a ticket that does not check out (another server, a copied id): a new visitor
		name = anonPrefix + strings.TrimPrefix(ids.New("v"), "v_")
	}
	if !identified {
		display = anonDisplayName(name)
		ticket = &protocol.VisitorTicket{ID: name, Ticket: s.auth.VisitorTicket(in.AccountID, name)}
	}
	if u, err := s.st.GetUserByName(ctx, in.AccountID, name); err == nil && u.Role != protocol.RoleVisitor {
		// The site's identity names one of its agents or members: a
		// visitor session must never act for them, nor demote them.
		return protocol.Session{}, apperr.Forbiddenf("that identity belongs to a user who is not a visitor")
	}
	tok, err := s.auth.Mint(auth.MintRequest{AccountID: in.AccountID, User: name, Role: protocol.RoleVisitor,
		DisplayName: display, Address: in.Address, TTL: s.cfg.VisitorTokenTTL})
	if err != nil {
		return protocol.Session{}, err
	}
	id, err := s.auth.Token(ctx, tok) // creates the user on first sight
	if err != nil {
		return protocol.Session{}, err
	}
	v := store.Visitor{
		UserID: id.UserID, AccountID: in.AccountID,
		PageURL: httpURL(r.PageURL), PageTitle: cut(r.PageTitle, maxTitle), Referrer: httpURL(r.Referrer),
		UserAgent: cut(cl.UserAgent, maxUA), IP: cl.IP, Identified: identified, LastSeen: s.clock(),
	}
	if tzRE.MatchString(r.Timezone) {
		v.Timezone = r.Timezone
	}
	if localeRE.MatchString(r.Locale) {
		v.Locale = r.Locale
	}
	if err := s.st.PutVisitor(ctx, v); err != nil {
		return protocol.Session{}, apperr.Wrap("inbox.OpenSession", err)
	}
	out := protocol.Session{
		Token: tok, ExpiresAt: id.ExpiresAt.UTC(),
		User:    protocol.User{ID: id.UserID, Name: id.UserName, DisplayName: id.DisplayName, Role: id.Role},
		Visitor: ticket, Identified: identified, Inbox: s.public(ctx, in),
	}
	conv, err := s.st.GetConversationByKey(ctx, in.AccountID, id.UserID)
	switch {
	case err == nil:
		out.ConversationID = conv.ID
	case !errors.Is(err, store.ErrNotFound):
		return protocol.Session{}, apperr.Wrap("inbox.OpenSession", err)
	}
	if out.ConversationID != "" { // the console follows visitors it talks to
		v.FirstSeen = v.LastSeen
		if stored, err := s.st.GetVisitor(ctx, in.AccountID, id.UserID); err == nil {
			v = stored
		}
		s.chat.ToStaff(in.AccountID, protocol.EvInboxVisitor, details(v, id.DisplayName, out.ConversationID))
	}
	return out, nil
}

// anonDisplayName names an anonymous visitor after their id, so every
// session of the same visitor carries the same name: "Visitor K3QX".
func anonDisplayName(name string) string {
	code := strings.ToUpper(strings.TrimPrefix(name, anonPrefix))
	if len(code) > 4 {
		code = code[:4]
	}
	return "Visitor " + code
}

// httpURL keeps http(s) URLs only (no javascript: for the console to link).
func httpURL(u string) string {
	u = strings.TrimSpace(u)
	l := strings.ToLower(u)
	if !strings.HasPrefix(l, "https://") && !strings.HasPrefix(l, "http://") {
		return ""
	}
	return cut(u, maxURL)
}

// cut shortens s to at most n bytes without splitting a character.
func cut(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func details(v store.Visitor, display, convID string) protocol.VisitorDetails {
	return protocol.VisitorDetails{
		UserID: v.UserID, ConversationID: convID, DisplayName: display, Identified: v.Identified,
		PageURL: v.PageURL, PageTitle: v.PageTitle, Referrer: v.Referrer, UserAgent: v.UserAgent,
		Browser: Browser(v.UserAgent), Timezone: v.Timezone, Locale: v.Locale, IP: v.IP,
		FirstSeen: v.FirstSeen, LastSeen: v.LastSeen,
	}
}

// Visitor returns what the console shows about the visitor of an inbox
// conversation (owners and agents).
func (s *Service) Visitor(ctx context.Context, id auth.Identity, convID string) (protocol.VisitorDetails, error) {
	if !staff(id) {
		return protocol.VisitorDetails{}, apperr.Forbiddenf("only owners and agents see visitor details")
	}
	c, err := s.st.GetConversation(ctx, id.AccountID, convID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Kind != protocol.KindInbox) {
		return protocol.VisitorDetails{}, apperr.NotFoundf("no inbox conversation %q", convID)
	}
	if err != nil {
		return protocol.VisitorDetails{}, apperr.Wrap("inbox.Visitor", err)
	}
	u, err := s.st.GetUser(ctx, id.AccountID, c.Key)
	if err != nil {
		return protocol.VisitorDetails{}, apperr.Wrap("inbox.Visitor", err)
	}
	v, err := s.st.GetVisitor(ctx, id.AccountID, c.Key)
	if errors.Is(err, store.ErrNotFound) { // a visitor who came with a plain token, not the widget
		v = store.Visitor{UserID: u.ID, AccountID: u.AccountID, FirstSeen: u.CreatedAt, LastSeen: u.CreatedAt}
	} else if err != nil {
		return protocol.VisitorDetails{}, apperr.Wrap("inbox.Visitor", err)
	}
	return details(v, u.DisplayName, c.ID), nil
}

// Package chat is the chat domain: conversations, messages, read receipts,
// typing and presence. It checks every permission itself, persists through
// store.Store, announces what happened on bus.Bus, and knows nothing of
// HTTP or WebSocket.
package chat

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/cluster"
	"github.com/parley-chat/parley/internal/media"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

// Config holds the chat limits. Zero values take the defaults in brackets.
type Config struct {
	MaxMessageBytes    int           // longest text in bytes [8192]
	TypingTimeout      time.Duration // typing expires without refresh [5s]
	PresenceMaxMembers int           // presence is pushed to groups up to this size [100]; negative: none
	SyncLimit          int           // most messages replayed per conversation per sync [1000]
	// Presence counts connections cluster-wide [cluster.NewMemoryPresence():
	// one node]. With several nodes, a rediscluster.Node whose OnChange
	// calls PresenceChanged.
	Presence cluster.Presence
	// OnVisitorMessage, if set, hears of each new message a visitor sends
	// to their inbox (push notifications). It must not block.
	OnVisitorMessage func(accountID, conversationID, visitorName string, m protocol.Message)
	// Links, if set, signs attachment URLs (url, url_expires_at) so
	// browsers download without a bearer token; nil leaves url at the
	// bearer route /api/v1/attachments/{id}.
	Links *media.Links
}

func (c *Config) defaults() {
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 8192
	}
	if c.TypingTimeout <= 0 {
		c.TypingTimeout = 5 * time.Second
	}
	if c.PresenceMaxMembers == 0 {
		c.PresenceMaxMembers = 100
	}
	if c.SyncLimit <= 0 {
		c.SyncLimit = 1000
	}
	if c.Presence == nil {
		c.Presence = cluster.NewMemoryPresence()
	}
}

// Service is the chat domain. It is safe for concurrent use.
type Service struct {
	st    store.Store
	bus   bus.Bus
	blobs *media.Store
	cfg   Config
	now   func() time.Time

	convs        sync.Map // conversation id → store.Conversation (kind, account and key never change)
	members      memberCache
	counts       memberCounts
	unsubMembers func()
	unsubStatus  func()
	typing       typingTracker
	presence     cluster.Presence
	ann          *announcer           // presence announcements, off the connections' path
	unreg        *queue[cluster.Conn] // connections to unregister once Redis answers
	pub          publisher
	done         chan struct{}  // closed by Close: background work stops
	bg           sync.WaitGroup // background goroutines

	inboxMu     sync.Mutex // serialises inbox status refreshes
	statusMu    sync.Mutex
	inboxStatus map[string]string // account id → the inbox status last announced by any node
}

// New returns a Service. blobs may be nil when attachments are not used.
func New(st store.Store, b bus.Bus, blobs *media.Store, cfg Config) *Service {
	cfg.defaults()
	s := &Service{st: st, bus: b, blobs: blobs, cfg: cfg, now: time.Now, presence: cfg.Presence, done: make(chan struct{})}
	s.members.m = make(map[memberKey]bool)
	s.counts.m = make(map[string]int)
	s.typing.init(s)
	s.unreg = newQueue[cluster.Conn]()
	s.ann = newAnnouncer(s.announceNow)
	s.inboxStatus = make(map[string]string)
	s.pub.start(b)
	s.unsubMembers = b.Subscribe(MembersTopic, s.forgetMember)
	s.unsubStatus = b.Subscribe(InboxStatusTopic, s.heardInboxStatus)
	s.bg.Add(1)
	go s.unregisterLater()
	return s
}

// Config returns the effective limits.
func (s *Service) Config() Config { return s.cfg }

// SetClock replaces time.Now (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Close stops typing timers and publishes what is queued. Nothing may call
// the service afterwards.
func (s *Service) Close() {
	s.unsubMembers()
	s.unsubStatus()
	close(s.done)
	s.bg.Wait()
	s.ann.close()
	s.typing.stopAll()
	s.pub.stop()
}

func (s *Service) clock() time.Time { return s.now().UTC() }

// conversation loads a conversation of the caller's account, cached.
func (s *Service) conversation(ctx context.Context, accountID, id string) (store.Conversation, error) {
	if v, ok := s.convs.Load(id); ok {
		c := v.(store.Conversation)
		if c.AccountID != accountID {
			return store.Conversation{}, errNoConversation(id)
		}
		return c, nil
	}
	if id == "" {
		return store.Conversation{}, apperr.Invalidf("conversation_id is required")
	}
	c, err := s.st.GetConversation(ctx, accountID, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Conversation{}, errNoConversation(id)
	}
	if err != nil {
		return store.Conversation{}, apperr.Wrap("chat.conversation", err)
	}
	s.convs.Store(id, c)
	return c, nil
}

// errNoConversation is the same for "does not exist" and "exists in another
// account", so other tenants' ids reveal nothing.
func errNoConversation(id string) error {
	return apperr.NotFoundf("no conversation %q", id)
}

// access returns the conversation if id may read and write it: members of
// direct and group conversations; the visitor of an inbox and every agent
// and owner of its account. API keys may read any conversation of their
// account but, having no user, cannot write.
func (s *Service) access(ctx context.Context, id auth.Identity, convID string) (store.Conversation, error) {
	c, err := s.conversation(ctx, id.AccountID, convID)
	if err != nil {
		return c, err
	}
	if id.IsService() {
		return c, nil
	}
	if c.Kind == protocol.KindInbox && isStaff(id.Role) {
		return c, nil
	}
	ok, err := s.isMember(ctx, c.ID, id.UserID)
	if err != nil {
		return c, err
	}
	if !ok {
		return c, apperr.New(apperr.Forbidden, apperr.CodeNotMember, "you are not a member of conversation %q", c.ID)
	}
	return c, nil
}

// writable is access plus the rule that only users (not API keys) write.
func (s *Service) writable(ctx context.Context, id auth.Identity, convID string) (store.Conversation, error) {
	if id.UserID == "" {
		return store.Conversation{}, apperr.Forbiddenf("an API key cannot write messages; use a user token")
	}
	return s.access(ctx, id, convID)
}

func isStaff(role string) bool { return role == protocol.RoleOwner || role == protocol.RoleAgent }

// memberCache remembers membership answers. Joins and leaves go through this
// service, which updates it; a later multi-node issue invalidates it over
// the bus.
type memberCache struct {
	mu sync.RWMutex
	m  map[memberKey]bool
}

type memberKey struct{ conv, user string }

const memberCacheMax = 1 << 20

func (s *Service) isMember(ctx context.Context, convID, userID string) (bool, error) {
	k := memberKey{convID, userID}
	s.members.mu.RLock()
	ok, hit := s.members.m[k]
	s.members.mu.RUnlock()
	if hit {
		return ok, nil
	}
	ok, err := s.st.IsMember(ctx, convID, userID)
	if err != nil {
		return false, apperr.Wrap("chat.isMember", err)
	}
	s.setMember(convID, userID, ok)
	return ok, nil
}

// MembersTopic carries membership changes between nodes (the event's Data
// is "conversation id NUL user id"): every node's chat service drops that
// entry of its membership cache, so a member who left on one node can no
// longer read or write through another, and one who joined can.
const MembersTopic = "chat:members"

// memberChanged records a membership this node changed and tells every
// node's cache (this one's too: it then asks the store once more).
func (s *Service) memberChanged(convID, userID string, ok bool) {
	s.setMember(convID, userID, ok)
	s.counts.forget(convID)
	s.publish(MembersTopic, bus.Event{Name: MembersTopic, Data: []byte(convID + "\x00" + userID)})
}

// forgetMember drops the cached membership an event names; after a Gap,
// which may have lost such events, the whole cache.
func (s *Service) forgetMember(_ string, ev bus.Event) {
	s.members.mu.Lock()
	defer s.members.mu.Unlock()
	if ev.Name == bus.Gap {
		clear(s.members.m)
		s.counts.forget("")
		return
	}
	conv, user, ok := strings.Cut(string(ev.Data), "\x00")
	if ok {
		delete(s.members.m, memberKey{conv, user})
		s.counts.forget(conv)
	}
}

// memberCounts caches each conversation's member count, which prices a
// request's fan-out: the same on every node (a node's own connections are
// only its share of the audience). Membership changes drop the entry on
// every node (MembersTopic), like the membership cache.
type memberCounts struct {
	mu sync.Mutex
	m  map[string]int // conversation id → members
}

// forget drops conv's count; "" drops them all.
func (m *memberCounts) forget(conv string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if conv == "" {
		clear(m.m)
		return
	}
	delete(m.m, conv)
}

// Audience is how many members conversation convID of the account has:
// the fan-out a request into it is priced by (budget.Cost). It is 0 for
// a conversation that is not the account's, or when the store fails (the
// request is then refused, or fails, on its own).
func (s *Service) Audience(ctx context.Context, accountID, convID string) int {
	if _, err := s.conversation(ctx, accountID, convID); err != nil {
		return 0 // cached: costs no query for a known conversation
	}
	s.counts.mu.Lock()
	n, ok := s.counts.m[convID]
	s.counts.mu.Unlock()
	if ok {
		return n
	}
	members, err := s.st.ListMembers(ctx, convID)
	if err != nil {
		return 0
	}
	s.counts.mu.Lock()
	if len(s.counts.m) >= memberCacheMax {
		clear(s.counts.m)
	}
	s.counts.m[convID] = len(members)
	s.counts.mu.Unlock()
	return len(members)
}

func (s *Service) setMember(convID, userID string, ok bool) {
	s.members.mu.Lock()
	if len(s.members.m) >= memberCacheMax {
		clear(s.members.m)
	}
	s.members.m[memberKey{convID, userID}] = ok
	s.members.mu.Unlock()
}

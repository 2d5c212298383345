// Package store declares Parley's persistence as small per-aggregate
// interfaces. Implementations live in sqlite (the default) and, later,
// postgres; storetest holds the one conformance suite every implementation
// must pass. Implementations return ErrNotFound and ErrConflict (possibly
// wrapped); they never decide permissions: that is the domain's job.
package store

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrNotFound: no row matches (within the given account).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a uniqueness rule was hit (for example an account name).
	ErrConflict = errors.New("store: conflict")
)

// Store is everything the server persists.
type Store interface {
	AccountStore
	UserStore
	ConversationStore
	MessageStore
	AttachmentStore
	InboxStore
	VisitorStore
	LoginStore
	PushStore
	// Close flushes pending writes and releases the database.
	Close() error
}

type Account struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// APIKey authenticates a site's backend. Secret is kept so the server can
// verify HMAC-signed tokens the backend mints with it.
type APIKey struct {
	ID        string
	AccountID string
	Secret    string
	CreatedAt time.Time
	RevokedAt *time.Time
}

type AccountStore interface {
	// CreateAccount inserts a; ErrConflict if the id exists.
	CreateAccount(ctx context.Context, a Account) error
	GetAccount(ctx context.Context, id string) (Account, error)
	ListAccounts(ctx context.Context) ([]Account, error)
	CreateAPIKey(ctx context.Context, k APIKey) error
	// GetAPIKey finds a key by id across accounts (the id is globally unique).
	GetAPIKey(ctx context.Context, id string) (APIKey, error)
	ListAPIKeys(ctx context.Context, accountID string) ([]APIKey, error)
	// GetSetting / PutSetting keep small server-wide values (signing keys,
	// first-start markers). GetSetting returns ErrNotFound when unset.
	GetSetting(ctx context.Context, key string) (string, error)
	PutSetting(ctx context.Context, key, value string) error
}

// User is a person inside an account. Name is the account's own identifier
// for them (the token subject), unique per account.
type User struct {
	ID          string
	AccountID   string
	Name        string
	DisplayName string
	Role        string
	// Status is the explicitly chosen presence ("" = automatic from
	// connections; away, busy or offline to override).
	Status    string
	LastSeen  *time.Time
	CreatedAt time.Time
}

type UserStore interface {
	// UpsertUser returns the user named u.Name in u.AccountID, creating it
	// with u's fields (and u.ID) if missing, and updating Role and
	// DisplayName (when non-empty) if they differ.
	UpsertUser(ctx context.Context, u User) (User, error)
	GetUser(ctx context.Context, accountID, id string) (User, error)
	GetUserByName(ctx context.Context, accountID, name string) (User, error)
	// ListUsersByRole lists users of the account with any of the roles.
	ListUsersByRole(ctx context.Context, accountID string, roles ...string) ([]User, error)
	// SetUserStatus stores an explicit status ("" clears it).
	SetUserStatus(ctx context.Context, accountID, id, status string) error
	SetLastSeen(ctx context.Context, accountID, id string, t time.Time) error
}

// Conversation kinds are protocol.KindDirect, KindGroup, KindInbox.
type Conversation struct {
	ID        string
	AccountID string
	Kind      string
	Name      string
	// Key makes direct and inbox conversations unique per account: for a
	// direct one the two user ids sorted and joined by ":", for an inbox
	// the visitor's user id. Empty for groups.
	Key       string
	CreatedBy string
	CreatedAt time.Time
	// LastSeq is the seq of the newest message (0 when empty).
	LastSeq   int64
	UpdatedAt time.Time // time of the newest message, or creation
}

// ConversationSummary is a conversation as listed to one user.
type ConversationSummary struct {
	Conversation
	MemberCount int
	ReadSeq     int64
	Unread      int64    // messages after ReadSeq from others, not deleted
	LastMessage *Message // nil when empty
}

type ConversationStore interface {
	// CreateConversation inserts c with its members. When c.Key is set and a
	// conversation with that key exists in the account, it returns that one
	// and ErrConflict, changing nothing.
	CreateConversation(ctx context.Context, c Conversation, memberIDs []string) (Conversation, error)
	GetConversation(ctx context.Context, accountID, id string) (Conversation, error)
	GetConversationByKey(ctx context.Context, accountID, key string) (Conversation, error)
	// AddMember is idempotent; RemoveMember returns ErrNotFound if absent.
	AddMember(ctx context.Context, conversationID, userID string) error
	RemoveMember(ctx context.Context, conversationID, userID string) error
	IsMember(ctx context.Context, conversationID, userID string) (bool, error)
	ListMembers(ctx context.Context, conversationID string) ([]string, error)
	// ListConversationIDs lists the ids of the conversations userID is a member of.
	ListConversationIDs(ctx context.Context, userID string) ([]string, error)
	// ListConversations lists conversations of the account that userID is a
	// member of, plus (when withInboxes) every inbox of the account, newest
	// activity first, with read state and unread counts for userID.
	// Paging: only those with UpdatedAt before `before` (zero = no bound).
	ListConversations(ctx context.Context, accountID, userID string, withInboxes bool, before time.Time, limit int) ([]ConversationSummary, error)
	// SetReadSeq raises userID's read position to seq (never lowers it) and
	// returns the position now stored.
	SetReadSeq(ctx context.Context, conversationID, userID string, seq int64) (int64, error)
	GetReadSeq(ctx context.Context, conversationID, userID string) (int64, error)
	// ListReadSeqs returns every stored read position of a conversation,
	// by user id (members and agents who read an inbox alike).
	ListReadSeqs(ctx context.Context, conversationID string) (map[string]int64, error)
	// ListMembersAndReads is ListMembers and ListReadSeqs for several
	// conversations at once, keyed by conversation id (absent: none), so a
	// page of listed conversations costs the same queries however long it is.
	ListMembersAndReads(ctx context.Context, conversationIDs []string) (map[string][]string, map[string]map[string]int64, error)
	// UnreadCount counts messages with seq > after not sent by userID and not deleted.
	UnreadCount(ctx context.Context, conversationID, userID string, after int64) (int64, error)
}

// Message as stored. Seq is assigned by AppendMessage.
type Message struct {
	ID             string
	ConversationID string
	Seq            int64
	SenderID       string
	ClientID       string
	Type           string
	Text           string
	ReplyTo        string
	AttachmentID   string
	DurationMS     int64
	CreatedAt      time.Time
	EditedAt       *time.Time
	DeletedAt      *time.Time
}

type MessageStore interface {
	// AppendMessage commits m durably, assigning the next seq of its
	// conversation, and returns it with created=true. If the sender already
	// sent a message with the same ClientID in that conversation, it returns
	// that message and created=false, changing nothing. It returns only after
	// the commit (implementations batch concurrent calls into one commit).
	// committed, if not nil, is called with each newly created message after
	// its commit and before AppendMessage returns, in seq order within a
	// conversation, from the store's writer: it must be quick and must not
	// call the store. The chat service publishes events from it so that
	// they leave in seq order.
	AppendMessage(ctx context.Context, m Message, committed func(Message)) (msg Message, created bool, err error)
	GetMessage(ctx context.Context, conversationID, id string) (Message, error)
	// ListMessages returns messages with after < seq < before (0 = unbounded),
	// at most limit. With before set (and after unset) it returns the newest
	// of that range; otherwise the oldest. The result is in ascending seq
	// either way.
	ListMessages(ctx context.Context, conversationID string, before, after int64, limit int) ([]Message, error)
	// EditMessage sets Text and EditedAt.
	EditMessage(ctx context.Context, conversationID, id, text string, at time.Time) (Message, error)
	// DeleteMessage erases Text, AttachmentID and DurationMS and sets
	// DeletedAt, keeping the row as a tombstone.
	DeleteMessage(ctx context.Context, conversationID, id string, at time.Time) (Message, error)
	// ListChangedMessages returns the messages with seq ≤ maxSeq whose last
	// edit or deletion happened after since, in ascending seq, at most limit.
	// It lets a reconnecting client catch up on changes it missed.
	ListChangedMessages(ctx context.Context, conversationID string, since time.Time, maxSeq int64, limit int) ([]Message, error)
}

// Attachment is an uploaded file, stored by content hash in the blob store.
type Attachment struct {
	ID             string
	AccountID      string
	ConversationID string
	UploaderID     string
	Kind           string // image | voice | file
	ContentType    string
	Size           int64
	SHA256         string // hex; the blob's name
	Name           string // original file name, sanitized
	CreatedAt      time.Time
}

type AttachmentStore interface {
	CreateAttachment(ctx context.Context, a Attachment) error
	GetAttachment(ctx context.Context, accountID, id string) (Attachment, error)
}

// Inbox is an account's website inbox: the public address its widget and
// chat page use, and how the widget looks. Each account has at most one.
type Inbox struct {
	AccountID string
	Address   string // 8 characters A-Z a-z 0-9, unique across the server
	Name      string // shown in the widget's header
	Welcome   string // the first bubble a visitor sees
	Color     string // "#rrggbb"
	Position  string // "right" or "left"
	CreatedAt time.Time
	UpdatedAt time.Time
}

type InboxStore interface {
	// CreateInbox inserts in; ErrConflict if the account has an inbox or the
	// address is taken.
	CreateInbox(ctx context.Context, in Inbox) error
	GetInbox(ctx context.Context, accountID string) (Inbox, error)
	// GetInboxByAddress finds the inbox whose current address is address.
	GetInboxByAddress(ctx context.Context, address string) (Inbox, error)
	// UpdateInbox writes Name, Welcome, Color, Position and UpdatedAt (not
	// the address); ErrNotFound if the account has no inbox.
	UpdateInbox(ctx context.Context, in Inbox) error
	// ReplaceInboxAddress sets a new address if the current one is still
	// old (ErrConflict otherwise, or when address is taken), so two racing
	// regenerations cannot both win.
	ReplaceInboxAddress(ctx context.Context, accountID, old, address string, at time.Time) error
}

// Visitor is what the console shows about a visitor: where they are and
// what they use, as their widget last reported it.
type Visitor struct {
	UserID     string
	AccountID  string
	PageURL    string
	PageTitle  string
	Referrer   string
	UserAgent  string
	Timezone   string // IANA name, e.g. "Europe/Sofia"
	Locale     string // e.g. "bg-BG"
	IP         string
	Identified bool // the site vouched for the visitor with a signed identity
	FirstSeen  time.Time
	LastSeen   time.Time
}

type VisitorStore interface {
	// PutVisitor inserts or replaces v, keeping the stored FirstSeen.
	PutVisitor(ctx context.Context, v Visitor) error
	GetVisitor(ctx context.Context, accountID, userID string) (Visitor, error)
}

// Login lets an owner or agent sign in to the console with a password.
type Login struct {
	Login        string // lower-case, unique across the server
	UserID       string
	AccountID    string
	PasswordHash string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

type LoginStore interface {
	// PutLogin sets the login of l.UserID (inserting or replacing it);
	// ErrConflict if l.Login belongs to another user.
	PutLogin(ctx context.Context, l Login) error
	GetLogin(ctx context.Context, login string) (Login, error)
	GetLoginByUser(ctx context.Context, accountID, userID string) (Login, error)
}

// PushSubscription is a browser's Web Push subscription (the console's),
// for one owner or agent.
type PushSubscription struct {
	Endpoint  string // the push service URL; unique
	AccountID string
	UserID    string
	P256dh    string // the browser's public key, base64url
	Auth      string // the shared auth secret, base64url
	CreatedAt time.Time
}

type PushStore interface {
	// PutPushSubscription stores s, replacing a subscription with the same
	// endpoint (a browser re-subscribing, or another user on it).
	PutPushSubscription(ctx context.Context, s PushSubscription) error
	// DeletePushSubscription removes an endpoint of userID (any user's when
	// userID is ""); ErrNotFound when there is none.
	DeletePushSubscription(ctx context.Context, endpoint, userID string) error
	ListPushSubscriptions(ctx context.Context, accountID string) ([]PushSubscription, error)
}

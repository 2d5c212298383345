// Package protocol holds Parley's wire types: the WebSocket envelope, event
// names and the JSON shapes of their data. Server and Go client share it, and
// docs/protocol.md describes the same things for other languages.
package protocol

import (
	"encoding/json"
	"errors"
	"time"
)

// Envelope is one WebSocket frame: {"event": "chat:message", "id": "…", "data": {…}}.
// A request carries an ID; the reply carries the same ID and either the
// request's event name or "error".
type Envelope struct {
	Event string          `json:"event"`
	ID    string          `json:"id,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// Limits of the envelope decoder.
const (
	MaxEventLen = 64
	MaxIDLen    = 64
)

var (
	ErrEmptyEvent = errors.New("envelope has no event")
	ErrBadEvent   = errors.New("event name too long or not of the form area:verb")
	ErrBadID      = errors.New("request id too long")
)

// DecodeEnvelope parses one frame. It accepts only a JSON object with a
// well-formed event name; data, if present, is kept raw for the handler.
func DecodeEnvelope(b []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return Envelope{}, err
	}
	if e.Event == "" {
		return Envelope{}, ErrEmptyEvent
	}
	if !validEvent(e.Event) {
		return Envelope{}, ErrBadEvent
	}
	if len(e.ID) > MaxIDLen {
		return Envelope{}, ErrBadID
	}
	if len(e.Data) > 0 && string(e.Data) == "null" {
		e.Data = nil
	}
	return e, nil
}

// validEvent accepts lower-case names like "auth", "ping" or "chat:send".
func validEvent(s string) bool {
	if len(s) > MaxEventLen {
		return false
	}
	colons := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		case c == ':' && i > 0 && i < len(s)-1:
			colons++
		default:
			return false
		}
	}
	return colons <= 1
}

// Client → server requests. Each gets a reply with the same event name and
// id, or an "error" envelope.
const (
	EvAuth          = "auth"               // {token}; first frame when no header/subprotocol token was given
	EvPing          = "ping"               // {} → "ping" reply {time}
	EvSend          = "chat:send"          // SendRequest → Message
	EvEdit          = "chat:edit"          // EditRequest → Message
	EvDelete        = "chat:delete"        // DeleteRequest → Message (tombstone)
	EvTypingSet     = "chat:typing"        // TypingRequest → {} ; also the broadcast name
	EvMarkRead      = "chat:read"          // ReadRequest → ReadState; also the broadcast name
	EvSetStatus     = "chat:set_status"    // StatusRequest → Presence
	EvSync          = "chat:sync"          // SyncRequest → SyncReply, after the missed chat:message events
	EvHistory       = "chat:history"       // HistoryRequest → HistoryReply
	EvConversations = "chat:conversations" // {} → ConversationsReply
	EvCreate        = "chat:create"        // CreateConversationRequest → Conversation
	EvJoin          = "chat:join"          // ConversationRef → Conversation
	EvLeave         = "chat:leave"         // ConversationRef → {}
	EvPresenceGet   = "chat:presence"      // PresenceRequest → PresenceReply
	EvInbox         = "chat:inbox"         // {} → Conversation: a visitor's inbox, opened on first use
)

// Server → client events.
const (
	EvConnected      = "chat:connected"       // Connected, once after authentication
	EvMessage        = "chat:message"         // Message
	EvMessageEdited  = "chat:message_edited"  // Message
	EvMessageDeleted = "chat:message_deleted" // Message (tombstone)
	EvTyping         = "chat:typing"          // Typing
	EvRead           = "chat:read"            // ReadEvent
	EvUserStatus     = "chat:user_status"     // Presence
	EvMemberJoined   = "chat:member_joined"   // MemberEvent
	EvMemberLeft     = "chat:member_left"     // MemberEvent
	EvConversation   = "chat:conversation"    // Conversation, when the user is added to one
	EvError          = "error"                // Error

	EvInboxStatus   = "inbox:status"   // InboxStatus: the inbox's status changed (visitors and agents)
	EvInboxUpdated  = "inbox:updated"  // WidgetConfig: the inbox's look or welcome changed (visitors)
	EvInboxSettings = "inbox:settings" // InboxSettings: the settings changed (agents and owners)
	EvInboxVisitor  = "inbox:visitor"  // VisitorDetails: a visitor opened the widget or moved to another page (agents and owners)
	// EvInboxRevoked never reaches a client: it tells the WebSocket layer to
	// close the visitor sessions of a regenerated address (data: InboxRevoked).
	EvInboxRevoked = "inbox:revoked"
)

// Close codes for frames the protocol does not carry (RFC 6455 §7.4.1).
const (
	CloseUnsupportedData = 1003 // a binary frame: the protocol is JSON text
	CloseInvalidPayload  = 1007 // a text frame that is not valid UTF-8
)

// WebSocket close codes the server uses (4000–4999 are for applications).
const (
	CloseNormal        = 1000
	CloseGoingAway     = 1001 // server shutting down: reconnect elsewhere or later
	CloseProtocolError = 1002
	CloseTooBig        = 1009 // frame over the size limit
	CloseUnauthorized  = 4001 // no valid token in time, or it was refused
	CloseTokenExpired  = 4003 // the token expired while connected: get a new one
	CloseSlowConsumer  = 4008 // the client did not read fast enough; reconnect and sync
	CloseTooManyConns  = 4029 // per-IP or per-account connection limit
	// CloseResync: events meant for this connection were lost between
	// nodes (the bus reported a gap); reconnect at once and chat:sync.
	CloseResync = 4009
	// CloseAddressInvalid: the inbox address the visitor's session was opened
	// through was regenerated; the old link no longer works.
	CloseAddressInvalid = 4004
)

// Subprotocol is the WebSocket subprotocol name; browsers that cannot set
// headers may offer "parley.v1" plus "bearer.<token>" as a second protocol.
const (
	Subprotocol       = "parley.v1"
	BearerSubprotocol = "bearer."
)

// Message types.
const (
	TypeText  = "text"
	TypeImage = "image"
	TypeVoice = "voice"
	TypeFile  = "file"
	// TypeCall is a call event the server writes (text "MEDIA:OUTCOME",
	// duration_ms for an ended call); clients cannot send it.
	TypeCall = "call"
)

// Conversation kinds.
const (
	KindDirect = "direct"
	KindGroup  = "group"
	KindInbox  = "inbox"
)

// Roles of users inside an account.
const (
	RoleOwner   = "owner"
	RoleAgent   = "agent"
	RoleMember  = "member"
	RoleVisitor = "visitor"
)

// Presence statuses.
const (
	StatusOnline  = "online"
	StatusAway    = "away"
	StatusBusy    = "busy"
	StatusOffline = "offline"
)

// Error is the data of an "error" envelope and the body of REST errors.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfterMS, with rate_limited, is how long until the request would
	// pass, in milliseconds.
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
}

// User is what other people see of a user.
type User struct {
	ID          string `json:"id"`
	Name        string `json:"name"` // the account's own name for the user (token subject)
	DisplayName string `json:"display_name,omitempty"`
	Role        string `json:"role"`
}

// Attachment describes an uploaded file.
type Attachment struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"` // image | voice | file
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	Name        string `json:"name,omitempty"`
	// URL is relative: a signed download URL,
	// /api/v1/downloads/{account}/{id}?expires=…&sig=…, that works without a
	// credential until URLExpiresAt (then GET /api/v1/attachments/{id}/link
	// gives a fresh one); or, on a server without signed URLs,
	// /api/v1/attachments/{id}, which takes the bearer credential.
	URL          string     `json:"url"`
	URLExpiresAt *time.Time `json:"url_expires_at,omitempty"`
}

// Message is one chat message as clients see it.
type Message struct {
	ID             string      `json:"id"`
	ConversationID string      `json:"conversation_id"`
	Seq            int64       `json:"seq"`
	SenderID       string      `json:"sender_id"`
	ClientID       string      `json:"client_id,omitempty"`
	Type           string      `json:"type"`
	Text           string      `json:"text,omitempty"`
	ReplyTo        string      `json:"reply_to,omitempty"`
	Attachment     *Attachment `json:"attachment,omitempty"`
	DurationMS     int64       `json:"duration_ms,omitempty"`
	CreatedAt      time.Time   `json:"created_at"`
	EditedAt       *time.Time  `json:"edited_at,omitempty"`
	DeletedAt      *time.Time  `json:"deleted_at,omitempty"`
}

// Conversation as listed to a member.
type Conversation struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Name string `json:"name,omitempty"`
	// Members are the members' user ids, listed (with Reads) for
	// conversations of up to 50 members and absent for larger ones.
	Members []string `json:"members,omitzero"`
	// VisitorID is, for an inbox conversation, the visitor's user id.
	VisitorID   string `json:"visitor_id,omitempty"`
	MemberCount int    `json:"member_count"`
	LastSeq     int64  `json:"last_seq"`
	ReadSeq     int64  `json:"read_seq"`
	Unread      int64  `json:"unread"`
	// Reads is each member's read position (user id → seq), for
	// conversations small enough to list members: the data behind read ticks.
	Reads       map[string]int64 `json:"reads,omitzero"`
	LastMessage *Message         `json:"last_message,omitempty"`
	CreatedAt   time.Time        `json:"created_at"`
	UpdatedAt   time.Time        `json:"updated_at"`
}

// Connected is the data of chat:connected.
type Connected struct {
	User           User      `json:"user"`
	AccountID      string    `json:"account_id"`
	ConnectionID   string    `json:"connection_id"`
	Status         string    `json:"status"`
	ServerTime     time.Time `json:"timestamp"`
	ConnectedUsers int       `json:"connected_users"` // users of this account online now
	Limits         Limits    `json:"limits"`
	// InboxStatus is the inbox's status (visitors only): online, away,
	// busy or offline.
	InboxStatus string `json:"inbox_status,omitempty"`
	// ICEServers are the STUN and TURN servers for calls, with TURN
	// credentials minted for this connection (RTCConfiguration.iceServers).
	ICEServers []ICEServer `json:"ice_servers,omitempty"`
}

// ICEServer is one entry of RTCConfiguration.iceServers. TURN credentials
// follow the TURN REST API scheme: username "EXPIRY:USER", credential
// base64(HMAC-SHA1(secret, username)).
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Limits tells a client what the server will refuse.
type Limits struct {
	MaxMessageBytes   int     `json:"max_message_bytes"`
	MessagesPerSecond float64 `json:"messages_per_second"`
	MaxFrameBytes     int     `json:"max_frame_bytes"`
	// MaxCallBitrateKbps caps the video a call sends (the operator's
	// call_max_bitrate); clients adapt below it.
	MaxCallBitrateKbps int `json:"max_call_bitrate_kbps,omitempty"`
}

type SendRequest struct {
	ConversationID string `json:"conversation_id"`
	ClientID       string `json:"client_id"`
	Type           string `json:"type,omitempty"` // default text; image/voice/file need attachment_id
	Text           string `json:"text,omitempty"`
	ReplyTo        string `json:"reply_to,omitempty"`
	AttachmentID   string `json:"attachment_id,omitempty"`
	DurationMS     int64  `json:"duration_ms,omitempty"`
}

type EditRequest struct {
	ConversationID string `json:"conversation_id"`
	MessageID      string `json:"message_id"`
	Text           string `json:"text"`
}

type DeleteRequest struct {
	ConversationID string `json:"conversation_id"`
	MessageID      string `json:"message_id"`
}

type TypingRequest struct {
	ConversationID string `json:"conversation_id"`
	IsTyping       bool   `json:"is_typing"`
}

// Typing is broadcast on start, on stop, and when 5 s pass without a refresh.
type Typing struct {
	ConversationID string `json:"conversation_id"`
	SenderID       string `json:"sender_id"`
	IsTyping       bool   `json:"is_typing"`
}

type ReadRequest struct {
	ConversationID string `json:"conversation_id"`
	Seq            int64  `json:"seq"`
}

// ReadState is the reply to chat:read: the caller's read position ("read
// up to seq") and how many messages of others are still unread after it.
type ReadState struct {
	ConversationID string `json:"conversation_id"`
	UserID         string `json:"user_id"`
	Seq            int64  `json:"seq"`
	Unread         int64  `json:"unread"`
}

// ReadEvent is the data of chat:read events: a member's new read position.
type ReadEvent struct {
	ConversationID string `json:"conversation_id"`
	UserID         string `json:"user_id"`
	Seq            int64  `json:"seq"`
}

type StatusRequest struct {
	Status string `json:"status"` // online | away | busy | offline (appear offline)
}

// Presence is the data of chat:user_status.
type Presence struct {
	UserID   string     `json:"user_id"`
	Status   string     `json:"status"`
	LastSeen *time.Time `json:"last_seen,omitempty"`
	Time     time.Time  `json:"timestamp"`
}

type PresenceRequest struct {
	UserIDs []string `json:"user_ids"`
}

type PresenceReply struct {
	Users []Presence `json:"users"`
}

// SyncRequest asks for everything missed since the given per-conversation
// seqs. A conversation the client does not name is not replayed.
type SyncRequest struct {
	Cursors map[string]int64 `json:"cursors"`
	// CursorIDs holds, for some or all cursors above 0, the id of the
	// message at the cursor's seq. With it the server also recognizes a
	// cursor from another history whose seq it has again (a restored
	// backup, then new messages); without it, only a cursor ahead of the
	// conversation's last seq.
	CursorIDs map[string]string `json:"cursor_ids,omitempty"`
	// Since, when set, also replays edits and deletions made after it to
	// messages at or below each cursor, as chat:message_edited and
	// chat:message_deleted events with the message's current state. Pass the
	// timestamp of the previous connection's chat:connected.
	Since *time.Time `json:"since,omitempty"`
}

// SyncReply comes after the replayed chat:message events and before the
// live ones. Seqs holds, per conversation, the last seq replayed;
// Truncated lists conversations with more to fetch (call chat:sync again
// with the new cursor); it is empty, not absent, when there are none.
// Refused names, with the error code refusing each, the conversations of
// the request the user may not read (left, never joined, unknown): nothing
// of them is replayed, the others are ({} when none). Reset lists
// conversations whose cursor is not from the server's history (its
// database was restored from a backup): nothing was replayed for them,
// their Seqs entry is the conversation's newest seq, and the client drops
// what it holds of them and reloads them ([] when none).
type SyncReply struct {
	Seqs      map[string]int64  `json:"seqs"`
	Truncated []string          `json:"truncated"`
	Refused   map[string]string `json:"refused"`
	Reset     []string          `json:"reset"`
}

// HistoryRequest asks for a page of a conversation: without a cursor its
// newest page, with Before the newest page below that seq, with After the
// oldest page above it. Messages come in seq order either way.
type HistoryRequest struct {
	ConversationID string `json:"conversation_id"`
	Before         int64  `json:"before,omitempty"`
	// After, when set, pages forward from that seq (0: from the first
	// message); unset, the page is the newest (before Before, if set).
	After *int64 `json:"after,omitempty"`
	Limit int    `json:"limit,omitempty"`
}

// HistoryReply is one page; HasMore tells whether more remain in the
// direction of paging (older ones unless After was set).
type HistoryReply struct {
	Messages []Message `json:"messages"`
	HasMore  bool      `json:"has_more"`
}

type ConversationsReply struct {
	Conversations []Conversation `json:"conversations"`
}

type CreateConversationRequest struct {
	Kind    string   `json:"kind"`              // direct | group
	Name    string   `json:"name,omitempty"`    // group
	Members []string `json:"members,omitempty"` // user names (token subjects) in the caller's account
}

type ConversationRef struct {
	ConversationID string `json:"conversation_id"`
}

type MemberEvent struct {
	ConversationID string `json:"conversation_id"`
	UserID         string `json:"user_id"`
}

// Widget positions.
const (
	PositionRight = "right"
	PositionLeft  = "left"
)

// WidgetConfig is what anyone with an inbox address may read: how the
// widget looks and whether someone is there to answer.
type WidgetConfig struct {
	Address  string `json:"address"`
	Name     string `json:"name"`
	Welcome  string `json:"welcome,omitempty"`
	Color    string `json:"color"`    // "#rrggbb"
	Position string `json:"position"` // right | left
	Status   string `json:"status"`   // online | away | busy | offline
}

// InboxSettings is the inbox as its owners and agents see it.
type InboxSettings struct {
	WidgetConfig
	ChatURL   string    `json:"chat_url"`   // the full-page chat: PUBLIC_URL/chat/ADDRESS
	WidgetURL string    `json:"widget_url"` // PUBLIC_URL/widget.js
	Snippet   string    `json:"snippet"`    // the script tag to paste into a site
	UpdatedAt time.Time `json:"updated_at"`
}

// InboxSettingsPatch changes some settings; absent fields stay.
type InboxSettingsPatch struct {
	Name     *string `json:"name,omitempty"`
	Welcome  *string `json:"welcome,omitempty"`
	Color    *string `json:"color,omitempty"`
	Position *string `json:"position,omitempty"`
}

// InboxStatus is the data of inbox:status.
type InboxStatus struct {
	Status string `json:"status"`
}

// InboxRevoked is the data of the internal inbox:revoked event.
type InboxRevoked struct {
	Address string `json:"address"`
}

// SessionRequest opens a visitor session through an inbox address
// (POST /api/v1/widget/{address}/session). With neither Visitor nor
// Identity, a new anonymous visitor is made.
type SessionRequest struct {
	// Visitor is a returning anonymous visitor: the id and ticket an earlier
	// session returned (kept by the widget in the browser).
	Visitor *VisitorTicket `json:"visitor,omitempty"`
	// Identity is a token the site signed with its API key (role visitor),
	// so its logged-in customers are recognised on any device.
	Identity string `json:"identity,omitempty"`
	// Where the visitor is, for the console.
	PageURL   string `json:"page_url,omitempty"`
	PageTitle string `json:"page_title,omitempty"`
	Referrer  string `json:"referrer,omitempty"`
	Timezone  string `json:"timezone,omitempty"` // IANA, e.g. "Europe/Sofia"
	Locale    string `json:"locale,omitempty"`   // e.g. "bg-BG"
}

// VisitorTicket lets an anonymous visitor come back as themselves.
type VisitorTicket struct {
	ID     string `json:"id"`
	Ticket string `json:"ticket"`
}

// Session is a visitor's access token and what the widget needs to start.
type Session struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      User      `json:"user"`
	// Visitor is set for anonymous visitors: keep it to come back as the same visitor.
	Visitor        *VisitorTicket `json:"visitor,omitempty"`
	Identified     bool           `json:"identified"`
	ConversationID string         `json:"conversation_id,omitempty"` // the visitor's conversation, once it exists
	Inbox          WidgetConfig   `json:"inbox"`
}

// VisitorDetails is what the console shows about a visitor.
type VisitorDetails struct {
	UserID         string    `json:"user_id"`
	ConversationID string    `json:"conversation_id,omitempty"`
	DisplayName    string    `json:"display_name"`
	Identified     bool      `json:"identified"`
	PageURL        string    `json:"page_url,omitempty"`
	PageTitle      string    `json:"page_title,omitempty"`
	Referrer       string    `json:"referrer,omitempty"`
	UserAgent      string    `json:"user_agent,omitempty"`
	Browser        string    `json:"browser,omitempty"` // e.g. "Chrome 131 on Windows"
	Timezone       string    `json:"timezone,omitempty"`
	Locale         string    `json:"locale,omitempty"`
	IP             string    `json:"ip,omitempty"`
	FirstSeen      time.Time `json:"first_seen"`
	LastSeen       time.Time `json:"last_seen"`
}

// ConsoleSession is an owner's or agent's signed-in session in the console.
type ConsoleSession struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      User      `json:"user"`
	AccountID string    `json:"account_id"`
	Login     string    `json:"login,omitempty"`
	// NeedsPassword: the user signed in with a one-time link and has no
	// login yet; the console asks them to choose one.
	NeedsPassword bool `json:"needs_password"`
}

// TeamMember is an owner or agent of the account, as the console lists them.
type TeamMember struct {
	User   User   `json:"user"`
	Login  string `json:"login,omitempty"`
	Status string `json:"status"`
}

// Invite is a one-time link that lets a new agent join the account.
type Invite struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// PushSubscription is a browser's PushSubscription.toJSON(), as the console
// sends it to POST /api/v1/push/subscriptions.
type PushSubscription struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

// PushKey is the server's VAPID public key (applicationServerKey).
type PushKey struct {
	PublicKey string `json:"public_key"`
}

// PushPayload is what a push message carries to the console's service
// worker (encrypted, RFC 8291).
type PushPayload struct {
	Title          string `json:"title"`
	Body           string `json:"body"`
	ConversationID string `json:"conversation_id"`
	URL            string `json:"url"`
}

// Calls between two people (docs/protocol.md, Calls). Requests:
const (
	EvCallInvite = "call:invite" // CallInvite → Call; the callee's devices get call:incoming
	EvCallAccept = "call:accept" // CallRef → Call; the caller's device gets call:accepted
	EvCallReject = "call:reject" // CallRef → {}
	EvCallCancel = "call:cancel" // CallRef → {} (the caller, while it rings)
	EvCallEnd    = "call:end"    // CallRef → {}
	EvCallRejoin = "call:rejoin" // CallRef → Call: a party's new connection takes the call over
	// Relayed to the other party's device as events of the same name,
	// with "from" set (CallSignal).
	EvCallOffer  = "call:offer"
	EvCallAnswer = "call:answer"
	EvCallICE    = "call:ice"
)

// Call events (server → client).
const (
	EvCallIncoming = "call:incoming" // Call: ring (every device of each callee)
	EvCallAccepted = "call:accepted" // Call: to the caller's device
	EvCallAnswered = "call:answered" // Call: answered (by whom: callee_id); other devices stop ringing
	EvCallBusy     = "call:busy"     // Call: everyone who could answer is in another call
	EvCallEnded    = "call:ended"    // CallEnded: to both parties' devices (and ringing ones)
	EvCallRejoined = "call:rejoined" // Call: the other party is back on a new connection: restart ICE
)

// Call outcomes (CallEnded.Reason, and the call events in the conversation).
const (
	OutcomeStarted  = "started"  // answered (a call event only)
	OutcomeEnded    = "ended"    // answered, then hung up or disconnected
	OutcomeMissed   = "missed"   // not answered: timed out, cancelled, nobody online
	OutcomeDeclined = "declined" // refused by the callee
	OutcomeBusy     = "busy"     // everyone who could answer was in another call
)

type CallInvite struct {
	ConversationID string `json:"conversation_id"`
	Media          string `json:"media"` // audio | video
}

type CallRef struct {
	CallID string `json:"call_id"`
}

// Call is a call as one of its parties sees it.
type Call struct {
	ID             string `json:"id"`
	ConversationID string `json:"conversation_id"`
	Media          string `json:"media"`
	CallerID       string `json:"caller_id"`
	CalleeID       string `json:"callee_id,omitempty"` // once answered
	State          string `json:"state"`               // ringing | active | ended
	Reason         string `json:"reason,omitempty"`    // when ended
	// Polite is this party's role in perfect negotiation: the callee is
	// polite (rolls back its offer on glare), the caller is not.
	Polite    bool       `json:"polite"`
	CreatedAt time.Time  `json:"created_at"`
	StartedAt *time.Time `json:"started_at,omitempty"`
}

// CallEnded is the data of call:ended.
type CallEnded struct {
	CallID         string `json:"call_id"`
	ConversationID string `json:"conversation_id"`
	Reason         string `json:"reason"`
	DurationMS     int64  `json:"duration_ms,omitempty"`
}

// CallSignal carries WebRTC negotiation between the two devices of a call:
// a session description (call:offer, call:answer) or an ICE candidate
// (call:ice), passed through as the browser made it.
type CallSignal struct {
	CallID      string          `json:"call_id"`
	From        string          `json:"from,omitempty"` // set by the server: the sender's user id
	Description json.RawMessage `json:"description,omitempty"`
	Candidate   json.RawMessage `json:"candidate,omitempty"`
}

// Rooms: group calls through the server's SFU (docs/protocol.md, Rooms and
// channels). Requests:
const (
	EvRoomJoin      = "room:join"      // RoomJoin → RoomJoined
	EvRoomLeave     = "room:leave"     // RoomRef → {}
	EvRoomSignal    = "room:signal"    // RoomSignal → {}; also the event carrying the SFU's side
	EvRoomSubscribe = "room:subscribe" // RoomSubscribe → {}
	EvRoomMute      = "room:mute"      // RoomMute → {}
)

// Room events (server → client), to the other participants of a room (and
// layers_wanted to a publisher only).
const (
	EvRoomParticipantJoined = "room:participant_joined" // RoomEvent with participant
	EvRoomParticipantLeft   = "room:participant_left"   // RoomEvent with participant
	EvRoomTrackPublished    = "room:track_published"    // RoomEvent with track
	EvRoomTrackUnpublished  = "room:track_unpublished"  // RoomEvent with track
	EvRoomTrackMuted        = "room:track_muted"        // RoomEvent with track (track.muted)
	EvRoomActiveSpeakers    = "room:active_speakers"    // RoomEvent with speakers
	EvRoomLayersWanted      = "room:layers_wanted"      // RoomEvent with track and layers: the RIDs somebody watches
	EvRoomClosed            = "room:closed"             // RoomEvent: the room was closed (or the server stops); the participant is out
	EvRoomRecording         = "room:recording"          // RoomEvent with recording: the room's recording started or stopped (everyone)
)

// RoomReasonMoved (room:closed): the room's node stopped or died; join it
// again and it comes back on another node (the SDKs do so by themselves).
const RoomReasonMoved = "moved"

// Broadcast channels: one publisher, any number of viewers. Requests:
const (
	EvChannelPublish   = "channel:publish"   // ChannelRef → RoomJoined (one broadcaster per channel)
	EvChannelSubscribe = "channel:subscribe" // ChannelRef → RoomJoined (a viewer: receives only)
	EvChannelLeave     = "channel:leave"     // ChannelRef → {}
)

// Room kinds.
const (
	RoomKindRoom    = "room"
	RoomKindChannel = "channel"
)

// Signal kinds and peer connections of room:signal.
const (
	SignalOffer     = "offer"
	SignalAnswer    = "answer"
	SignalCandidate = "candidate"
	// PCPub is the client's publishing connection: the client offers, the
	// SFU answers. PCSub is the receiving one: the SFU offers, the client
	// answers.
	PCPub = "pub"
	PCSub = "sub"
)

// CreateRoom is the body of POST /api/v1/rooms.
type CreateRoom struct {
	Name string `json:"name,omitempty"`
	// MaxParticipants lowers the server's room_max_participants for this
	// room (0: the server's).
	MaxParticipants int `json:"max_participants,omitempty"`
	// Invite lists user ids (visitors of the account) allowed to join
	// besides the account's members, agents and owners.
	Invite []string `json:"invite,omitempty"`
}

// Room is a room (or a channel) as its participants and the REST API see it.
type Room struct {
	ID              string            `json:"id"`
	Kind            string            `json:"kind"`              // room | channel
	Name            string            `json:"name,omitempty"`    // a room's name
	Channel         string            `json:"channel,omitempty"` // a channel's name
	CreatedBy       string            `json:"created_by,omitempty"`
	CreatedAt       time.Time         `json:"created_at"`
	MaxParticipants int               `json:"max_participants,omitempty"`
	Invited         []string          `json:"invited,omitempty"`
	Recording       bool              `json:"recording"`
	Participants    []RoomParticipant `json:"participants"`
}

// RoomParticipant is one person (one connection) in a room.
type RoomParticipant struct {
	ID       string      `json:"id"` // participant id: names the tracks' publisher
	UserID   string      `json:"user_id"`
	Name     string      `json:"name,omitempty"`
	Tracks   []RoomTrack `json:"tracks"`
	JoinedAt time.Time   `json:"joined_at"`
}

// RoomTrack is a published track. Bitrate is what arrives at the server
// (bits per second); Width and Height the largest layer's.
type RoomTrack struct {
	ID            string      `json:"id"`
	ParticipantID string      `json:"participant_id"`
	Kind          string      `json:"kind"`             // audio | video
	Source        string      `json:"source,omitempty"` // camera | microphone | screen
	Codec         string      `json:"codec,omitempty"`
	Simulcast     bool        `json:"simulcast"`
	Layers        []RoomLayer `json:"layers,omitempty"`
	Muted         bool        `json:"muted"`
	Bitrate       int         `json:"bitrate"`
	Width         int         `json:"width,omitempty"`
	Height        int         `json:"height,omitempty"`
}

// RoomLayer is one simulcast layer: rid q (quarter), h (half) or f (full).
type RoomLayer struct {
	RID     string `json:"rid"`
	Width   int    `json:"width,omitempty"`
	Height  int    `json:"height,omitempty"`
	Bitrate int    `json:"bitrate"`
	Active  bool   `json:"active"`
}

// RoomJoin is the data of room:join.
type RoomJoin struct {
	Room    string `json:"room"`
	Publish bool   `json:"publish"` // false: receive only
}

// RoomRef names a room.
type RoomRef struct {
	Room string `json:"room"`
}

// ChannelRef names a channel of the caller's account.
type ChannelRef struct {
	Channel string `json:"channel"`
}

// RoomJoined is the reply to room:join, channel:publish and
// channel:subscribe: who the caller is in the room, the room as it is now
// and the ICE servers for its connections to the SFU.
type RoomJoined struct {
	ParticipantID string      `json:"participant_id"`
	Room          Room        `json:"room"`
	ICEServers    []ICEServer `json:"ice_servers,omitempty"`
}

// ICECandidate is RTCIceCandidateInit, as browsers make it.
type ICECandidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// RoomSignal is WebRTC negotiation between a participant and the SFU, on
// one of its two peer connections (pc: pub or sub). Kind offer or answer
// carries SDP; kind candidate carries Candidate (null: end of candidates).
type RoomSignal struct {
	Room string `json:"room"`
	// Channel is set on the SFU's signals in a channel's room, so a client
	// can route them before it knows the room's id.
	Channel   string        `json:"channel,omitempty"`
	PC        string        `json:"pc"`   // pub | sub
	Kind      string        `json:"kind"` // offer | answer | candidate
	SDP       string        `json:"sdp,omitempty"`
	Candidate *ICECandidate `json:"candidate,omitempty"`
}

// RoomSubscribe says how a subscriber shows a track: the size of its tile
// (the SFU picks the simulcast layer that fits) or paused (off screen: no
// packets at all).
type RoomSubscribe struct {
	Room   string `json:"room"`
	Track  string `json:"track"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Paused bool   `json:"paused"`
}

// RoomMute mutes or unmutes one of the caller's own published tracks.
type RoomMute struct {
	Room  string `json:"room"`
	Track string `json:"track"`
	Muted bool   `json:"muted"`
}

// RoomEvent is the data of every room:* event. Channel is set for a
// channel's room. Which other fields are set depends on the event.
type RoomEvent struct {
	Room        string           `json:"room"`
	Channel     string           `json:"channel,omitempty"`
	Participant *RoomParticipant `json:"participant,omitempty"`
	Track       *RoomTrack       `json:"track,omitempty"`
	Speakers    []string         `json:"speakers,omitempty"`  // participant ids, loudest first
	Layers      []string         `json:"layers,omitempty"`    // RIDs somebody watches (layers_wanted)
	Reason      string           `json:"reason,omitempty"`    // closed: closed | shutting_down | expired | moved | moved
	Recording   *bool            `json:"recording,omitempty"` // recording: whether the room is being recorded now
}

// Channel is a broadcast channel as GET /api/v1/channels lists it.
type Channel struct {
	Name      string    `json:"name"`
	Room      string    `json:"room"`
	Live      bool      `json:"live"` // a publisher is sending
	Publisher *User     `json:"publisher,omitempty"`
	Viewers   int       `json:"viewers"`
	Bitrate   int       `json:"bitrate"` // bits per second of the publisher's tracks
	Width     int       `json:"width,omitempty"`
	Height    int       `json:"height,omitempty"`
	Codec     string    `json:"codec,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

// Recording is one recording of a room (GET /api/v1/recordings): a file
// per track, each downloadable by its name. EndedAt is unset while it
// records, and for one the server stopped in the middle of (its files play
// up to that point).
type Recording struct {
	Name      string           `json:"name"` // its manifest, NAME.json, downloads too
	Room      string           `json:"room"`
	StartedAt time.Time        `json:"started_at"`
	EndedAt   *time.Time       `json:"ended_at,omitempty"`
	Tracks    []RecordingTrack `json:"tracks"`
}

// RecordingTrack is one track's file in a Recording.
type RecordingTrack struct {
	File        string     `json:"file"`
	URL         string     `json:"url"` // relative: /api/v1/recordings/{file}
	Participant string     `json:"participant"`
	Track       string     `json:"track"`
	Codec       string     `json:"codec"`
	StartedAt   time.Time  `json:"started_at"`
	EndedAt     *time.Time `json:"ended_at,omitempty"`
	DurationMS  int64      `json:"duration_ms,omitempty"`
	Size        int64      `json:"size"`
}

package client

import (
	"context"
	"time"

	"github.com/parley-chat/parley/internal/ids"
	"github.com/parley-chat/parley/protocol"
)

// Send sends a message. An empty ClientID gets a fresh time-ordered one (resending the
// same request with the same ClientID never duplicates the message).
func (c *Conn) Send(ctx context.Context, r protocol.SendRequest) (protocol.Message, error) {
	if r.ClientID == "" {
		r.ClientID = newClientID()
	}
	var m protocol.Message
	err := c.Request(ctx, protocol.EvSend, r, &m)
	return m, err
}

// Edit changes the text of one's own message.
func (c *Conn) Edit(ctx context.Context, r protocol.EditRequest) (protocol.Message, error) {
	var m protocol.Message
	err := c.Request(ctx, protocol.EvEdit, r, &m)
	return m, err
}

// Delete deletes one's own message and returns its tombstone.
func (c *Conn) Delete(ctx context.Context, conversationID, messageID string) (protocol.Message, error) {
	var m protocol.Message
	err := c.Request(ctx, protocol.EvDelete, protocol.DeleteRequest{ConversationID: conversationID, MessageID: messageID}, &m)
	return m, err
}

// Typing says the user started (or stopped) typing in a conversation.
func (c *Conn) Typing(ctx context.Context, conversationID string, typing bool) error {
	return c.Request(ctx, protocol.EvTypingSet, protocol.TypingRequest{ConversationID: conversationID, IsTyping: typing}, nil)
}

// MarkRead moves the read position to seq.
func (c *Conn) MarkRead(ctx context.Context, conversationID string, seq int64) (protocol.ReadState, error) {
	var st protocol.ReadState
	err := c.Request(ctx, protocol.EvMarkRead, protocol.ReadRequest{ConversationID: conversationID, Seq: seq}, &st)
	return st, err
}

// SetStatus sets the user's presence: online, away, busy or offline.
func (c *Conn) SetStatus(ctx context.Context, status string) (protocol.Presence, error) {
	var p protocol.Presence
	err := c.Request(ctx, protocol.EvSetStatus, protocol.StatusRequest{Status: status}, &p)
	return p, err
}

// History pages through a conversation.
func (c *Conn) History(ctx context.Context, r protocol.HistoryRequest) (protocol.HistoryReply, error) {
	var h protocol.HistoryReply
	err := c.Request(ctx, protocol.EvHistory, r, &h)
	return h, err
}

// Conversations lists the user's conversations.
func (c *Conn) Conversations(ctx context.Context) ([]protocol.Conversation, error) {
	var r protocol.ConversationsReply
	err := c.Request(ctx, protocol.EvConversations, nil, &r)
	return r.Conversations, err
}

// Create makes a direct conversation or a group.
func (c *Conn) Create(ctx context.Context, r protocol.CreateConversationRequest) (protocol.Conversation, error) {
	var cv protocol.Conversation
	err := c.Request(ctx, protocol.EvCreate, r, &cv)
	return cv, err
}

// Join joins a group.
func (c *Conn) Join(ctx context.Context, conversationID string) (protocol.Conversation, error) {
	var cv protocol.Conversation
	err := c.Request(ctx, protocol.EvJoin, protocol.ConversationRef{ConversationID: conversationID}, &cv)
	return cv, err
}

// Leave leaves a group.
func (c *Conn) Leave(ctx context.Context, conversationID string) error {
	return c.Request(ctx, protocol.EvLeave, protocol.ConversationRef{ConversationID: conversationID}, nil)
}

// Inbox opens (or returns) a visitor's inbox conversation.
func (c *Conn) Inbox(ctx context.Context) (protocol.Conversation, error) {
	var cv protocol.Conversation
	err := c.Request(ctx, protocol.EvInbox, nil, &cv)
	return cv, err
}

// Presence asks for the status of users of the account.
func (c *Conn) Presence(ctx context.Context, userIDs ...string) ([]protocol.Presence, error) {
	var r protocol.PresenceReply
	err := c.Request(ctx, protocol.EvPresenceGet, protocol.PresenceRequest{UserIDs: userIDs}, &r)
	return r.Users, err
}

// Ping round-trips a ping request and returns the server's time.
func (c *Conn) Ping(ctx context.Context) (time.Time, error) {
	var r struct {
		Time time.Time `json:"time"`
	}
	err := c.Request(ctx, protocol.EvPing, nil, &r)
	return r.Time, err
}

// Sync asks for every message after the given per-conversation seqs (for
// example Cursors() of the previous connection). The server sends the
// missed messages as chat:message events, in order, before its reply; they
// reach OnEvent/Events like any event, and Sync also returns them. A
// conversation listed in reply.Truncated has more: call Sync again with
// reply.Seqs. Conversations in reply.Refused may no longer be read (left on
// another device, or unknown): nothing of them is replayed; drop them.
func (c *Conn) Sync(ctx context.Context, cursors map[string]int64) ([]protocol.Message, protocol.SyncReply, error) {
	return c.sync(ctx, protocol.SyncRequest{Cursors: cursors})
}

// SyncSince is Sync plus the edits and deletions made after since to
// messages at or below the cursors; they arrive as chat:message_edited and
// chat:message_deleted events (through OnEvent/Events) before the reply.
// Pass the Connected().ServerTime of the previous connection.
func (c *Conn) SyncSince(ctx context.Context, cursors map[string]int64, since time.Time) ([]protocol.Message, protocol.SyncReply, error) {
	return c.sync(ctx, protocol.SyncRequest{Cursors: cursors, Since: &since})
}

// SyncWith sends a chat:sync request as given, for example with
// CursorIDs; see Sync. Conversations in the reply's Reset were not
// replayed (see Options.OnReset).
func (c *Conn) SyncWith(ctx context.Context, req protocol.SyncRequest) ([]protocol.Message, protocol.SyncReply, error) {
	return c.sync(ctx, req)
}

func (c *Conn) sync(ctx context.Context, req protocol.SyncRequest) ([]protocol.Message, protocol.SyncReply, error) {
	cursors := req.Cursors
	col := &syncCollector{convs: cursors}
	c.mu.Lock()
	c.syncs = append(c.syncs, col)
	c.mu.Unlock()
	var reply protocol.SyncReply
	err := c.Request(ctx, protocol.EvSync, req, &reply)
	c.mu.Lock()
	for i, s := range c.syncs {
		if s == col {
			c.syncs = append(c.syncs[:i], c.syncs[i+1:]...)
			break
		}
	}
	msgs := col.msgs
	c.mu.Unlock()
	if err != nil {
		return nil, reply, err
	}
	out := msgs[:0]
	for _, m := range msgs {
		if m.Seq > cursors[m.ConversationID] && m.Seq <= reply.Seqs[m.ConversationID] {
			out = append(out, m)
		}
	}
	return out, reply, nil
}

func newClientID() string {
	// Time-ordered, so the server's idempotency index appends instead of
	// writing a random page.
	return ids.NewOrdered("c")
}

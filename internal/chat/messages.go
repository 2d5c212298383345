package chat

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/ids"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

const (
	maxClientIDLen = 64
	maxVoiceMS     = 60 * 60 * 1000 // an hour
	maxHistory     = 100
)

// Send commits a message and announces it with chat:message. A resend with
// the same client_id returns the first message and announces nothing.
func (s *Service) Send(ctx context.Context, id auth.Identity, r protocol.SendRequest) (protocol.Message, error) {
	c, err := s.writable(ctx, id, r.ConversationID)
	if err != nil {
		return protocol.Message{}, err
	}
	if r.Type == "" {
		r.Type = protocol.TypeText
	}
	if len(r.ClientID) > maxClientIDLen {
		return protocol.Message{}, apperr.Invalidf("client_id is longer than %d bytes", maxClientIDLen)
	}
	if err := s.checkText(r.Text, r.Type == protocol.TypeText); err != nil {
		return protocol.Message{}, err
	}
	var att *store.Attachment
	switch r.Type {
	case protocol.TypeText:
		if r.AttachmentID != "" {
			return protocol.Message{}, apperr.Invalidf("a text message has no attachment; use type image, voice or file")
		}
	case protocol.TypeImage, protocol.TypeVoice, protocol.TypeFile:
		a, err := s.sendableAttachment(ctx, id, c, r.Type, r.AttachmentID)
		if err != nil {
			return protocol.Message{}, err
		}
		att = &a
	default:
		return protocol.Message{}, apperr.Invalidf("type must be text, image, voice or file")
	}
	if r.DurationMS < 0 || r.DurationMS > maxVoiceMS || (r.DurationMS != 0 && r.Type != protocol.TypeVoice) {
		return protocol.Message{}, apperr.Invalidf("duration_ms applies to voice messages and must be 0 to %d", maxVoiceMS)
	}
	if r.ReplyTo != "" {
		if _, err := s.st.GetMessage(ctx, c.ID, r.ReplyTo); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return protocol.Message{}, apperr.NotFoundf("reply_to %q is not a message of this conversation", r.ReplyTo)
			}
			return protocol.Message{}, apperr.Wrap("chat.Send", err)
		}
	}
	m := store.Message{
		ID: ids.NewOrdered(ids.Message), ConversationID: c.ID, SenderID: id.UserID, ClientID: r.ClientID,
		Type: r.Type, Text: r.Text, ReplyTo: r.ReplyTo, DurationMS: r.DurationMS, CreatedAt: s.clock(),
	}
	if att != nil {
		m.AttachmentID = att.ID
	}
	var out protocol.Message
	stored, created, err := s.st.AppendMessage(ctx, m, func(m store.Message) {
		// Runs in commit order, so chat:message events leave in seq order.
		out = s.wire(m, att)
		s.publishMessage(c, protocol.EvMessage, out)
	})
	if errors.Is(err, store.ErrNotFound) {
		return protocol.Message{}, errNoConversation(c.ID)
	}
	if err != nil {
		return protocol.Message{}, apperr.Wrap("chat.Send", err)
	}
	if created {
		s.typing.clear(c, id.UserID)
		if c.Kind == protocol.KindInbox && id.Role == protocol.RoleVisitor && s.cfg.OnVisitorMessage != nil {
			s.cfg.OnVisitorMessage(c.AccountID, c.ID, id.DisplayName, out)
		}
		return out, nil
	}
	// A resend: answer with the message as first stored.
	same := stored.Type == r.Type && stored.Text == r.Text && s.sameAttachment(ctx, id.AccountID, stored.AttachmentID, att)
	if !same && stored.DeletedAt == nil && stored.EditedAt == nil {
		return protocol.Message{}, apperr.New(apperr.Conflict, apperr.CodeConflict, "client_id %q was already used for a different message", r.ClientID)
	}
	return s.expand(ctx, id.AccountID, stored)
}

// sameAttachment tells whether a resend carries the same file: a retried
// multipart send uploads it again under a new attachment id, so compare
// contents, not ids.
func (s *Service) sameAttachment(ctx context.Context, accountID, storedID string, resent *store.Attachment) bool {
	if storedID == "" || resent == nil {
		return storedID == "" && resent == nil
	}
	if storedID == resent.ID {
		return true
	}
	a, err := s.st.GetAttachment(ctx, accountID, storedID)
	return err == nil && a.SHA256 == resent.SHA256 && a.Kind == resent.Kind
}

func (s *Service) checkText(text string, required bool) error {
	if required && strings.TrimSpace(text) == "" {
		return apperr.Invalidf("text is required")
	}
	if len(text) > s.cfg.MaxMessageBytes {
		return apperr.New(apperr.TooLarge, apperr.CodeMessageTooLarge, "text is %d bytes; the limit is %d", len(text), s.cfg.MaxMessageBytes)
	}
	if !utf8.ValidString(text) {
		return apperr.Invalidf("text is not valid UTF-8")
	}
	return nil
}

// sendableAttachment checks that the sender uploaded it to this very
// conversation and that its kind fits the message type.
func (s *Service) sendableAttachment(ctx context.Context, id auth.Identity, c store.Conversation, typ, attID string) (store.Attachment, error) {
	if attID == "" {
		return store.Attachment{}, apperr.Invalidf("a %s message needs attachment_id", typ)
	}
	a, err := s.st.GetAttachment(ctx, id.AccountID, attID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (a.ConversationID != c.ID || a.UploaderID != id.UserID)) {
		return store.Attachment{}, apperr.NotFoundf("no attachment %q uploaded by you to this conversation", attID)
	}
	if err != nil {
		return store.Attachment{}, apperr.Wrap("chat.Send", err)
	}
	if a.Kind != typ {
		return store.Attachment{}, apperr.Invalidf("attachment %q is a %s, not a %s", attID, a.Kind, typ)
	}
	return a, nil
}

// wire is the message as clients see it, its attachment's URL
// signed.
func (s *Service) wire(m store.Message, a *store.Attachment) protocol.Message {
	out := wireMessage(m, a)
	if out.Attachment != nil {
		*out.Attachment = s.wireAttachment(*a)
	}
	return out
}

func wireMessage(m store.Message, a *store.Attachment) protocol.Message {
	out := protocol.Message{
		ID: m.ID, ConversationID: m.ConversationID, Seq: m.Seq, SenderID: m.SenderID,
		ClientID: m.ClientID, Type: m.Type, Text: m.Text, ReplyTo: m.ReplyTo,
		DurationMS: m.DurationMS, CreatedAt: m.CreatedAt, EditedAt: m.EditedAt, DeletedAt: m.DeletedAt,
	}
	if a != nil && m.AttachmentID != "" {
		out.Attachment = &protocol.Attachment{
			ID: a.ID, Kind: a.Kind, ContentType: a.ContentType, Size: a.Size, Name: a.Name,
			URL: BearerURL(a.ID),
		}
	}
	return out
}

// expand turns a stored message into its wire form, loading its attachment.
func (s *Service) expand(ctx context.Context, accountID string, m store.Message) (protocol.Message, error) {
	if m.AttachmentID == "" {
		return wireMessage(m, nil), nil
	}
	a, err := s.st.GetAttachment(ctx, accountID, m.AttachmentID)
	if err != nil {
		return protocol.Message{}, apperr.Wrap("chat.expand", err)
	}
	return s.wire(m, &a), nil
}

func (s *Service) expandAll(ctx context.Context, accountID string, ms []store.Message) ([]protocol.Message, error) {
	out := make([]protocol.Message, len(ms))
	for i, m := range ms {
		w, err := s.expand(ctx, accountID, m)
		if err != nil {
			return nil, err
		}
		out[i] = w
	}
	return out, nil
}

// ownMessage loads a message for a change by the caller.
func (s *Service) ownMessage(ctx context.Context, id auth.Identity, convID, msgID string) (store.Conversation, store.Message, error) {
	c, err := s.writable(ctx, id, convID)
	if err != nil {
		return c, store.Message{}, err
	}
	m, err := s.st.GetMessage(ctx, c.ID, msgID)
	if errors.Is(err, store.ErrNotFound) {
		return c, m, apperr.NotFoundf("no message %q in conversation %q", msgID, c.ID)
	}
	if err != nil {
		return c, m, apperr.Wrap("chat.message", err)
	}
	if m.DeletedAt != nil {
		return c, m, apperr.New(apperr.Conflict, apperr.CodeMessageDeleted, "message %q was deleted", msgID)
	}
	return c, m, nil
}

// Edit replaces a message's text. Only its sender may, and only text.
func (s *Service) Edit(ctx context.Context, id auth.Identity, r protocol.EditRequest) (protocol.Message, error) {
	c, m, err := s.ownMessage(ctx, id, r.ConversationID, r.MessageID)
	if err != nil {
		return protocol.Message{}, err
	}
	if m.SenderID != id.UserID {
		return protocol.Message{}, apperr.New(apperr.Forbidden, apperr.CodeNotSender, "only the sender may edit a message")
	}
	if m.Type == protocol.TypeCall {
		return protocol.Message{}, apperr.Forbiddenf("call events cannot be edited")
	}
	if err := s.checkText(r.Text, m.Type == protocol.TypeText); err != nil {
		return protocol.Message{}, err
	}
	m, err = s.st.EditMessage(ctx, c.ID, m.ID, r.Text, s.clock())
	if err != nil {
		return protocol.Message{}, apperr.Wrap("chat.Edit", err)
	}
	out, err := s.expand(ctx, id.AccountID, m)
	if err != nil {
		return out, err
	}
	s.publishMessage(c, protocol.EvMessageEdited, out)
	return out, nil
}

// Delete erases a message's content and keeps a tombstone. Its sender or
// an owner of the account may.
func (s *Service) Delete(ctx context.Context, id auth.Identity, r protocol.DeleteRequest) (protocol.Message, error) {
	c, m, err := s.ownMessage(ctx, id, r.ConversationID, r.MessageID)
	if err != nil {
		return protocol.Message{}, err
	}
	if m.SenderID != id.UserID && id.Role != protocol.RoleOwner {
		return protocol.Message{}, apperr.New(apperr.Forbidden, apperr.CodeNotSender, "only the sender or an owner may delete a message")
	}
	m, err = s.st.DeleteMessage(ctx, c.ID, m.ID, s.clock())
	if err != nil {
		return protocol.Message{}, apperr.Wrap("chat.Delete", err)
	}
	out := wireMessage(m, nil)
	s.publishMessage(c, protocol.EvMessageDeleted, out)
	return out, nil
}

// History pages through a conversation. Without a cursor it answers the
// newest page (what a client shows on opening), with before the newest page
// below that seq (paging back), with after the oldest page above it (paging
// forward). Messages are in seq order either way; HasMore tells whether more
// remain in the direction of paging: older ones unless after is set.
func (s *Service) History(ctx context.Context, id auth.Identity, r protocol.HistoryRequest) (protocol.HistoryReply, error) {
	c, err := s.access(ctx, id, r.ConversationID)
	if err != nil {
		return protocol.HistoryReply{}, err
	}
	if r.Limit == 0 {
		r.Limit = 50
	}
	if r.Limit < 1 || r.Limit > maxHistory {
		return protocol.HistoryReply{}, apperr.Invalidf("limit must be 1 to %d", maxHistory)
	}
	backwards := r.After == nil // no after: the newest page (before Before)
	var after int64
	if !backwards {
		after = *r.After
	}
	if r.Before < 0 || after < 0 || (r.Before > 0 && after >= r.Before) {
		return protocol.HistoryReply{}, apperr.Invalidf("before and after must be positive seqs with after < before")
	}
	var ms []store.Message
	if backwards {
		before := r.Before
		if before == 0 {
			before = math.MaxInt64
		}
		ms, err = s.st.ListMessages(ctx, c.ID, before, 0, r.Limit+1)
	} else {
		// Forward, unbounded above (the store reads the newest of a range
		// that has no after), then cut at before.
		ms, err = s.st.ListMessages(ctx, c.ID, 0, after, r.Limit+1)
		if r.Before > 0 {
			ms = slices.DeleteFunc(ms, func(m store.Message) bool { return m.Seq >= r.Before })
		}
	}
	if err != nil {
		return protocol.HistoryReply{}, apperr.Wrap("chat.History", err)
	}
	more := len(ms) > r.Limit
	if more {
		if backwards {
			ms = ms[1:] // newest-first paging: drop the oldest extra
		} else {
			ms = ms[:r.Limit]
		}
	}
	out, err := s.expandAll(ctx, id.AccountID, ms)
	if err != nil {
		return protocol.HistoryReply{}, err
	}
	return protocol.HistoryReply{Messages: out, HasMore: more}, nil
}

// SyncBatch is what one conversation missed.
type SyncBatch struct {
	Conversation store.Conversation
	Changed      []protocol.Message // edited or deleted since, at or below the cursor
	Messages     []protocol.Message // after the cursor
	Truncated    bool               // more remain after the last one
	// Reset: the cursor is not from this conversation's history (see
	// foreignCursor); nothing is replayed and LastSeq, the conversation's
	// newest committed seq, is where the client starts again.
	Reset   bool
	LastSeq int64
}

// Missed returns the messages after a cursor, oldest first, at most the
// configured sync limit, and, when since is not zero, the messages at or
// below the cursor edited or deleted after since. atID, when not empty, is
// the id the client holds for the message at the cursor's seq.
func (s *Service) Missed(ctx context.Context, id auth.Identity, convID string, after int64, atID string, since time.Time) (SyncBatch, error) {
	c, err := s.access(ctx, id, convID)
	if err != nil {
		return SyncBatch{}, err
	}
	if after < 0 {
		return SyncBatch{}, apperr.Invalidf("cursor for %q must not be negative", convID)
	}
	// The message at the cursor comes first, to check the cursor against.
	from, limit := after, s.cfg.SyncLimit+1
	if after > 0 {
		from, limit = after-1, limit+1
	}
	ms, err := s.st.ListMessages(ctx, c.ID, 0, from, limit)
	if err != nil {
		return SyncBatch{}, apperr.Wrap("chat.Missed", err)
	}
	if after > 0 {
		if foreignCursor(ms, after, atID) {
			last, err := s.lastSeq(ctx, c.ID)
			return SyncBatch{Conversation: c, Reset: true, LastSeq: last}, err
		}
		ms = ms[1:]
	}
	b := SyncBatch{Conversation: c}
	if len(ms) > s.cfg.SyncLimit {
		ms, b.Truncated = ms[:s.cfg.SyncLimit], true
	}
	if b.Messages, err = s.expandAll(ctx, id.AccountID, ms); err != nil {
		return b, err
	}
	if since.IsZero() || after == 0 {
		return b, nil
	}
	changed, err := s.st.ListChangedMessages(ctx, c.ID, since, after, s.cfg.SyncLimit)
	if err != nil {
		return b, apperr.Wrap("chat.Missed", err)
	}
	b.Changed, err = s.expandAll(ctx, id.AccountID, changed)
	return b, err
}

// MarkRead moves the caller's read position forward (never back) and
// announces it with chat:read.
func (s *Service) MarkRead(ctx context.Context, id auth.Identity, r protocol.ReadRequest) (protocol.ReadState, error) {
	c, err := s.writable(ctx, id, r.ConversationID)
	if err != nil {
		return protocol.ReadState{}, err
	}
	if r.Seq < 0 {
		return protocol.ReadState{}, apperr.Invalidf("seq must not be negative")
	}
	fresh, err := s.st.GetConversation(ctx, id.AccountID, c.ID)
	if err != nil {
		return protocol.ReadState{}, apperr.Wrap("chat.MarkRead", err)
	}
	seq := min(r.Seq, fresh.LastSeq)
	stored, err := s.st.SetReadSeq(ctx, c.ID, id.UserID, seq)
	if err != nil {
		return protocol.ReadState{}, apperr.Wrap("chat.MarkRead", err)
	}
	unread, err := s.st.UnreadCount(ctx, c.ID, id.UserID, stored)
	if err != nil {
		return protocol.ReadState{}, apperr.Wrap("chat.MarkRead", err)
	}
	if stored == seq { // moved (or stayed): tell the others
		ev := busEvent(protocol.EvRead, c.ID, protocol.ReadEvent{ConversationID: c.ID, UserID: id.UserID, Seq: stored})
		ev.Seq = stored // never ahead of the messages it marks read (package ws)
		s.publishConv(c, ev)
	}
	return protocol.ReadState{ConversationID: c.ID, UserID: id.UserID, Seq: stored, Unread: unread}, nil
}

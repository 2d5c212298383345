package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parley-chat/parley/internal/store"
)

func (s *Store) CreateConversation(ctx context.Context, c store.Conversation, memberIDs []string) (store.Conversation, error) {
	c.CreatedAt = nowIfZero(c.CreatedAt)
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	c.UpdatedAt = c.UpdatedAt.UTC()
	c.LastSeq = 0
	var existing store.Conversation
	err := s.exec(ctx, func(ctx context.Context, w *wtx) error {
		if c.Key != "" {
			ex, err := scanConv(w.c.QueryRowContext(ctx, `SELECT `+convCols+` FROM conversations WHERE account_id = ? AND key = ?`, c.AccountID, c.Key))
			if err == nil {
				existing = ex
				return fmt.Errorf("create conversation: key %q: %w", c.Key, store.ErrConflict)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return mapErr("create conversation", err)
			}
		}
		if _, err := w.c.ExecContext(ctx, `INSERT INTO conversations (`+convCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)`,
			c.ID, c.AccountID, c.Kind, c.Name, c.Key, c.CreatedBy, nanos(c.CreatedAt), nanos(c.UpdatedAt)); err != nil {
			return mapErr("create conversation", err)
		}
		for _, uid := range memberIDs {
			if _, err := w.c.ExecContext(ctx, `INSERT INTO members (conversation_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING`,
				c.ID, uid); err != nil {
				return mapErr("create conversation: member "+uid, err)
			}
		}
		return nil
	})
	switch {
	case err == nil:
		return c, nil
	case existing.ID != "" && errors.Is(err, store.ErrConflict):
		return existing, err
	default:
		return store.Conversation{}, err
	}
}

func (s *Store) GetConversation(ctx context.Context, accountID, id string) (store.Conversation, error) {
	c, err := scanConv(s.rs.getConv.QueryRowContext(ctx, accountID, id))
	return c, mapErr("get conversation", err)
}

func (s *Store) GetConversationByKey(ctx context.Context, accountID, key string) (store.Conversation, error) {
	if key == "" {
		return store.Conversation{}, fmt.Errorf("get conversation by key: empty key: %w", store.ErrNotFound)
	}
	c, err := scanConv(s.rdb.QueryRowContext(ctx, `SELECT `+convCols+` FROM conversations WHERE account_id = ? AND key = ?`, accountID, key))
	return c, mapErr("get conversation by key", err)
}

func (s *Store) AddMember(ctx context.Context, conversationID, userID string) error {
	return s.exec(ctx, func(ctx context.Context, w *wtx) error {
		_, err := w.c.ExecContext(ctx, `INSERT INTO members (conversation_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING`,
			conversationID, userID)
		return mapErr("add member", err)
	})
}

func (s *Store) RemoveMember(ctx context.Context, conversationID, userID string) error {
	return s.updateOne(ctx, "remove member", `DELETE FROM members WHERE conversation_id = ? AND user_id = ?`, conversationID, userID)
}

func (s *Store) IsMember(ctx context.Context, conversationID, userID string) (bool, error) {
	var n int
	if err := s.rs.isMember.QueryRowContext(ctx, conversationID, userID).Scan(&n); err != nil {
		return false, mapErr("is member", err)
	}
	return n > 0, nil
}

func scanString(sc scanner) (string, error) {
	var v string
	err := sc.Scan(&v)
	return v, err
}

func (s *Store) ListMembers(ctx context.Context, conversationID string) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT user_id FROM members WHERE conversation_id = ? ORDER BY user_id`, conversationID)
	if err != nil {
		return nil, mapErr("list members", err)
	}
	return collect(rows, scanString, "list members")
}

func (s *Store) ListConversationIDs(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT conversation_id FROM members WHERE user_id = ? ORDER BY conversation_id`, userID)
	if err != nil {
		return nil, mapErr("list conversation ids", err)
	}
	return collect(rows, scanString, "list conversation ids")
}

func (s *Store) ListConversations(ctx context.Context, accountID, userID string, withInboxes bool, before time.Time, limit int) ([]store.ConversationSummary, error) {
	var bound int64
	if !before.IsZero() {
		bound = nanos(before)
	}
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.rs.listConvs.QueryContext(ctx, userID, accountID, withInboxes, bound, limit)
	if err != nil {
		return nil, mapErr("list conversations", err)
	}
	return collect(rows, scanSummary, "list conversations")
}

func scanSummary(sc scanner) (store.ConversationSummary, error) {
	var cs store.ConversationSummary
	c := &cs.Conversation
	var created, updated int64
	var (
		id, sender, clientID, typ, text, replyTo, attachment sql.NullString
		seq, duration, mCreated, edited, deleted             sql.NullInt64
	)
	err := sc.Scan(&c.ID, &c.AccountID, &c.Kind, &c.Name, &c.Key, &c.CreatedBy, &created, &c.LastSeq, &updated,
		&cs.MemberCount, &cs.ReadSeq, &cs.Unread,
		&id, &seq, &sender, &clientID, &typ, &text, &replyTo, &attachment, &duration, &mCreated, &edited, &deleted)
	if err != nil {
		return store.ConversationSummary{}, err
	}
	c.CreatedAt = fromNanos(created)
	c.UpdatedAt = fromNanos(updated)
	if id.Valid {
		cs.LastMessage = &store.Message{
			ID: id.String, ConversationID: c.ID, Seq: seq.Int64, SenderID: sender.String, ClientID: clientID.String,
			Type: typ.String, Text: text.String, ReplyTo: replyTo.String, AttachmentID: attachment.String,
			DurationMS: duration.Int64, CreatedAt: fromNanos(mCreated.Int64),
			EditedAt: fromNull(edited), DeletedAt: fromNull(deleted),
		}
	}
	return cs, nil
}

func (s *Store) SetReadSeq(ctx context.Context, conversationID, userID string, seq int64) (int64, error) {
	var stored int64
	err := s.exec(ctx, func(ctx context.Context, w *wtx) error {
		return mapErr("set read seq", w.st.setRead.QueryRowContext(ctx, conversationID, userID, seq).Scan(&stored))
	})
	return stored, err
}

func (s *Store) GetReadSeq(ctx context.Context, conversationID, userID string) (int64, error) {
	var seq int64
	err := s.rs.getReadSeq.QueryRowContext(ctx, conversationID, userID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return seq, mapErr("get read seq", err)
}

func (s *Store) ListReadSeqs(ctx context.Context, conversationID string) (map[string]int64, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT user_id, read_seq FROM reads WHERE conversation_id = ?`, conversationID)
	if err != nil {
		return nil, mapErr("list read seqs", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var u string
		var seq int64
		if err := rows.Scan(&u, &seq); err != nil {
			return nil, mapErr("list read seqs", err)
		}
		out[u] = seq
	}
	return out, mapErr("list read seqs", rows.Err())
}

func (s *Store) ListMembersAndReads(ctx context.Context, conversationIDs []string) (map[string][]string, map[string]map[string]int64, error) {
	members := make(map[string][]string, len(conversationIDs))
	reads := make(map[string]map[string]int64, len(conversationIDs))
	const batch = 500 // well under SQLite's limit of bound variables
	for len(conversationIDs) > 0 {
		ids := conversationIDs[:min(batch, len(conversationIDs))]
		conversationIDs = conversationIDs[len(ids):]
		in := strings.Repeat(",?", len(ids))[1:]
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		rows, err := s.rdb.QueryContext(ctx, `SELECT conversation_id, user_id FROM members WHERE conversation_id IN (`+in+`) ORDER BY conversation_id, user_id`, args...)
		if err != nil {
			return nil, nil, mapErr("list members", err)
		}
		for rows.Next() {
			var conv, user string
			if err := rows.Scan(&conv, &user); err != nil {
				rows.Close()
				return nil, nil, mapErr("list members", err)
			}
			members[conv] = append(members[conv], user)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, mapErr("list members", err)
		}
		rows, err = s.rdb.QueryContext(ctx, `SELECT conversation_id, user_id, read_seq FROM reads WHERE conversation_id IN (`+in+`)`, args...)
		if err != nil {
			return nil, nil, mapErr("list read seqs", err)
		}
		for rows.Next() {
			var conv, user string
			var seq int64
			if err := rows.Scan(&conv, &user, &seq); err != nil {
				rows.Close()
				return nil, nil, mapErr("list read seqs", err)
			}
			if reads[conv] == nil {
				reads[conv] = map[string]int64{}
			}
			reads[conv][user] = seq
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, mapErr("list read seqs", err)
		}
	}
	return members, reads, nil
}

func (s *Store) UnreadCount(ctx context.Context, conversationID, userID string, after int64) (int64, error) {
	var n int64
	err := s.rs.unread.QueryRowContext(ctx, conversationID, after, userID).Scan(&n)
	return n, mapErr("unread count", err)
}

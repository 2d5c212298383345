package sqlite

import (
	"context"
	"time"

	"github.com/parley-chat/parley/internal/store"
)

func (s *Store) GetMessage(ctx context.Context, conversationID, id string) (store.Message, error) {
	m, err := scanMessage(s.rs.getMsg.QueryRowContext(ctx, conversationID, id))
	return m, mapErr("get message", err)
}

func (s *Store) ListMessages(ctx context.Context, conversationID string, before, after int64, limit int) ([]store.Message, error) {
	if limit <= 0 {
		limit = -1 // no limit
	}
	if before > 0 && after <= 0 {
		// The newest of the range, read backwards and then reversed.
		rows, err := s.rs.listDesc.QueryContext(ctx, conversationID, before, limit)
		if err != nil {
			return nil, mapErr("list messages", err)
		}
		ms, err := collect(rows, scanMessage, "list messages")
		for i, j := 0, len(ms)-1; i < j; i, j = i+1, j-1 {
			ms[i], ms[j] = ms[j], ms[i]
		}
		return ms, err
	}
	rows, err := s.rs.listAsc.QueryContext(ctx, conversationID, max(after, 0), max(before, 0), limit)
	if err != nil {
		return nil, mapErr("list messages", err)
	}
	return collect(rows, scanMessage, "list messages")
}

// EditMessage sets Text and EditedAt. A deleted message (tombstone) cannot be
// edited: ErrNotFound.
func (s *Store) EditMessage(ctx context.Context, conversationID, id, text string, at time.Time) (store.Message, error) {
	var m store.Message
	err := s.exec(ctx, func(ctx context.Context, w *wtx) error {
		var err error
		m, err = scanMessage(w.c.QueryRowContext(ctx, `UPDATE messages SET text = ?1, edited_at = ?2, changed_at = ?2
			WHERE conversation_id = ?3 AND id = ?4 AND deleted_at IS NULL RETURNING `+msgCols,
			text, nanos(nowIfZero(at)), conversationID, id))
		return mapErr("edit message", err)
	})
	if err != nil {
		return store.Message{}, err
	}
	return m, nil
}

// DeleteMessage turns the message into a tombstone. Deleting it again keeps
// the first DeletedAt.
func (s *Store) DeleteMessage(ctx context.Context, conversationID, id string, at time.Time) (store.Message, error) {
	var m store.Message
	err := s.exec(ctx, func(ctx context.Context, w *wtx) error {
		var err error
		m, err = scanMessage(w.c.QueryRowContext(ctx, `UPDATE messages SET text = '', attachment_id = '', duration_ms = 0,
			changed_at = CASE WHEN deleted_at IS NULL THEN ?1 ELSE changed_at END,
			deleted_at = coalesce(deleted_at, ?1) WHERE conversation_id = ?2 AND id = ?3 RETURNING `+msgCols,
			nanos(nowIfZero(at)), conversationID, id))
		return mapErr("delete message", err)
	})
	if err != nil {
		return store.Message{}, err
	}
	return m, nil
}

// ListChangedMessages returns messages with seq ≤ maxSeq edited or deleted
// after since, in seq order, at most limit.
func (s *Store) ListChangedMessages(ctx context.Context, conversationID string, since time.Time, maxSeq int64, limit int) ([]store.Message, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+msgCols+` FROM messages INDEXED BY messages_changed
		WHERE conversation_id = ? AND changed_at IS NOT NULL AND changed_at > ? AND seq <= ?
		ORDER BY seq LIMIT ?`, conversationID, nanos(since), maxSeq, limit)
	if err != nil {
		return nil, mapErr("list changed messages", err)
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, mapErr("list changed messages", err)
		}
		out = append(out, m)
	}
	return out, mapErr("list changed messages", rows.Err())
}

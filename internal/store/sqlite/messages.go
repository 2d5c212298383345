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
		m, err = scanMessage(w.c.QueryRowContext(ctx, `UPDATE messages SET text = ?, edited_at = ?
			WHERE conversation_id = ? AND id = ? AND deleted_at IS NULL RETURNING `+msgCols,
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
			deleted_at = coalesce(deleted_at, ?) WHERE conversation_id = ? AND id = ? RETURNING `+msgCols,
			nanos(nowIfZero(at)), conversationID, id))
		return mapErr("delete message", err)
	})
	if err != nil {
		return store.Message{}, err
	}
	return m, nil
}

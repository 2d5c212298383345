package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/parley-chat/parley/internal/store"
)

const msgCols = `id, conversation_id, seq, sender_id, client_id, type, text, reply_to, attachment_id, duration_ms, created_at, edited_at, deleted_at`

func scanMessage(sc scanner) (store.Message, error) {
	var m store.Message
	var created int64
	var edited, deleted *int64
	err := sc.Scan(&m.ID, &m.ConversationID, &m.Seq, &m.SenderID, &m.ClientID, &m.Type, &m.Text,
		&m.ReplyTo, &m.AttachmentID, &m.DurationMS, &created, &edited, &deleted)
	if err != nil {
		return store.Message{}, err
	}
	m.CreatedAt = fromNanos(created)
	m.EditedAt = fromNull(edited)
	m.DeletedAt = fromNull(deleted)
	return m, nil
}

// limitArg is a LIMIT parameter: NULL (no limit) for limit <= 0.
func limitArg(limit int) *int64 {
	if limit <= 0 {
		return nil
	}
	n := int64(limit)
	return &n
}

func (s *Store) GetMessage(ctx context.Context, conversationID, id string) (store.Message, error) {
	m, err := scanMessage(s.pool.QueryRow(ctx, `SELECT `+msgCols+` FROM messages WHERE conversation_id = $1 AND id = $2`,
		conversationID, id))
	return m, mapErr("get message", err)
}

func (s *Store) ListMessages(ctx context.Context, conversationID string, before, after int64, limit int) ([]store.Message, error) {
	if before > 0 && after <= 0 {
		// The newest of the range, read backwards and then reversed.
		rows, err := s.pool.Query(ctx, `SELECT `+msgCols+` FROM messages WHERE conversation_id = $1 AND seq < $2
			ORDER BY seq DESC LIMIT $3`, conversationID, before, limitArg(limit))
		ms, err := collect(rows, err, scanMessage, "list messages")
		slices.Reverse(ms)
		return ms, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+msgCols+` FROM messages WHERE conversation_id = $1 AND seq > $2
		AND ($3::bigint = 0 OR seq < $3) ORDER BY seq LIMIT $4`, conversationID, max(after, 0), max(before, 0), limitArg(limit))
	return collect(rows, err, scanMessage, "list messages")
}

// EditMessage sets Text and EditedAt. A deleted message (tombstone) cannot be
// edited: ErrNotFound.
func (s *Store) EditMessage(ctx context.Context, conversationID, id, text string, at time.Time) (store.Message, error) {
	m, err := scanMessage(s.pool.QueryRow(ctx, `UPDATE messages SET text = $1, edited_at = $2, changed_at = $2
		WHERE conversation_id = $3 AND id = $4 AND deleted_at IS NULL RETURNING `+msgCols,
		text, nanos(nowIfZero(at)), conversationID, id))
	if err != nil {
		return store.Message{}, mapErr("edit message", err)
	}
	return m, nil
}

// DeleteMessage turns the message into a tombstone. Deleting it again keeps
// the first DeletedAt.
func (s *Store) DeleteMessage(ctx context.Context, conversationID, id string, at time.Time) (store.Message, error) {
	m, err := scanMessage(s.pool.QueryRow(ctx, `UPDATE messages SET text = '', attachment_id = '', duration_ms = 0,
		changed_at = CASE WHEN deleted_at IS NULL THEN $1 ELSE changed_at END,
		deleted_at = coalesce(deleted_at, $1) WHERE conversation_id = $2 AND id = $3 RETURNING `+msgCols,
		nanos(nowIfZero(at)), conversationID, id))
	if err != nil {
		return store.Message{}, mapErr("delete message", err)
	}
	return m, nil
}

// ListChangedMessages returns messages with seq ≤ maxSeq edited or deleted
// after since, in seq order, at most limit.
func (s *Store) ListChangedMessages(ctx context.Context, conversationID string, since time.Time, maxSeq int64, limit int) ([]store.Message, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+msgCols+` FROM messages
		WHERE conversation_id = $1 AND changed_at IS NOT NULL AND changed_at > $2 AND seq <= $3
		ORDER BY seq LIMIT $4`, conversationID, nanos(since), maxSeq, limitArg(limit))
	return collect(rows, err, scanMessage, "list changed messages")
}

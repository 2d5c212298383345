package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/internal/store"
)

const convCols = `id, account_id, kind, name, key, created_by, created_at, last_seq, updated_at`

func scanConv(sc scanner) (store.Conversation, error) {
	var c store.Conversation
	var created, updated int64
	err := sc.Scan(&c.ID, &c.AccountID, &c.Kind, &c.Name, &c.Key, &c.CreatedBy, &created, &c.LastSeq, &updated)
	if err != nil {
		return store.Conversation{}, err
	}
	c.CreatedAt = fromNanos(created)
	c.UpdatedAt = fromNanos(updated)
	return c, nil
}

// CreateConversation inserts c and its members. Two nodes creating the same
// keyed conversation at once: the second INSERT waits for the first to
// commit, does nothing, and returns the first one with ErrConflict.
func (s *Store) CreateConversation(ctx context.Context, c store.Conversation, memberIDs []string) (store.Conversation, error) {
	c.CreatedAt = nowIfZero(c.CreatedAt)
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	c.UpdatedAt = c.UpdatedAt.UTC()
	c.LastSeq = 0
	var existing store.Conversation
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO conversations (`+convCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8)
			ON CONFLICT (account_id, key) WHERE key <> '' DO NOTHING`,
			c.ID, c.AccountID, c.Kind, c.Name, c.Key, c.CreatedBy, nanos(c.CreatedAt), nanos(c.UpdatedAt))
		if err != nil {
			return mapErr("create conversation", err)
		}
		if tag.RowsAffected() == 0 {
			ex, err := scanConv(tx.QueryRow(ctx, `SELECT `+convCols+` FROM conversations WHERE account_id = $1 AND key = $2`,
				c.AccountID, c.Key))
			if err != nil {
				return mapErr("create conversation", err)
			}
			existing = ex
			return fmt.Errorf("create conversation: key %q: %w", c.Key, store.ErrConflict)
		}
		for _, uid := range memberIDs {
			if _, err := tx.Exec(ctx, `INSERT INTO members (conversation_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
				c.ID, uid); err != nil {
				return mapErr("create conversation: member "+uid, err)
			}
		}
		return nil
	})
	switch {
	case err == nil:
		return c, nil
	case existing.ID != "":
		return existing, err
	default:
		return store.Conversation{}, mapErr("create conversation", err)
	}
}

func (s *Store) GetConversation(ctx context.Context, accountID, id string) (store.Conversation, error) {
	c, err := scanConv(s.pool.QueryRow(ctx, `SELECT `+convCols+` FROM conversations WHERE account_id = $1 AND id = $2`, accountID, id))
	return c, mapErr("get conversation", err)
}

func (s *Store) GetConversationByKey(ctx context.Context, accountID, key string) (store.Conversation, error) {
	if key == "" {
		return store.Conversation{}, fmt.Errorf("get conversation by key: empty key: %w", store.ErrNotFound)
	}
	c, err := scanConv(s.pool.QueryRow(ctx, `SELECT `+convCols+` FROM conversations WHERE account_id = $1 AND key = $2`, accountID, key))
	return c, mapErr("get conversation by key", err)
}

func (s *Store) AddMember(ctx context.Context, conversationID, userID string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO members (conversation_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		conversationID, userID)
	return mapErr("add member", err)
}

func (s *Store) RemoveMember(ctx context.Context, conversationID, userID string) error {
	return s.execOne(ctx, "remove member", `DELETE FROM members WHERE conversation_id = $1 AND user_id = $2`, conversationID, userID)
}

func (s *Store) IsMember(ctx context.Context, conversationID, userID string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM members WHERE conversation_id = $1 AND user_id = $2)`,
		conversationID, userID).Scan(&ok)
	return ok, mapErr("is member", err)
}

func scanString(sc scanner) (string, error) {
	var v string
	err := sc.Scan(&v)
	return v, err
}

func (s *Store) ListMembers(ctx context.Context, conversationID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT user_id FROM members WHERE conversation_id = $1 ORDER BY user_id`, conversationID)
	return collect(rows, err, scanString, "list members")
}

func (s *Store) ListConversationIDs(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT conversation_id FROM members WHERE user_id = $1 ORDER BY conversation_id`, userID)
	return collect(rows, err, scanString, "list conversation ids")
}

// listConvsSQL lists $1's conversations in account $2, plus every inbox of
// the account when $3, with UpdatedAt before $4 (0 = any), at most $5 (NULL
// = all). The per-row subqueries run only for the page, after the LIMIT.
const listConvsSQL = `
WITH ids(id) AS (
	SELECT conversation_id FROM members WHERE user_id = $1
	UNION
	SELECT id FROM conversations WHERE $3::boolean AND account_id = $2 AND kind = 'inbox'
),
page AS (
	SELECT c.id, c.account_id, c.kind, c.name, c.key, c.created_by, c.created_at, c.last_seq, c.updated_at
	FROM ids JOIN conversations c ON c.id = ids.id
	WHERE c.account_id = $2 AND ($4::bigint = 0 OR c.updated_at < $4)
	ORDER BY c.updated_at DESC, c.id DESC
	LIMIT $5
)
SELECT p.id, p.account_id, p.kind, p.name, p.key, p.created_by, p.created_at, p.last_seq, p.updated_at,
	(SELECT count(*) FROM members m WHERE m.conversation_id = p.id),
	coalesce((SELECT r.read_seq FROM reads r WHERE r.conversation_id = p.id AND r.user_id = $1), 0),
	(SELECT count(*) FROM messages u WHERE u.conversation_id = p.id
		AND u.seq > coalesce((SELECT r.read_seq FROM reads r WHERE r.conversation_id = p.id AND r.user_id = $1), 0)
		AND u.sender_id <> $1 AND u.deleted_at IS NULL),
	l.id, l.seq, l.sender_id, l.client_id, l.type, l.text, l.reply_to, l.attachment_id, l.duration_ms,
	l.created_at, l.edited_at, l.deleted_at
FROM page p LEFT JOIN messages l ON l.conversation_id = p.id AND l.seq = p.last_seq AND p.last_seq > 0
ORDER BY p.updated_at DESC, p.id DESC`

func (s *Store) ListConversations(ctx context.Context, accountID, userID string, withInboxes bool, before time.Time, limit int) ([]store.ConversationSummary, error) {
	var bound int64
	if !before.IsZero() {
		bound = nanos(before)
	}
	rows, err := s.pool.Query(ctx, listConvsSQL, userID, accountID, withInboxes, bound, limitArg(limit))
	return collect(rows, err, scanSummary, "list conversations")
}

func scanSummary(sc scanner) (store.ConversationSummary, error) {
	var cs store.ConversationSummary
	c := &cs.Conversation
	var created, updated int64
	var (
		id, sender, clientID, typ, text, replyTo, attachment *string
		seq, duration, mCreated, edited, deleted             *int64
	)
	err := sc.Scan(&c.ID, &c.AccountID, &c.Kind, &c.Name, &c.Key, &c.CreatedBy, &created, &c.LastSeq, &updated,
		&cs.MemberCount, &cs.ReadSeq, &cs.Unread,
		&id, &seq, &sender, &clientID, &typ, &text, &replyTo, &attachment, &duration, &mCreated, &edited, &deleted)
	if err != nil {
		return store.ConversationSummary{}, err
	}
	c.CreatedAt = fromNanos(created)
	c.UpdatedAt = fromNanos(updated)
	if id != nil {
		cs.LastMessage = &store.Message{
			ID: *id, ConversationID: c.ID, Seq: *seq, SenderID: *sender, ClientID: *clientID,
			Type: *typ, Text: *text, ReplyTo: *replyTo, AttachmentID: *attachment,
			DurationMS: *duration, CreatedAt: fromNanos(*mCreated),
			EditedAt: fromNull(edited), DeletedAt: fromNull(deleted),
		}
	}
	return cs, nil
}

func (s *Store) SetReadSeq(ctx context.Context, conversationID, userID string, seq int64) (int64, error) {
	var stored int64
	err := s.pool.QueryRow(ctx, `INSERT INTO reads (conversation_id, user_id, read_seq) VALUES ($1, $2, $3)
		ON CONFLICT (conversation_id, user_id) DO UPDATE SET read_seq = GREATEST(reads.read_seq, excluded.read_seq)
		RETURNING read_seq`, conversationID, userID, seq).Scan(&stored)
	return stored, mapErr("set read seq", err)
}

func (s *Store) GetReadSeq(ctx context.Context, conversationID, userID string) (int64, error) {
	var seq int64
	err := s.pool.QueryRow(ctx, `SELECT read_seq FROM reads WHERE conversation_id = $1 AND user_id = $2`,
		conversationID, userID).Scan(&seq)
	if isNoRows(err) {
		return 0, nil
	}
	return seq, mapErr("get read seq", err)
}

func (s *Store) ListReadSeqs(ctx context.Context, conversationID string) (map[string]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT user_id, read_seq FROM reads WHERE conversation_id = $1`, conversationID)
	if err != nil {
		return nil, mapErr("list read seqs", err)
	}
	out := map[string]int64{}
	var u string
	var seq int64
	_, err = pgx.ForEachRow(rows, []any{&u, &seq}, func() error {
		out[u] = seq
		return nil
	})
	if err != nil {
		return nil, mapErr("list read seqs", err)
	}
	return out, nil
}

func (s *Store) ListMembersAndReads(ctx context.Context, conversationIDs []string) (map[string][]string, map[string]map[string]int64, error) {
	members := make(map[string][]string, len(conversationIDs))
	reads := make(map[string]map[string]int64, len(conversationIDs))
	if len(conversationIDs) == 0 {
		return members, reads, nil
	}
	var conv, user string
	rows, err := s.pool.Query(ctx, `SELECT conversation_id, user_id FROM members WHERE conversation_id = ANY($1::text[])
		ORDER BY conversation_id, user_id`, conversationIDs)
	if err == nil {
		_, err = pgx.ForEachRow(rows, []any{&conv, &user}, func() error {
			members[conv] = append(members[conv], user)
			return nil
		})
	}
	if err != nil {
		return nil, nil, mapErr("list members", err)
	}
	var seq int64
	rows, err = s.pool.Query(ctx, `SELECT conversation_id, user_id, read_seq FROM reads WHERE conversation_id = ANY($1::text[])`,
		conversationIDs)
	if err == nil {
		_, err = pgx.ForEachRow(rows, []any{&conv, &user, &seq}, func() error {
			if reads[conv] == nil {
				reads[conv] = map[string]int64{}
			}
			reads[conv][user] = seq
			return nil
		})
	}
	if err != nil {
		return nil, nil, mapErr("list read seqs", err)
	}
	return members, reads, nil
}

func (s *Store) UnreadCount(ctx context.Context, conversationID, userID string, after int64) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND seq > $2 AND sender_id <> $3
		AND deleted_at IS NULL`, conversationID, after, userID).Scan(&n)
	return n, mapErr("unread count", err)
}

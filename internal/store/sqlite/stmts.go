package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/parley-chat/parley/internal/store"
)

const msgCols = `id, conversation_id, seq, sender_id, client_id, type, text, reply_to, attachment_id, duration_ms, created_at, edited_at, deleted_at`

const convCols = `id, account_id, kind, name, key, created_by, created_at, last_seq, updated_at`

// writeStmts are prepared once on the write connection.
type writeStmts struct {
	begin, commit                   *sql.Stmt
	savepoint, release, rollbackTo  *sql.Stmt
	selByClient, selLastSeq, insMsg *sql.Stmt
	updConv, setRead                *sql.Stmt
	all                             []*sql.Stmt
	insN                            map[int]*sql.Stmt // multi-row INSERTs by row count
}

// insertN returns the statement that inserts n messages (created on first use).
func (ws *writeStmts) insertN(ctx context.Context, c *sql.Conn, n int) (*sql.Stmt, error) {
	if st := ws.insN[n]; st != nil {
		return st, nil
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO messages (conversation_id, seq, id, sender_id, client_id, type, text, reply_to, attachment_id, duration_ms, created_at) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`(?,?,?,?,?,?,?,?,?,?,?)`)
	}
	st, err := c.PrepareContext(ctx, b.String())
	if err != nil {
		return nil, fmt.Errorf("sqlite: prepare insert of %d messages: %w", n, err)
	}
	if ws.insN == nil {
		ws.insN = make(map[int]*sql.Stmt)
	}
	ws.insN[n] = st
	ws.all = append(ws.all, st)
	return st, nil
}

func (ws *writeStmts) prepare(ctx context.Context, c *sql.Conn) error {
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&ws.begin, `BEGIN IMMEDIATE`},
		{&ws.commit, `COMMIT`},
		{&ws.savepoint, `SAVEPOINT op`},
		{&ws.release, `RELEASE op`},
		{&ws.rollbackTo, `ROLLBACK TO op`},
		{&ws.selByClient, `SELECT ` + msgCols + ` FROM messages WHERE conversation_id = ? AND sender_id = ? AND client_id = ? AND client_id <> ''`},
		{&ws.selLastSeq, `SELECT last_seq FROM conversations WHERE id = ?`},
		{&ws.insMsg, `INSERT INTO messages (id, conversation_id, seq, sender_id, client_id, type, text, reply_to, attachment_id, duration_ms, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (conversation_id, sender_id, client_id) WHERE client_id <> '' DO NOTHING`},
		{&ws.updConv, `UPDATE conversations SET last_seq = ?, updated_at = max(updated_at, ?) WHERE id = ?`},
		{&ws.setRead, `INSERT INTO reads (conversation_id, user_id, read_seq) VALUES (?, ?, ?)
			ON CONFLICT (conversation_id, user_id) DO UPDATE SET read_seq = max(read_seq, excluded.read_seq)
			RETURNING read_seq`},
	} {
		st, err := c.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("sqlite: prepare %q: %w", p.sql, err)
		}
		*p.dst = st
		ws.all = append(ws.all, st)
	}
	return nil
}

func (ws *writeStmts) close() {
	for _, st := range ws.all {
		st.Close()
	}
	ws.all = nil
	ws.insN = nil
}

// readStmts are prepared on the read pool (database/sql prepares them on
// each connection as it is used).
type readStmts struct {
	getMsg, listAsc, listDesc, unread *sql.Stmt
	getConv, getReadSeq, isMember     *sql.Stmt
	listConvs                         *sql.Stmt
	all                               []*sql.Stmt
}

// listConvsSQL lists ?1's conversations in account ?2, plus every inbox of
// the account when ?3, with UpdatedAt before ?4 (0 = any), at most ?5.
const listConvsSQL = `
WITH ids(id) AS (
	SELECT conversation_id FROM members WHERE user_id = ?1
	UNION
	SELECT id FROM conversations WHERE ?3 AND account_id = ?2 AND kind = 'inbox'
),
page AS (
	-- CROSS JOIN: drive from ids, not from every conversation of the account.
	SELECT c.id, c.account_id, c.kind, c.name, c.key, c.created_by, c.created_at, c.last_seq, c.updated_at
	FROM ids CROSS JOIN conversations c ON c.id = ids.id
	WHERE c.account_id = ?2 AND (?4 = 0 OR c.updated_at < ?4)
	ORDER BY c.updated_at DESC, c.id DESC
	LIMIT ?5
)
-- Per-row subqueries run only for the page, after the LIMIT.
SELECT p.id, p.account_id, p.kind, p.name, p.key, p.created_by, p.created_at, p.last_seq, p.updated_at,
	(SELECT count(*) FROM members m WHERE m.conversation_id = p.id),
	coalesce((SELECT r.read_seq FROM reads r WHERE r.conversation_id = p.id AND r.user_id = ?1), 0),
	(SELECT count(*) FROM messages u WHERE u.conversation_id = p.id
		AND u.seq > coalesce((SELECT r.read_seq FROM reads r WHERE r.conversation_id = p.id AND r.user_id = ?1), 0)
		AND u.sender_id <> ?1 AND u.deleted_at IS NULL),
	l.id, l.seq, l.sender_id, l.client_id, l.type, l.text, l.reply_to, l.attachment_id, l.duration_ms,
	l.created_at, l.edited_at, l.deleted_at
FROM page p LEFT JOIN messages l ON l.conversation_id = p.id AND l.seq = p.last_seq AND p.last_seq > 0
ORDER BY p.updated_at DESC, p.id DESC`

func (rs *readStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&rs.getMsg, `SELECT ` + msgCols + ` FROM messages WHERE conversation_id = ? AND id = ?`},
		{&rs.listAsc, `SELECT ` + msgCols + ` FROM messages WHERE conversation_id = ?1 AND seq > ?2 AND (?3 = 0 OR seq < ?3)
			ORDER BY seq ASC LIMIT ?4`},
		{&rs.listDesc, `SELECT ` + msgCols + ` FROM messages WHERE conversation_id = ?1 AND seq < ?2
			ORDER BY seq DESC LIMIT ?3`},
		{&rs.unread, `SELECT count(*) FROM messages WHERE conversation_id = ? AND seq > ? AND sender_id <> ? AND deleted_at IS NULL`},
		{&rs.getConv, `SELECT ` + convCols + ` FROM conversations WHERE account_id = ? AND id = ?`},
		{&rs.getReadSeq, `SELECT read_seq FROM reads WHERE conversation_id = ? AND user_id = ?`},
		{&rs.isMember, `SELECT count(*) FROM members WHERE conversation_id = ? AND user_id = ?`},
		{&rs.listConvs, listConvsSQL},
	} {
		st, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("sqlite: prepare %q: %w", p.sql, err)
		}
		*p.dst = st
		rs.all = append(rs.all, st)
	}
	return nil
}

func (rs *readStmts) close() {
	for _, st := range rs.all {
		st.Close()
	}
	rs.all = nil
}

type scanner interface{ Scan(dest ...any) error }

func nanos(t time.Time) int64 { return t.UnixNano() }

// nowIfZero returns t in UTC, or the current time when t is zero.
func nowIfZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().UTC()
	}
	return t.UTC()
}

func nullNanos(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func fromNull(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

func scanMessage(sc scanner) (store.Message, error) {
	var m store.Message
	var created int64
	var edited, deleted sql.NullInt64
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

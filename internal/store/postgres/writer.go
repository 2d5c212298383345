package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/internal/store"
)

// request is one AppendMessage waiting for the writer goroutine.
type request struct {
	state atomic.Int32 // reqQueued → reqTaken (writer) or reqAbandoned (caller)

	in        store.Message // as the caller gave it
	committed func(store.Message)

	// Outcome, set by the writer before done is closed.
	msg     store.Message
	created bool
	err     error
	done    chan struct{}
}

const (
	reqQueued int32 = iota
	reqTaken
	reqAbandoned
)

// batchTimeout bounds one append transaction, waits for row locks included.
const batchTimeout = 30 * time.Second

// AppendMessage implements store.MessageStore with group commit.
func (s *Store) AppendMessage(ctx context.Context, m store.Message, committed func(store.Message)) (store.Message, bool, error) {
	r := &request{in: m, committed: committed}
	if err := s.submit(ctx, r); err != nil {
		return store.Message{}, false, err
	}
	return r.msg, r.created, nil
}

// submit queues r for the writer and waits for its outcome. The caller's ctx
// is honoured while r waits to be picked up; once the writer has taken it,
// its outcome stands and submit waits for it.
func (s *Store) submit(ctx context.Context, r *request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.done = make(chan struct{})
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.reqs <- r:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return ctx.Err()
		}
		<-r.done
		return r.err
	}
}

// writer is the goroutine that commits appends: each transaction carries
// everything queued when the previous one finished (up to MaxBatch), so the
// more senders wait, the more one commit acknowledges.
func (s *Store) writer() {
	defer close(s.done)
	batch := make([]*request, 0, s.opt.MaxBatch)
	for {
		r, ok := <-s.reqs
		if !ok {
			return
		}
		batch = batch[:0]
		if r.state.CompareAndSwap(reqQueued, reqTaken) {
			batch = append(batch, r)
		}
		batch = s.take(batch)
		if len(batch) > 0 {
			s.commitBatch(batch)
		}
		clear(batch)
	}
}

// take moves queued requests into batch without waiting, until the batch is
// full or the queue is empty.
func (s *Store) take(batch []*request) []*request {
	for len(batch) < s.opt.MaxBatch {
		select {
		case r, ok := <-s.reqs:
			if !ok {
				return batch
			}
			if r.state.CompareAndSwap(reqQueued, reqTaken) {
				batch = append(batch, r)
			}
		default:
			return batch
		}
	}
	return batch
}

// commitBatch appends batch in one transaction and answers every request.
// If a constraint fails (a duplicate message id, say), the transaction is
// rolled back and each request is retried in a transaction of its own, so
// only the offending one fails.
func (s *Store) commitBatch(batch []*request) {
	err := s.appendBatch(batch)
	if err != nil && constraint(err) && len(batch) > 1 {
		for _, r := range batch {
			s.commitBatch([]*request{r})
		}
		return
	}
	if err != nil {
		err = mapErr("append message", err)
		for _, r := range batch {
			r.msg, r.created, r.err = store.Message{}, false, err
			close(r.done)
		}
		return
	}
	s.batches.Add(1)
	s.writes.Add(int64(len(batch)))
	for _, r := range batch {
		if r.created && r.committed != nil {
			r.committed(r.msg)
		}
	}
	for _, r := range batch {
		close(r.done)
	}
}

// clientKey identifies a message for idempotent resends.
type clientKey struct{ conv, sender, client string }

const (
	lockConvsSQL = `SELECT id, last_seq FROM conversations WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE`
	resendsSQL   = `SELECT ` + msgColsM + ` FROM messages m
		JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(c, s, cl)
		ON m.conversation_id = k.c AND m.sender_id = k.s AND m.client_id = k.cl
		WHERE m.client_id <> ''`
	insertMsgsSQL = `INSERT INTO messages (conversation_id, seq, id, sender_id, client_id, type, text, reply_to,
		attachment_id, duration_ms, created_at)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::text[], $9::text[], $10::bigint[], $11::bigint[])`
	updConvsSQL = `UPDATE conversations c SET last_seq = v.seq, updated_at = GREATEST(c.updated_at, v.at)
		FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS v(id, seq, at) WHERE c.id = v.id`
)

// appendBatch runs the append transaction for reqs in two round trips:
//
//  1. BEGIN; lock the batch's conversations in id order and read their
//     last_seq; find earlier messages with the batch's client ids.
//  2. insert the new messages; write each conversation's last_seq and
//     updated_at; COMMIT.
//
// The row locks make another node's batch on the same conversation wait for
// this commit (and then read the last_seq it wrote), and make the resend
// lookup see every committed message of those conversations. Locking in id
// order means two batches never wait for each other in a cycle.
//
// On success every request has its outcome (r.err for an unknown
// conversation); on error nothing was committed.
func (s *Store) appendBatch(reqs []*request) (err error) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	inTx := false
	defer func() {
		if err != nil && inTx {
			rollback(conn)
		}
	}()

	var convIDs []string
	var cs, ss, cls []string
	for _, r := range reqs {
		r.msg, r.created, r.err = r.in, false, nil
		convIDs = append(convIDs, r.in.ConversationID)
		if r.in.ClientID != "" {
			cs, ss, cls = append(cs, r.in.ConversationID), append(ss, r.in.SenderID), append(cls, r.in.ClientID)
		}
	}
	slices.Sort(convIDs)
	convIDs = slices.Compact(convIDs)

	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(lockConvsSQL, convIDs)
	if len(cs) > 0 {
		b.Queue(resendsSQL, cs, ss, cls)
	}
	br := conn.SendBatch(ctx, b)
	inTx = true
	lastSeq := make(map[string]int64, len(convIDs))
	existing := make(map[clientKey]store.Message, len(cs))
	err = func() error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		rows, _ := br.Query()
		var id string
		var seq int64
		if _, err := pgx.ForEachRow(rows, []any{&id, &seq}, func() error {
			lastSeq[id] = seq
			return nil
		}); err != nil {
			return err
		}
		if len(cs) > 0 {
			rows, _ := br.Query()
			for rows.Next() {
				m, err := scanMessage(rows)
				if err != nil {
					rows.Close()
					return err
				}
				existing[clientKey{m.ConversationID, m.SenderID, m.ClientID}] = m
			}
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}

	// Assign seqs in queue order; a resend (of a committed message or of one
	// earlier in this batch) gets that message and changes nothing.
	var ins struct {
		conv, id, sender, client, typ, text, replyTo, attachment []string
		seq, duration, created                                   []int64
	}
	type convUpdate struct{ seq, at int64 }
	upd := make(map[string]convUpdate)
	for _, r := range reqs {
		m := &r.msg
		last, ok := lastSeq[m.ConversationID]
		if !ok {
			r.err = fmt.Errorf("append message: conversation %s: %w", m.ConversationID, store.ErrNotFound)
			continue
		}
		k := clientKey{m.ConversationID, m.SenderID, m.ClientID}
		if m.ClientID != "" {
			if ex, dup := existing[k]; dup {
				*m = ex
				continue
			}
		}
		if m.CreatedAt.IsZero() {
			m.CreatedAt = time.Now()
		}
		m.CreatedAt = m.CreatedAt.UTC()
		m.Seq = last + 1
		m.EditedAt, m.DeletedAt = nil, nil
		lastSeq[m.ConversationID] = m.Seq
		u := upd[m.ConversationID]
		upd[m.ConversationID] = convUpdate{seq: m.Seq, at: max(u.at, m.CreatedAt.UnixNano())}
		if m.ClientID != "" {
			existing[k] = *m
		}
		r.created = true
		ins.conv = append(ins.conv, m.ConversationID)
		ins.seq = append(ins.seq, m.Seq)
		ins.id = append(ins.id, m.ID)
		ins.sender = append(ins.sender, m.SenderID)
		ins.client = append(ins.client, m.ClientID)
		ins.typ = append(ins.typ, m.Type)
		ins.text = append(ins.text, m.Text)
		ins.replyTo = append(ins.replyTo, m.ReplyTo)
		ins.attachment = append(ins.attachment, m.AttachmentID)
		ins.duration = append(ins.duration, m.DurationMS)
		ins.created = append(ins.created, m.CreatedAt.UnixNano())
	}

	b = &pgx.Batch{}
	if len(ins.id) > 0 {
		b.Queue(insertMsgsSQL, ins.conv, ins.seq, ins.id, ins.sender, ins.client, ins.typ, ins.text,
			ins.replyTo, ins.attachment, ins.duration, ins.created)
		ids := make([]string, 0, len(upd))
		seqs := make([]int64, 0, len(upd))
		ats := make([]int64, 0, len(upd))
		for id, u := range upd {
			ids, seqs, ats = append(ids, id), append(seqs, u.seq), append(ats, u.at)
		}
		b.Queue(updConvsSQL, ids, seqs, ats)
	}
	b.Queue("COMMIT")
	br = conn.SendBatch(ctx, b)
	for range b.Len() {
		var tag interface{ String() string }
		tag, err = br.Exec()
		if err != nil {
			break
		}
		if tag.String() == "ROLLBACK" { // COMMIT of a failed transaction
			err = fmt.Errorf("postgres: append transaction rolled back")
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		for _, r := range reqs {
			r.created = false
		}
		return err
	}
	inTx = false
	return nil
}

// rollback ends a failed transaction on conn. If that fails too, the pool
// drops the connection on release (it is not idle).
func rollback(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn.Exec(ctx, "ROLLBACK")
}

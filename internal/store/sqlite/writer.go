package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/internal/store"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// request is one write waiting for the writer goroutine: either an
// AppendMessage (fn == nil) or an arbitrary write fn run inside the batch
// transaction under its own SAVEPOINT.
type request struct {
	state atomic.Int32 // reqQueued → reqTaken (writer) or reqAbandoned (caller)

	fn func(ctx context.Context, w *wtx) error

	msg       store.Message
	committed func(store.Message)
	created   bool

	err  error
	done chan struct{}
}

const (
	reqQueued int32 = iota
	reqTaken
	reqAbandoned
)

// wtx is what a write fn may use: the write connection, inside a
// transaction, and its prepared statements.
type wtx struct {
	c  *sql.Conn
	st *writeStmts
}

// convUpdate is the new last_seq/updated_at of a conversation touched by the
// current batch, written once per conversation before COMMIT.
type convUpdate struct {
	seq       int64
	updatedAt int64
}

const maxCachedConvs = 100_000

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

// exec runs fn on the writer goroutine inside a group-committed transaction
// and returns once it is committed. If fn fails, its changes are rolled back
// (SAVEPOINT) and the rest of the batch is unaffected.
func (s *Store) exec(ctx context.Context, fn func(ctx context.Context, w *wtx) error) error {
	return s.submit(ctx, &request{fn: fn})
}

// writer is the single goroutine that owns the write connection.
func (s *Store) writer() {
	defer close(s.done)
	for r := range s.reqs {
		if r.state.CompareAndSwap(reqQueued, reqTaken) {
			s.runTx(r)
		}
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

// runTx runs first and whatever else is queued in one transaction, commits
// (one fsync), then calls the committed callbacks and answers every request.
// Requests that arrive while the transaction is being built join it (up to
// MaxBatch) rather than wait for the next commit: callers released by the
// previous commit are back by then, so one commit carries nearly all
// concurrent writers instead of half of them.
func (s *Store) runTx(first *request) {
	ctx := context.Background()
	w := &wtx{c: s.wconn, st: &s.ws}
	clear(s.pending)
	s.created = s.created[:0]
	batch := append(s.batch[:0], first)
	batch = s.take(batch)
	_, err := s.ws.begin.ExecContext(ctx)
	for ran := 0; err == nil; {
		err = s.runReqs(ctx, w, batch[ran:])
		ran = len(batch)
		if err != nil {
			break
		}
		if batch = s.take(batch); len(batch) == ran {
			break
		}
	}
	if err == nil {
		for id, u := range s.pending {
			if _, err = s.ws.updConv.ExecContext(ctx, u.seq, u.updatedAt, id); err != nil {
				break
			}
		}
	}
	if err == nil {
		_, err = s.ws.commit.ExecContext(ctx)
	}
	defer func() {
		clear(batch)
		s.batch = batch[:0]
	}()
	if err != nil {
		s.wconn.ExecContext(ctx, "ROLLBACK") // may fail if SQLite already rolled back
		clear(s.lastSeq)
		err = fmt.Errorf("sqlite: write transaction: %w", err)
		for _, r := range batch {
			r.err, r.created = err, false
			close(r.done)
		}
		return
	}
	if len(s.lastSeq)+len(s.pending) > maxCachedConvs {
		clear(s.lastSeq)
	}
	for id, u := range s.pending {
		s.lastSeq[id] = u.seq
	}
	s.batches.Add(1)
	s.writes.Add(int64(len(batch)))
	for _, r := range s.created {
		r.committed(r.msg)
	}
	clear(s.created)
	for _, r := range batch {
		close(r.done)
	}
}

// runReqs runs reqs inside the open transaction: runs of appends through
// appendMany, other writes one by one under a SAVEPOINT. The returned error
// is fatal for the transaction.
func (s *Store) runReqs(ctx context.Context, w *wtx, reqs []*request) error {
	for len(reqs) > 0 {
		i := 0
		for i < len(reqs) && reqs[i].fn == nil {
			i++
		}
		if i > 0 {
			if err := s.appendMany(ctx, reqs[:i]); err != nil {
				return err
			}
			reqs = reqs[i:]
			continue
		}
		if err := s.runOp(ctx, w, reqs[0]); err != nil {
			return err
		}
		reqs = reqs[1:]
	}
	return nil
}

// clientKey identifies a message for idempotent resends.
type clientKey struct{ conv, sender, client string }

// appendMany appends the messages of reqs. The common case, messages to
// known conversations that are not resends, takes one multi-row INSERT per
// chunk of maxInsertRows messages; everything else (and a chunk whose INSERT
// hit a constraint: a resend of an earlier message, a duplicate id) goes
// through appendOne, one message at a time. The returned error is fatal for
// the batch.
func (s *Store) appendMany(ctx context.Context, reqs []*request) error {
	if len(reqs) == 1 {
		return s.appendOne(ctx, reqs[0])
	}
	clear(s.seen)
	fast := s.fast[:0]
	slow := s.slow[:0]
	for _, r := range reqs {
		m := &r.msg
		if _, ok := s.pending[m.ConversationID]; !ok {
			if _, ok := s.lastSeq[m.ConversationID]; !ok {
				var seq int64
				if err := s.ws.selLastSeq.QueryRowContext(ctx, m.ConversationID).Scan(&seq); err != nil {
					if fatal(err) {
						return err
					}
					r.err = mapErr("append message: conversation "+m.ConversationID, err)
					continue
				}
				// No change to it in this transaction yet: last_seq as committed.
				s.lastSeq[m.ConversationID] = seq
			}
		}
		if m.ClientID != "" {
			k := clientKey{m.ConversationID, m.SenderID, m.ClientID}
			if _, dup := s.seen[k]; dup {
				slow = append(slow, r) // most likely a resend of one in this batch
				continue
			}
			s.seen[k] = struct{}{}
		}
		fast = append(fast, r)
	}
	for len(fast) > 0 {
		n := min(len(fast), maxInsertRows)
		ok, err := s.insertRows(ctx, fast[:n])
		if err != nil {
			return err
		}
		if !ok {
			break // a constraint: the rest one by one
		}
		fast = fast[n:]
	}
	for _, list := range [][]*request{fast, slow} {
		for _, r := range list {
			if err := s.appendOne(ctx, r); err != nil {
				return err
			}
		}
	}
	clear(s.fast[:cap(s.fast)])
	clear(s.slow[:cap(s.slow)])
	return nil
}

// maxInsertRows bounds the messages per INSERT statement (11 parameters
// each; SQLite allows 32766).
const maxInsertRows = 64

// insertRows inserts the messages of reqs, whose conversations exist, with
// one INSERT. ok is false, with nothing changed, if a constraint failed.
func (s *Store) insertRows(ctx context.Context, reqs []*request) (ok bool, err error) {
	st, err := s.ws.insertN(ctx, s.wconn, len(reqs))
	if err != nil {
		return false, err
	}
	args := s.args[:0]
	seqs := s.seqs
	clear(seqs)
	for _, r := range reqs {
		m := &r.msg
		u, ok := s.pending[m.ConversationID]
		if !ok {
			u.seq = s.lastSeq[m.ConversationID]
		}
		if next, ok := seqs[m.ConversationID]; ok {
			u.seq = next
		}
		if m.CreatedAt.IsZero() {
			m.CreatedAt = time.Now()
		}
		m.CreatedAt = m.CreatedAt.UTC()
		m.Seq = u.seq + 1
		m.EditedAt, m.DeletedAt = nil, nil
		seqs[m.ConversationID] = m.Seq
		args = append(args, m.ConversationID, m.Seq, m.ID, m.SenderID, m.ClientID,
			m.Type, m.Text, m.ReplyTo, m.AttachmentID, m.DurationMS, m.CreatedAt.UnixNano())
	}
	_, err = st.ExecContext(ctx, args...)
	clear(args)
	s.args = args[:0]
	if err != nil {
		if fatal(err) {
			return false, err
		}
		return false, nil
	}
	for _, r := range reqs {
		m := &r.msg
		u := s.pending[m.ConversationID]
		u.seq = m.Seq
		u.updatedAt = max(u.updatedAt, m.CreatedAt.UnixNano())
		s.pending[m.ConversationID] = u
		r.created = true
		if r.committed != nil {
			s.created = append(s.created, r)
		}
	}
	return true, nil
}

// runOp runs a write fn under a SAVEPOINT. The returned error is fatal for
// the whole batch; fn's own (non-fatal) error goes to r.err.
func (s *Store) runOp(ctx context.Context, w *wtx, r *request) error {
	if _, err := s.ws.savepoint.ExecContext(ctx); err != nil {
		return err
	}
	opErr := r.fn(ctx, w)
	if opErr != nil {
		if fatal(opErr) {
			return opErr
		}
		if _, err := s.ws.rollbackTo.ExecContext(ctx); err != nil {
			return err
		}
	}
	if _, err := s.ws.release.ExecContext(ctx); err != nil {
		return err
	}
	r.err = opErr
	return nil
}

// appendOne inserts r.msg with the next seq of its conversation, or finds
// the message it duplicates (the INSERT does nothing on a client id
// conflict, so the common case costs one statement). Statement-level
// atomicity is enough here: a failed INSERT leaves nothing behind, and
// conversations are updated once per batch. The returned error is fatal for
// the batch.
func (s *Store) appendOne(ctx context.Context, r *request) error {
	m := &r.msg
	u, ok := s.pending[m.ConversationID]
	if !ok {
		if seq, cached := s.lastSeq[m.ConversationID]; cached {
			u.seq = seq
		} else if err := s.ws.selLastSeq.QueryRowContext(ctx, m.ConversationID).Scan(&u.seq); err != nil {
			if fatal(err) {
				return err
			}
			r.err = mapErr("append message: conversation "+m.ConversationID, err)
			return nil
		}
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = time.Now()
	}
	m.CreatedAt = m.CreatedAt.UTC()
	m.Seq = u.seq + 1
	m.EditedAt, m.DeletedAt = nil, nil
	created := m.CreatedAt.UnixNano()
	res, err := s.ws.insMsg.ExecContext(ctx, m.ID, m.ConversationID, m.Seq, m.SenderID, m.ClientID,
		m.Type, m.Text, m.ReplyTo, m.AttachmentID, m.DurationMS, created)
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil {
		if fatal(err) {
			return err
		}
		r.err = mapErr("append message", err)
		return nil
	}
	if n == 0 {
		// A resend: the (conversation, sender, client id) row exists, maybe
		// from earlier in this very batch. Nothing changed.
		ex, err := scanMessage(s.ws.selByClient.QueryRowContext(ctx, m.ConversationID, m.SenderID, m.ClientID))
		if err != nil {
			if fatal(err) {
				return err
			}
			r.err = mapErr("append message: resend", err)
			return nil
		}
		r.msg = ex
		return nil
	}
	u.seq = m.Seq
	u.updatedAt = max(u.updatedAt, created)
	s.pending[m.ConversationID] = u
	r.created = true
	if r.committed != nil {
		s.created = append(s.created, r)
	}
	return nil
}

// fatal reports whether err may have ended the transaction (anything from
// SQLite other than a constraint violation), so the batch must be abandoned.
func fatal(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code()&0xff != sqlite3.SQLITE_CONSTRAINT
}

// mapErr turns "no row" and constraint violations into store errors and
// wraps the rest.
func mapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%s: %w", what, store.ErrNotFound)
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%s: %w", what, store.ErrConflict)
		}
		if strings.Contains(se.Error(), "FOREIGN KEY") {
			return fmt.Errorf("%s: %w", what, store.ErrNotFound)
		}
		if strings.Contains(se.Error(), "UNIQUE") {
			return fmt.Errorf("%s: %w", what, store.ErrConflict)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// AppendMessage implements store.MessageStore with group commit.
func (s *Store) AppendMessage(ctx context.Context, m store.Message, committed func(store.Message)) (store.Message, bool, error) {
	r := &request{msg: m, committed: committed}
	if err := s.submit(ctx, r); err != nil {
		return store.Message{}, false, err
	}
	return r.msg, r.created, nil
}

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
// transaction under its own SAVEPOINT. raw requests run alone, outside any
// transaction (migrations).
type request struct {
	state atomic.Int32 // reqQueued → reqTaken (writer) or reqAbandoned (caller)

	raw bool
	fn  func(ctx context.Context, w *wtx) error

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
	batch := make([]*request, 0, s.opt.MaxBatch)
	for r := range s.reqs {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < s.opt.MaxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.process(batch)
		clear(batch)
	}
}

func (s *Store) process(batch []*request) {
	live := batch[:0]
	for _, r := range batch {
		if r.state.CompareAndSwap(reqQueued, reqTaken) {
			live = append(live, r)
		}
	}
	w := &wtx{c: s.wconn, st: &s.ws}
	for len(live) > 0 {
		i := 0
		for i < len(live) && !live[i].raw {
			i++
		}
		if i > 0 {
			s.runTx(w, live[:i])
			live = live[i:]
			continue
		}
		r := live[0]
		r.err = r.fn(context.Background(), w)
		clear(s.lastSeq)
		close(r.done)
		live = live[1:]
	}
}

// runTx runs reqs in one transaction, commits (one fsync), then calls the
// committed callbacks and answers every request.
func (s *Store) runTx(w *wtx, reqs []*request) {
	ctx := context.Background()
	clear(s.pending)
	s.created = s.created[:0]
	_, err := s.ws.begin.ExecContext(ctx)
	if err == nil {
		for _, r := range reqs {
			if r.fn != nil {
				err = s.runOp(ctx, w, r)
			} else {
				err = s.appendOne(ctx, r)
			}
			if err != nil {
				break
			}
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
	if err != nil {
		s.wconn.ExecContext(ctx, "ROLLBACK") // may fail if SQLite already rolled back
		clear(s.lastSeq)
		err = fmt.Errorf("sqlite: write transaction: %w", err)
		for _, r := range reqs {
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
	s.writes.Add(int64(len(reqs)))
	for _, r := range s.created {
		r.committed(r.msg)
	}
	clear(s.created)
	for _, r := range reqs {
		close(r.done)
	}
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

package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
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
	case s.queue(r.in.ConversationID) <- r:
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

// queue is the writer queue of a conversation.
func (s *Store) queue(conversationID string) chan *request {
	if len(s.reqs) == 1 {
		return s.reqs[0]
	}
	h := fnv.New32a()
	h.Write([]byte(conversationID))
	return s.reqs[h.Sum32()%uint32(len(s.reqs))]
}

// writer is a goroutine that commits appends: each transaction carries
// everything queued when the previous one finished (up to MaxBatch), so the
// more senders wait, the more one commit acknowledges.
func (s *Store) writer(reqs chan *request) {
	batch := make([]*request, 0, s.opt.MaxBatch)
	for {
		r, ok := <-reqs
		if !ok {
			return
		}
		batch = batch[:0]
		if r.state.CompareAndSwap(reqQueued, reqTaken) {
			batch = append(batch, r)
		}
		batch = s.take(reqs, batch)
		if len(batch) > 0 {
			s.commitBatch(batch)
		}
		clear(batch)
	}
}

// take moves queued requests into batch without waiting, until the batch is
// full or the queue is empty.
func (s *Store) take(reqs chan *request, batch []*request) []*request {
	for len(batch) < s.opt.MaxBatch {
		select {
		case r, ok := <-reqs:
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
	// insertMsgsSQL skips a message whose (conversation, sender, client id)
	// is taken: a resend. It returns the ids it inserted.
	insertMsgsSQL = `INSERT INTO messages (conversation_id, seq, id, sender_id, client_id, type, text, reply_to,
		attachment_id, duration_ms, created_at)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::text[], $9::text[], $10::bigint[], $11::bigint[])
		ON CONFLICT (conversation_id, sender_id, client_id) WHERE client_id <> '' DO NOTHING
		RETURNING id`
	// resendSQL is a point lookup on the unique client-id index.
	resendSQL   = `SELECT ` + msgCols + ` FROM messages WHERE conversation_id = $1 AND sender_id = $2 AND client_id = $3 AND client_id <> ''`
	updConvsSQL = `UPDATE conversations c SET last_seq = v.seq, updated_at = GREATEST(c.updated_at, v.at)
		FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS v(id, seq, at) WHERE c.id = v.id`
)

// appendBatch runs the append transaction for reqs, in three round trips
// when no message is a resend of an earlier batch's:
//
//  1. BEGIN; lock the batch's conversations in id order and read their
//     last_seq; SAVEPOINT.
//  2. insert the messages with seqs following last_seq, skipping those whose
//     client id is taken (resends).
//  3. write each conversation's last_seq and updated_at; COMMIT.
//
// The row locks make another node's batch on the same conversation wait for
// this commit (and then read the last_seq it wrote), and make step 2 see
// every committed message of those conversations. Locking in id order means
// two batches never wait for each other in a cycle. If step 2 skipped any
// message, the batch goes back to the savepoint, looks the skipped ones up
// and inserts the rest again with seqs that leave no gap.
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
		if err != nil {
			for _, r := range reqs {
				r.created = false
			}
		}
	}()

	convIDs := make([]string, 0, len(reqs))
	for _, r := range reqs {
		convIDs = append(convIDs, r.in.ConversationID)
	}
	slices.Sort(convIDs)
	convIDs = slices.Compact(convIDs)

	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(lockConvsSQL, convIDs)
	b.Queue("SAVEPOINT resends")
	inTx = true
	committed := make(map[string]int64, len(convIDs)) // last_seq as locked
	err = runBatch(conn.SendBatch(ctx, b), func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		rows, _ := br.Query()
		var id string
		var seq int64
		if _, err := pgx.ForEachRow(rows, []any{&id, &seq}, func() error {
			committed[id] = seq
			return nil
		}); err != nil {
			return err
		}
		_, err := br.Exec()
		return err
	})
	if err != nil {
		return err
	}

	existing := map[clientKey]store.Message{} // resends of committed messages
	for attempt := 0; ; attempt++ {
		a := assign(reqs, committed, existing)
		if len(a.id) == 0 {
			b = &pgx.Batch{} // nothing new: just COMMIT (releasing the locks)
			break
		}
		inserted := make(map[string]bool, len(a.id))
		b = &pgx.Batch{}
		b.Queue(insertMsgsSQL, a.conv, a.seq, a.id, a.sender, a.client, a.typ, a.text,
			a.replyTo, a.attachment, a.duration, a.created)
		err = runBatch(conn.SendBatch(ctx, b), func(br pgx.BatchResults) error {
			rows, _ := br.Query()
			var id string
			_, err := pgx.ForEachRow(rows, []any{&id}, func() error {
				inserted[id] = true
				return nil
			})
			return err
		})
		if err != nil {
			return err
		}
		if len(inserted) == len(a.id) {
			b = &pgx.Batch{}
			ids := make([]string, 0, len(a.upd))
			seqs := make([]int64, 0, len(a.upd))
			ats := make([]int64, 0, len(a.upd))
			for id, u := range a.upd {
				ids, seqs, ats = append(ids, id), append(seqs, u.seq), append(ats, u.at)
			}
			b.Queue(updConvsSQL, ids, seqs, ats)
			break
		}
		if attempt > 0 {
			// Under the row locks nothing else can insert into these
			// conversations; a second skip means a broken invariant.
			return fmt.Errorf("postgres: append: client ids taken after the resend lookup")
		}
		// Some were resends: find what they resend, and insert the rest again.
		b = &pgx.Batch{}
		b.Queue("ROLLBACK TO SAVEPOINT resends")
		var skipped []clientKey
		for _, r := range reqs {
			if r.created && !inserted[r.msg.ID] {
				k := clientKey{r.msg.ConversationID, r.msg.SenderID, r.msg.ClientID}
				skipped = append(skipped, k)
				b.Queue(resendSQL, k.conv, k.sender, k.client)
			}
		}
		err = runBatch(conn.SendBatch(ctx, b), func(br pgx.BatchResults) error {
			if _, err := br.Exec(); err != nil {
				return err
			}
			for _, k := range skipped {
				m, err := scanMessage(br.QueryRow())
				if err != nil {
					return fmt.Errorf("resend of %v: %w", k, err)
				}
				existing[k] = m
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	b.Queue("COMMIT")
	err = runBatch(conn.SendBatch(ctx, b), func(br pgx.BatchResults) error {
		for range b.Len() {
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			if tag.String() == "ROLLBACK" { // COMMIT of a failed transaction
				return fmt.Errorf("postgres: append transaction rolled back")
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	inTx = false
	return nil
}

// runBatch reads br's results with read and closes it.
func runBatch(br pgx.BatchResults, read func(pgx.BatchResults) error) error {
	err := read(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// assignment is the messages a batch inserts, as columns, and the new
// last_seq/updated_at of each conversation.
type assignment struct {
	conv, id, sender, client, typ, text, replyTo, attachment []string
	seq, duration, created                                   []int64
	upd                                                      map[string]convUpdate
}

type convUpdate struct{ seq, at int64 }

// assign gives the new messages of reqs the seqs after committed (last_seq
// per locked conversation), in queue order. A request whose conversation is
// not locked (unknown) gets ErrNotFound; a resend of a committed message
// (in existing) or of one earlier in the batch gets that message and
// created=false.
func assign(reqs []*request, committed map[string]int64, existing map[clientKey]store.Message) assignment {
	a := assignment{upd: make(map[string]convUpdate)}
	inBatch := make(map[clientKey]store.Message)
	for _, r := range reqs {
		r.msg, r.created, r.err = r.in, false, nil
		m := &r.msg
		last, ok := committed[m.ConversationID]
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
			if ex, dup := inBatch[k]; dup {
				*m = ex
				continue
			}
		}
		if u, ok := a.upd[m.ConversationID]; ok {
			last = u.seq
		}
		if m.CreatedAt.IsZero() {
			m.CreatedAt = time.Now()
		}
		m.CreatedAt = m.CreatedAt.UTC()
		m.Seq = last + 1
		m.EditedAt, m.DeletedAt = nil, nil
		a.upd[m.ConversationID] = convUpdate{seq: m.Seq, at: max(a.upd[m.ConversationID].at, m.CreatedAt.UnixNano())}
		if m.ClientID != "" {
			inBatch[k] = *m
		}
		r.created = true
		a.conv = append(a.conv, m.ConversationID)
		a.seq = append(a.seq, m.Seq)
		a.id = append(a.id, m.ID)
		a.sender = append(a.sender, m.SenderID)
		a.client = append(a.client, m.ClientID)
		a.typ = append(a.typ, m.Type)
		a.text = append(a.text, m.Text)
		a.replyTo = append(a.replyTo, m.ReplyTo)
		a.attachment = append(a.attachment, m.AttachmentID)
		a.duration = append(a.duration, m.DurationMS)
		a.created = append(a.created, m.CreatedAt.UnixNano())
	}
	return a
}

// rollback ends a failed transaction on conn. If that fails too, the pool
// drops the connection on release (it is not idle).
func rollback(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn.Exec(ctx, "ROLLBACK")
}

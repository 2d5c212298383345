package ws

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/budget"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/ids"
	"github.com/parley-chat/parley/internal/textcheck"
	"github.com/parley-chat/parley/protocol"
)

// handle runs one client message on its own goroutine; it owns p.
func (c *conn) handle(p *[]byte) {
	env, err := protocol.DecodeEnvelope(*p)
	var reqID string
	if err != nil {
		reqID = readableID(*p)
	}
	textErr := textcheck.JSON(*p)
	putBuf(p)
	ctx := c.srv.ctx

	if !c.isAuthed() {
		if err != nil || env.Event != protocol.EvAuth {
			if err == nil {
				reqID = env.ID
			}
			c.reject(protocol.CloseUnauthorized, apperr.New(apperr.Unauthorized, apperr.CodeUnauthenticated,
				"authenticate first: send an Authorization header, the bearer subprotocol, or an auth frame"), reqID)
			return
		}
		var a struct {
			Token string `json:"token"`
		}
		if len(env.Data) > 0 {
			json.Unmarshal(env.Data, &a)
		}
		if c.authenticate(ctx, a.Token, env.ID) {
			c.nc.SetReadDeadline(time.Time{})
		}
		return
	}

	if err != nil {
		c.enqueue(errorFrame(reqID, apperr.Invalidf("malformed envelope: %v", err)))
		return
	}
	if err := textErr; err != nil {
		c.replyError(env.ID, err) // NUL, a lone surrogate…: refused, not stored changed
		return
	}
	if exp := c.id.ExpiresAt; !exp.IsZero() && time.Now().After(exp) {
		c.reject(protocol.CloseTokenExpired, errTokenExpired, env.ID)
		return
	}
	if env.Event != protocol.EvSync {
		c.mu.Lock()
		if st := c.sync; st != nil && st.holdAll {
			c.releaseLocked(nil, nil) // a resuming client that did not sync first
		}
		c.mu.Unlock()
	}

	switch env.Event {
	case protocol.EvPing:
		c.reply(env.Event, env.ID, struct {
			Time time.Time `json:"time"`
		}{time.Now().UTC()})
		return
	case protocol.EvAuth:
		c.replyError(env.ID, apperr.Invalidf("already authenticated"))
		return
	}
	// A request that fans out is priced by its conversation's member count,
	// known once the handler has decoded its data: it spends then, before
	// the handler does any work (the frame is decoded once). Every other
	// request spends now.
	decode := decoder(env.Data)
	pr := pricing{event: env.Event, size: len(env.Data)}
	if budget.FansOut(env.Event) {
		decode = c.pricedDecoder(ctx, &pr, decode)
	} else if err := c.spend(ctx, env, budget.Cost(env.Event, 0, 0)); err != nil {
		return
	}
	if env.Event == protocol.EvSync {
		c.syncReq(ctx, env)
		return
	}
	start := time.Now()
	var res any
	switch {
	case strings.HasPrefix(env.Event, "call:") && c.srv.calls != nil:
		res, err = c.srv.calls.Dispatch(ctx, c.id, c.connID, env.Event, decode)
	case (strings.HasPrefix(env.Event, "room:") || strings.HasPrefix(env.Event, "channel:")) && c.srv.rooms != nil:
		res, err = c.srv.rooms.Dispatch(ctx, c.id, c.connID, env.Event, decode)
	default:
		res, err = c.srv.chat.Dispatch(ctx, c.id, env.Event, decode)
	}
	if pr.refused != nil { // over budget: the handler did nothing
		c.replyError(env.ID, pr.refused)
		return
	}
	if !pr.spent && budget.FansOut(env.Event) { // the handler decoded nothing: its base
		c.srv.cfg.Budget.Spend(ctx, c.id.UserID, c.id.AccountID, budget.Cost(env.Event, 0, 0))
	}
	if err != nil {
		c.replyError(env.ID, err)
		return
	}
	if m, ok := res.(protocol.Message); ok && env.Event == protocol.EvSend && !m.CreatedAt.Before(start) && c.replyOwn(env.ID, m) {
		return // several nodes: the reply is queued behind the message (order.go)
	}
	if m, ok := res.(protocol.Message); ok && env.Event == protocol.EvSend && m.CreatedAt.Before(start) {
		// An idempotent resend delivered nothing: only its base is spent.
		c.srv.cfg.Budget.Refund(ctx, c.id.UserID, c.id.AccountID, pr.fanOut)
	}
	c.reply(env.Event, env.ID, res)
}

// maxPause bounds how long a connection refused over budget is not read:
// long enough that a client ignoring retry_after_ms is slowed to a refusal
// a second, short enough for pings and close frames.
const maxPause = time.Second

// spend charges a request to the user's and account's budgets. Refused,
// it answers the request and stops reading the connection for the retry
// hint (bounded), and reports the error.
func (c *conn) spend(ctx context.Context, env protocol.Envelope, cost float64) error {
	err := c.srv.cfg.Budget.Spend(ctx, c.id.UserID, c.id.AccountID, cost)
	if err == nil {
		return nil
	}
	c.pause = min(apperr.As(err).RetryAfter, maxPause)
	if env.Event == protocol.EvSync {
		c.mu.Lock()
		c.releaseLocked(nil, nil)
		c.mu.Unlock()
	}
	c.replyError(env.ID, err)
	return err
}

// pricing is the budget state of a request that fans out.
type pricing struct {
	event   string
	size    int     // the request's bytes
	spent   bool    // charged (or refused)
	refused error   // the budget's refusal
	fanOut  float64 // the part of the cost its deliveries are
}

// pricedDecoder decodes, then prices the request by its conversation's
// member count (budget.Cost; the same on every node, however the members'
// connections are spread) and spends it. Over budget, the handler gets
// the refusal as its decode error and does nothing.
func (c *conn) pricedDecoder(ctx context.Context, pr *pricing, decode func(any) error) func(any) error {
	return func(v any) error {
		derr := decode(v)
		if pr.spent {
			return derr
		}
		pr.spent = true
		audience := 0
		if conv := conversationOf(v); derr == nil && conv != "" {
			audience = c.srv.chat.Audience(ctx, c.id.AccountID, conv)
		}
		cost := budget.Cost(pr.event, audience, pr.size)
		pr.fanOut = cost - budget.Cost(pr.event, 0, 0)
		if err := c.srv.cfg.Budget.Spend(ctx, c.id.UserID, c.id.AccountID, cost); err != nil {
			pr.refused = err
			c.pause = min(apperr.As(err).RetryAfter, maxPause)
			return err
		}
		return derr
	}
}

// conversationOf is the conversation a decoded request that fans out is
// delivered to.
func conversationOf(v any) string {
	switch r := v.(type) {
	case *protocol.SendRequest:
		return r.ConversationID
	case *protocol.EditRequest:
		return r.ConversationID
	case *protocol.DeleteRequest:
		return r.ConversationID
	case *protocol.TypingRequest:
		return r.ConversationID
	case *protocol.ReadRequest:
		return r.ConversationID
	}
	return ""
}

// decoder decodes request data; missing data decodes as {}.
func decoder(data json.RawMessage) func(any) error {
	return func(v any) error {
		if len(data) == 0 {
			return nil
		}
		if err := json.Unmarshal(data, v); err != nil {
			return apperr.Invalidf("data: %v", err)
		}
		return nil
	}
}

// readableID digs the id out of a frame DecodeEnvelope refused, when it is
// a string within the limit, so the error can name the request.
func readableID(b []byte) string {
	var probe struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(b, &probe) != nil {
		return ""
	}
	if s, ok := probe.ID.(string); ok && len(s) <= protocol.MaxIDLen {
		return s
	}
	return ""
}

func (c *conn) reply(event, id string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		c.replyError(id, apperr.Wrap("ws.reply", err))
		return
	}
	c.enqueue(eventFrame(event, id, data))
}

func (c *conn) replyError(id string, err error) {
	if apperr.KindOf(err) == apperr.Internal {
		c.srv.log.Error("ws: request failed", "user", c.id.UserID, "err", err)
	}
	c.enqueue(errorFrame(id, err))
}

// authenticate verifies a token, applies the per-account limit, sends
// chat:connected and subscribes the connection. It reports success; on
// failure the connection is closing.
func (c *conn) authenticate(ctx context.Context, token, reqID string) bool {
	s := c.srv
	id, err := s.auth.Token(ctx, token)
	if err != nil {
		if apperr.KindOf(err) == apperr.Internal {
			s.log.Error("ws: authentication failed", "err", err)
			c.reject(closeInternalError, err, reqID)
			return false
		}
		code := protocol.CloseUnauthorized
		if apperr.Is(err, apperr.CodeAddressInvalid) {
			code = protocol.CloseAddressInvalid
		}
		c.reject(code, err, reqID)
		return false
	}
	if id.UserID == "" {
		c.reject(protocol.CloseUnauthorized, apperr.New(apperr.Unauthorized, apperr.CodeUnauthenticated, "connect with a user token"), reqID)
		return false
	}
	if !s.addAccount(id.AccountID) {
		c.reject(protocol.CloseTooManyConns, errTooManyConns("too many connections for this account"), reqID)
		return false
	}
	c.mu.Lock()
	c.id, c.acctCounted, c.connID = id, true, ids.New(ids.Connection)
	c.mu.Unlock()
	topics, err := s.chat.Topics(ctx, id)
	if err != nil {
		s.log.Error("ws: topics", "user", id.UserID, "err", err)
		c.reject(closeInternalError, err, reqID)
		return false
	}
	if err := s.chat.Connected(ctx, id, c.connID); err != nil {
		// The presence registry (Redis) did not answer: refused like a
		// full cap, since a connection it does not count would show its
		// user offline and get their Web Push while connected.
		s.log.Warn("ws: presence unavailable, connection refused", "user", id.UserID, "err", err)
		c.reject(protocol.CloseTooManyConns, errTooManyConns("the server cannot count connections now; try again"), reqID)
		return false
	}
	c.mu.Lock()
	c.announced = true
	c.mu.Unlock()
	status := protocol.StatusOnline
	if ps, err := s.chat.Presence(ctx, id, []string{id.UserID}); err == nil && len(ps) == 1 {
		status = ps[0].Status
	}
	var inboxStatus string
	if id.Role == protocol.RoleVisitor {
		if inboxStatus, err = s.chat.InboxStatus(ctx, id.AccountID); err != nil {
			inboxStatus = protocol.StatusOffline
		}
	}
	data, _ := json.Marshal(protocol.Connected{
		User:           protocol.User{ID: id.UserID, Name: id.UserName, DisplayName: id.DisplayName, Role: id.Role},
		AccountID:      id.AccountID,
		ConnectionID:   c.connID,
		Status:         status,
		ServerTime:     time.Now().UTC(),
		ConnectedUsers: s.chat.OnlineUsers(ctx, id.AccountID),
		Limits:         s.limit,
		InboxStatus:    inboxStatus,
		ICEServers:     iceServers(s.cfg.ICEServers, id),
	})
	c.mu.Lock()
	c.authed = true
	if c.resume {
		c.sync = &syncState{holdAll: true}
	}
	c.enqueueLocked(eventFrame(protocol.EvConnected, reqID, data)) // reqID: an auth frame's, answered like any request
	c.mu.Unlock()
	s.expiry.add(c, id.ExpiresAt)
	s.hub.register(c, topics)
	return true
}

// syncReq replays what the client missed. For each named conversation the
// connection holds live events while it fetches the missed messages from
// the store, queues them in seq order, then queues the held events minus
// the messages it already replayed: each message reaches the client once,
// in order, even while others keep sending. The replay is paced by what
// the client reads (enqueueReplay), so a backlog larger than the send queue
// reaches a slow client whole instead of cutting it as a slow consumer.
func (c *conn) syncReq(ctx context.Context, env protocol.Envelope) {
	var req protocol.SyncRequest
	if err := decoder(env.Data)(&req); err != nil {
		c.answerSync(env.ID, errorFrame(env.ID, err), err, nil, nil)
		return
	}
	if len(req.Cursors) > chat.MaxSyncConversations {
		err := apperr.Invalidf("at most %d conversations per chat:sync", chat.MaxSyncConversations)
		c.answerSync(env.ID, errorFrame(env.ID, err), err, nil, nil)
		return
	}
	// Checked before anything is replayed: conversations the user may not
	// read are reported in the reply, not failed halfway through.
	refused, err := c.srv.chat.SyncRefusals(ctx, c.id, req.Cursors)
	if err != nil {
		c.answerSync(env.ID, errorFrame(env.ID, err), err, nil, nil)
		return
	}
	if err := checkCursorIDs(req); err != nil {
		c.answerSync(env.ID, errorFrame(env.ID, err), err, nil, nil)
		return
	}
	convs := make([]string, 0, len(req.Cursors))
	for k := range req.Cursors {
		if _, no := refused[k]; !no {
			convs = append(convs, k)
		}
	}
	slices.Sort(convs)

	c.mu.Lock()
	if c.sync == nil {
		c.sync = &syncState{}
	}
	st := c.sync
	st.convs = convs
	st.suppressed = slices.DeleteFunc(st.suppressed, func(s string) bool { return contains(convs, s) })
	c.mu.Unlock()

	reply := protocol.SyncReply{Seqs: make(map[string]int64, len(convs)), Truncated: []string{}, Refused: refused, Reset: []string{}}
	var failed error
	for _, conv := range convs {
		seq := req.Cursors[conv]
		var since time.Time
		if req.Since != nil {
			since = *req.Since
		}
		b, err := c.srv.chat.Missed(ctx, c.id, conv, seq, req.CursorIDs[conv], since)
		if err != nil {
			failed = err
			break
		}
		if b.Reset { // the floor becomes what the server has, not the cursor
			reply.Seqs[conv] = b.LastSeq
			reply.Reset = append(reply.Reset, conv)
			continue
		}
		for i := range b.Changed { // older messages first: they precede the new ones
			m := &b.Changed[i]
			ev := protocol.EvMessageEdited
			if m.DeletedAt != nil {
				ev = protocol.EvMessageDeleted
			}
			data, err := json.Marshal(m)
			if err != nil {
				failed = apperr.Wrap("ws.sync", err)
				break
			}
			if !c.enqueueReplay(ctx, eventFrame(ev, "", data)) {
				return // closing: no reply, the client resumes again
			}
		}
		if failed != nil {
			break
		}
		for i := range b.Messages {
			m := &b.Messages[i]
			data, err := json.Marshal(m)
			if err != nil {
				failed = apperr.Wrap("ws.sync", err)
				break
			}
			if !c.enqueueReplay(ctx, eventFrame(protocol.EvMessage, "", data)) {
				return
			}
			seq = m.Seq
		}
		if failed != nil {
			break
		}
		reply.Seqs[conv] = seq
		if b.Truncated {
			reply.Truncated = append(reply.Truncated, conv)
		}
	}
	if failed != nil {
		c.answerSync(env.ID, errorFrame(env.ID, failed), failed, reply.Seqs, reply.Truncated)
		return
	}
	data, err := json.Marshal(reply)
	if err != nil {
		err = apperr.Wrap("ws.sync", err)
		c.answerSync(env.ID, errorFrame(env.ID, err), err, reply.Seqs, reply.Truncated)
		return
	}
	c.answerSync(env.ID, eventFrame(env.Event, env.ID, data), nil, reply.Seqs, reply.Truncated)
}

// answerSync queues the answer to a chat:sync, then the live events held
// while it replayed: the reply comes before them, as docs/protocol.md
// promises.
func (c *conn) answerSync(id string, frame []byte, err error, seqs map[string]int64, truncated []string) {
	if err != nil && apperr.KindOf(err) == apperr.Internal {
		c.srv.log.Error("ws: request failed", "user", c.id.UserID, "err", err)
	}
	c.srv.hub.seed(c, seqs, truncated)
	c.mu.Lock()
	c.enqueueLocked(frame)
	c.releaseLocked(seqs, truncated)
	c.mu.Unlock()
}

// checkCursorIDs refuses ids for conversations without a cursor above 0,
// and ids no message could have.
func checkCursorIDs(req protocol.SyncRequest) error {
	for conv, id := range req.CursorIDs {
		if req.Cursors[conv] <= 0 {
			return apperr.Invalidf("cursor_ids names %q, which has no cursor above 0", conv)
		}
		if id == "" || len(id) > protocol.MaxIDLen {
			return apperr.Invalidf("cursor_ids[%q] must be a message id", conv)
		}
	}
	return nil
}

func iceServers(f func(auth.Identity) []protocol.ICEServer, id auth.Identity) []protocol.ICEServer {
	if f == nil {
		return nil
	}
	return f(id)
}

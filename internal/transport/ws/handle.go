package ws

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/ids"
	"github.com/parley-chat/parley/protocol"
)

// handle runs one client message on its own goroutine; it owns p.
func (c *conn) handle(p *[]byte) {
	env, err := protocol.DecodeEnvelope(*p)
	var reqID string
	if err != nil {
		reqID = readableID(*p)
	}
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
	if exp := c.id.ExpiresAt; !exp.IsZero() && time.Now().After(exp) {
		c.reject(protocol.CloseTokenExpired, apperr.New(apperr.Unauthorized, apperr.CodeTokenExpired, "the token has expired"), env.ID)
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
	case protocol.EvSync:
		c.syncReq(ctx, env)
		return
	case protocol.EvSend:
		if c.limiter == nil {
			c.limiter = rate.NewLimiter(rate.Limit(c.srv.cfg.MessagesPerSecond), c.srv.cfg.MessagesBurst)
		}
		if !c.limiter.Allow() {
			c.replyError(env.ID, apperr.New(apperr.RateLimited, apperr.CodeRateLimited,
				"more than %g messages per second; slow down", c.srv.cfg.MessagesPerSecond))
			return
		}
	}
	var res any
	switch {
	case strings.HasPrefix(env.Event, "call:") && c.srv.calls != nil:
		res, err = c.srv.calls.Dispatch(ctx, c.id, c.connID, env.Event, decoder(env.Data))
	case (strings.HasPrefix(env.Event, "room:") || strings.HasPrefix(env.Event, "channel:")) && c.srv.rooms != nil:
		res, err = c.srv.rooms.Dispatch(ctx, c.id, c.connID, env.Event, decoder(env.Data))
	default:
		res, err = c.srv.chat.Dispatch(ctx, c.id, env.Event, decoder(env.Data))
	}
	if err != nil {
		c.replyError(env.ID, err)
		return
	}
	c.reply(env.Event, env.ID, res)
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
	s.chat.Connected(ctx, id)
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
		ConnectedUsers: s.chat.OnlineUsers(id.AccountID),
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
	s.hub.register(c, topics)
	return true
}

// syncReq replays what the client missed. For each named conversation the
// connection holds live events while it fetches the missed messages from
// the store, queues them in seq order, then queues the held events minus
// the messages it already replayed: each message reaches the client once,
// in order, even while others keep sending.
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

	reply := protocol.SyncReply{Seqs: make(map[string]int64, len(convs)), Truncated: []string{}, Refused: refused}
	var failed error
	for _, conv := range convs {
		seq := req.Cursors[conv]
		var since time.Time
		if req.Since != nil {
			since = *req.Since
		}
		b, err := c.srv.chat.Missed(ctx, c.id, conv, seq, since)
		if err != nil {
			failed = err
			break
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
			c.enqueue(eventFrame(ev, "", data))
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
			c.enqueue(eventFrame(protocol.EvMessage, "", data))
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
	c.mu.Lock()
	c.enqueueLocked(frame)
	c.releaseLocked(seqs, truncated)
	c.mu.Unlock()
}

func iceServers(f func(auth.Identity) []protocol.ICEServer, id auth.Identity) []protocol.ICEServer {
	if f == nil {
		return nil
	}
	return f(id)
}

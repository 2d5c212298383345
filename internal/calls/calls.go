// Package calls runs calls between two people: the state machine
// (ringing, active, ended, on which device), the relay of WebRTC
// negotiation between exactly the two devices of a call, and the call
// events written into the conversation (started, ended with its duration,
// missed, declined, busy). Media never passes through here: browsers talk
// directly, or through TURN. It knows nothing of WebSocket: the transport
// calls Dispatch with the caller's identity and connection id, and events
// reach devices through the bus (user topics, one device by bus.Event.Device).
//
// State lives in memory on the node of the device that made the call; with
// a directory and a relay, requests about it from other nodes are
// forwarded there (nodes.go). A call whose node stops ends.
package calls

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/cluster"
	"github.com/parley-chat/parley/internal/cluster/relay"
	"github.com/parley-chat/parley/internal/ids"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

// Config tunes calls. Zero values take the defaults in brackets.
type Config struct {
	// RingTimeout ends an unanswered call as missed [30s].
	RingTimeout time.Duration
	// ReconnectGrace is how long a party whose connection dropped has to
	// come back (call:rejoin) before the call ends [10s].
	ReconnectGrace time.Duration
	// Directory and Relay reach calls of other nodes (nodes.go); nil:
	// every call is on this node.
	Directory cluster.Directory
	Relay     *relay.Relay
	// CheckInterval is how often the nodes of the devices of other nodes
	// in this node's calls are checked for life [5s].
	CheckInterval time.Duration
}

func (c *Config) defaults() {
	if c.RingTimeout <= 0 {
		c.RingTimeout = 30 * time.Second
	}
	if c.ReconnectGrace <= 0 {
		c.ReconnectGrace = 10 * time.Second
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = 5 * time.Second
	}
}

// Error codes of calls.
const (
	CodeInCall    = "in_call"     // the caller is already in a call
	CodeNotInCall = "not_in_call" // no such call of yours, or not in that state
)

// Service is the calls domain. It is safe for concurrent use.
type Service struct {
	chat *chat.Service
	bus  bus.Bus
	cfg  Config
	log  *slog.Logger
	now  func() time.Time

	mu     sync.Mutex
	calls  map[string]*call // by id
	byUser map[string]*call // a user's current call (ringing as caller, or active)
	byConn map[string]*call // the devices in calls
	closed bool
	remote map[string]map[string]bool // a connection → nodes of calls it reached through this node
	// connNode is the node of each device of another node in a call here.
	connNode   map[string]string
	stopChecks func() // nil on one node

	records recorder
}

// recorder writes call events into conversations from one goroutine, in
// the order the state changes made them (they are queued under the
// service's lock), without holding up the events that announce them.
type recorder struct {
	mu     sync.Mutex
	queue  []func()
	wake   chan struct{}
	done   chan struct{}
	closed bool
}

func (r *recorder) start() {
	r.wake, r.done = make(chan struct{}, 1), make(chan struct{})
	go func() {
		defer close(r.done)
		for {
			<-r.wake
			r.mu.Lock()
			q, closed := r.queue, r.closed
			r.queue = nil
			r.mu.Unlock()
			for _, f := range q {
				f()
			}
			if closed {
				return
			}
		}
	}()
}

func (r *recorder) add(f func()) {
	r.mu.Lock()
	r.queue = append(r.queue, f)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// stop writes what is queued and returns.
func (r *recorder) stop() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	<-r.done
}

type party struct {
	user, conn string
}

type call struct {
	id       string
	conv     store.Conversation
	media    string
	caller   party
	callee   party // set on accept
	invitees []string
	state    string // ringing | active | ended
	created  time.Time
	started  time.Time
	timer    *time.Timer // ring timeout, or a party's reconnect grace
	away     string      // the user whose connection dropped, during the grace
}

const (
	stateRinging = "ringing"
	stateActive  = "active"
	stateEnded   = "ended"
)

// New returns the calls service.
func New(c *chat.Service, b bus.Bus, cfg Config, log *slog.Logger) *Service {
	cfg.defaults()
	s := &Service{chat: c, bus: b, cfg: cfg, log: log, now: time.Now,
		calls: map[string]*call{}, byUser: map[string]*call{}, byConn: map[string]*call{}, remote: map[string]map[string]bool{},
		connNode: map[string]string{}}
	s.records.start()
	if s.clustered() {
		s.startNodes()
	}
	return s
}

// Dispatch runs one call:* request from a device.
func (s *Service) Dispatch(ctx context.Context, id auth.Identity, conn, event string, decode func(any) error) (any, error) {
	if id.UserID == "" {
		return nil, apperr.Forbiddenf("calls are between users")
	}
	if s.clustered() {
		return s.dispatchNodes(ctx, id, conn, event, decode)
	}
	return s.dispatch(ctx, id, conn, event, decode)
}

// dispatch runs a request on this node.
func (s *Service) dispatch(ctx context.Context, id auth.Identity, conn, event string, decode func(any) error) (any, error) {
	switch event {
	case protocol.EvCallInvite:
		var r protocol.CallInvite
		if err := decode(&r); err != nil {
			return nil, err
		}
		return s.Invite(ctx, id, conn, r)
	case protocol.EvCallOffer, protocol.EvCallAnswer, protocol.EvCallICE:
		var sig protocol.CallSignal
		if err := decode(&sig); err != nil {
			return nil, err
		}
		return struct{}{}, s.Signal(id, conn, event, sig)
	}
	var r protocol.CallRef
	if err := decode(&r); err != nil {
		return nil, err
	}
	switch event {
	case protocol.EvCallAccept:
		return s.Accept(ctx, id, conn, r.CallID)
	case protocol.EvCallReject:
		return struct{}{}, s.Reject(id, r.CallID)
	case protocol.EvCallCancel, protocol.EvCallEnd:
		return struct{}{}, s.Hangup(id, conn, r.CallID)
	case protocol.EvCallRejoin:
		return s.Rejoin(id, conn, r.CallID)
	}
	return nil, apperr.New(apperr.Invalid, apperr.CodeUnknownEvent, "unknown event %q", event)
}

// outbox collects what a state change must announce, to do it after the
// lock is released.
type outbox struct {
	events []func()
}

func (o *outbox) flush() {
	for _, f := range o.events {
		f()
	}
}

func (s *Service) toUser(o *outbox, user, name string, v any) {
	data, _ := json.Marshal(v)
	o.events = append(o.events, func() {
		s.bus.Publish(chat.UserTopic(user), bus.Event{Name: name, Data: data})
	})
}

func (s *Service) toDevice(o *outbox, p party, name string, v any) {
	data, _ := json.Marshal(v)
	o.events = append(o.events, func() {
		chat.ToDevice(s.bus, p.user, p.conn, name, data)
	})
}

// record queues a call event for the conversation (called under s.mu, so
// events are written in the order they happened).
func (s *Service) record(_ *outbox, c *call, outcome string, d time.Duration) {
	conv, caller, media := c.conv, c.caller.user, c.media
	s.records.add(func() {
		s.chat.RecordCall(context.Background(), conv, caller, media, outcome, d.Milliseconds())
	})
}

// view is the call as user sees it.
func (c *call) view(user string) protocol.Call {
	out := protocol.Call{ID: c.id, ConversationID: c.conv.ID, Media: c.media, CallerID: c.caller.user,
		CalleeID: c.callee.user, State: c.state, Polite: user != c.caller.user, CreatedAt: c.created}
	if !c.started.IsZero() {
		t := c.started
		out.StartedAt = &t
	}
	return out
}

func errNotInCall() error {
	return apperr.New(apperr.Conflict, CodeNotInCall, "no such call of yours in that state")
}

// Invite starts a call from a device in a conversation: it rings every
// device of each callee who is online and not in another call. If the
// callee is already calling the caller in this conversation (glare), the
// invitation answers that call instead.
func (s *Service) Invite(ctx context.Context, id auth.Identity, conn string, r protocol.CallInvite) (protocol.Call, error) {
	if r.Media != "audio" && r.Media != "video" {
		return protocol.Call{}, apperr.Invalidf("media must be audio or video")
	}
	callID := ids.New("call")
	rings := false
	if s.clustered() { // before anyone hears of it: their answers find it through the directory
		if err := s.own(ctx, callID); err != nil {
			return protocol.Call{}, apperr.New(apperr.Unavailable, relay.CodeNodeUnavailable, "the call directory did not answer: %v", err)
		}
		defer func() {
			if !rings {
				s.drop(callID)
			}
		}()
	}
	conv, invitees, err := s.chat.CallParties(ctx, id, r.ConversationID)
	if err != nil {
		return protocol.Call{}, err
	}
	// Connected on any node (one round trip, before the lock): the callee's
	// devices are rung over the bus wherever they are.
	reachable, err := s.chat.Online(ctx, invitees...)
	if err != nil {
		return protocol.Call{}, err
	}
	var o outbox
	defer o.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return protocol.Call{}, apperr.New(apperr.Unavailable, apperr.CodeShuttingDown, "the server is stopping")
	}
	if s.byUser[id.UserID] != nil {
		return protocol.Call{}, apperr.New(apperr.Conflict, CodeInCall, "you are already in a call")
	}
	for _, cur := range s.calls { // glare: they are calling us here at the same moment
		if cur.state == stateRinging && cur.conv.ID == conv.ID && contains(cur.invitees, id.UserID) {
			return s.acceptLocked(&o, cur, party{id.UserID, conn})
		}
	}
	c := &call{id: callID, conv: conv, media: r.Media, caller: party{id.UserID, conn},
		state: stateRinging, created: s.now().UTC()}
	var online, busy []string
	for i, u := range invitees {
		switch {
		case !reachable[i]:
		case s.byUser[u] != nil:
			busy = append(busy, u)
		default:
			online = append(online, u)
		}
	}
	if len(online) == 0 { // nobody to ring: busy if someone was, else missed
		c.state = stateEnded
		if len(busy) > 0 {
			c.state, c.invitees = stateEnded, busy
			s.toDevice(&o, c.caller, protocol.EvCallBusy, c.view(id.UserID))
			s.record(&o, c, protocol.OutcomeBusy, 0)
		} else {
			s.record(&o, c, protocol.OutcomeMissed, 0)
		}
		v := c.view(id.UserID)
		v.Reason = map[bool]string{true: protocol.OutcomeBusy, false: protocol.OutcomeMissed}[len(busy) > 0]
		return v, nil
	}
	c.invitees = online
	s.calls[c.id] = c
	rings = true
	s.byUser[id.UserID] = c
	s.byConn[conn] = c
	for _, u := range online {
		s.toUser(&o, u, protocol.EvCallIncoming, c.view(u))
	}
	c.timer = time.AfterFunc(s.cfg.RingTimeout, func() { s.timeout(c.id, stateRinging) })
	return c.view(id.UserID), nil
}

// Accept answers a ringing call from this device.
func (s *Service) Accept(_ context.Context, id auth.Identity, conn, callID string) (protocol.Call, error) {
	var o outbox
	defer o.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[callID]
	if c == nil || c.state != stateRinging || !contains(c.invitees, id.UserID) {
		return protocol.Call{}, errNotInCall()
	}
	if cur := s.byUser[id.UserID]; cur != nil && cur != c {
		return protocol.Call{}, apperr.New(apperr.Conflict, CodeInCall, "you are already in a call")
	}
	return s.acceptLocked(&o, c, party{id.UserID, conn})
}

func (s *Service) acceptLocked(o *outbox, c *call, callee party) (protocol.Call, error) {
	c.timer.Stop()
	c.state, c.callee, c.started = stateActive, callee, s.now().UTC()
	s.byUser[callee.user] = c
	s.byConn[callee.conn] = c
	s.toDevice(o, c.caller, protocol.EvCallAccepted, c.view(c.caller.user))
	for _, u := range c.invitees { // every ringing device stops (the answering one knows)
		s.toUser(o, u, protocol.EvCallAnswered, c.view(u))
	}
	s.record(o, c, protocol.OutcomeStarted, 0)
	return c.view(callee.user), nil
}

// Reject declines a ringing call. With several callees (an inbox's
// agents) the call rings on for the others until the last declines.
func (s *Service) Reject(id auth.Identity, callID string) error {
	var o outbox
	defer o.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[callID]
	if c == nil || c.state != stateRinging || !contains(c.invitees, id.UserID) {
		return errNotInCall()
	}
	c.invitees = remove(c.invitees, id.UserID)
	s.toUser(&o, id.UserID, protocol.EvCallEnded, protocol.CallEnded{CallID: c.id, ConversationID: c.conv.ID, Reason: protocol.OutcomeDeclined})
	if len(c.invitees) == 0 {
		s.endLocked(&o, c, protocol.OutcomeDeclined)
	}
	return nil
}

// Hangup ends a call: the caller cancels a ringing one (missed for the
// callee), either party ends an active one.
func (s *Service) Hangup(id auth.Identity, conn, callID string) error {
	var o outbox
	defer o.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[callID]
	switch {
	case c == nil:
		return errNotInCall()
	case c.state == stateRinging && c.caller.user == id.UserID:
		s.endLocked(&o, c, protocol.OutcomeMissed)
	case c.state == stateActive && (c.caller.user == id.UserID || c.callee.user == id.UserID):
		s.endLocked(&o, c, protocol.OutcomeEnded)
	default:
		return errNotInCall()
	}
	return nil
}

// endLocked ends a call, tells everyone involved and records it.
func (s *Service) endLocked(o *outbox, c *call, outcome string) {
	if c.state == stateEnded {
		return
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	ended := protocol.CallEnded{CallID: c.id, ConversationID: c.conv.ID, Reason: outcome}
	var d time.Duration
	if c.state == stateActive {
		d = s.now().Sub(c.started)
		ended.DurationMS = d.Milliseconds()
		s.toDevice(o, c.caller, protocol.EvCallEnded, ended)
		s.toDevice(o, c.callee, protocol.EvCallEnded, ended)
	} else {
		s.toDevice(o, c.caller, protocol.EvCallEnded, ended)
		for _, u := range c.invitees {
			s.toUser(o, u, protocol.EvCallEnded, ended)
		}
	}
	c.state = stateEnded
	for _, p := range []party{c.caller, c.callee} {
		if s.byUser[p.user] == c {
			delete(s.byUser, p.user)
		}
		if s.byConn[p.conn] == c {
			delete(s.byConn, p.conn)
		}
	}
	delete(s.calls, c.id)
	if s.clustered() {
		id := c.id
		o.events = append(o.events, func() { s.drop(id) })
	}
	s.record(o, c, outcome, d)
}

// timeout ends a call still in state when its timer fires: a ring no one
// answered, or a party who did not come back.
func (s *Service) timeout(callID, state string) {
	var o outbox
	defer o.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[callID]
	if c == nil || c.state != state {
		return
	}
	if state == stateRinging {
		s.endLocked(&o, c, protocol.OutcomeMissed)
	} else if c.away != "" {
		s.endLocked(&o, c, protocol.OutcomeEnded)
	}
}

// Signal relays an offer, answer or ICE candidate from one device of a
// call to the other, and to no one else.
func (s *Service) Signal(id auth.Identity, conn, event string, sig protocol.CallSignal) error {
	var o outbox
	defer o.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[sig.CallID]
	if c == nil || c.state != stateActive {
		return errNotInCall()
	}
	var to party
	switch (party{id.UserID, conn}) {
	case c.caller:
		to = c.callee
	case c.callee:
		to = c.caller
	default:
		return errNotInCall()
	}
	sig.From = id.UserID
	s.toDevice(&o, to, event, sig)
	return nil
}

// Disconnected is told when a connection closes. A caller's ringing call
// ends as missed; a party of an active call has ReconnectGrace to rejoin
// from a new connection before the call ends.
func (s *Service) Disconnected(conn string) {
	if s.clustered() {
		s.disconnectedRemote(conn)
	}
	s.disconnectedHere(conn)
}

func (s *Service) disconnectedHere(conn string) {
	var o outbox
	defer o.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.byConn[conn]
	if c == nil {
		return
	}
	delete(s.byConn, conn)
	switch {
	case c.state == stateRinging && c.caller.conn == conn:
		s.endLocked(&o, c, protocol.OutcomeMissed)
	case c.state == stateActive:
		if c.away != "" { // both gone
			s.endLocked(&o, c, protocol.OutcomeEnded)
			return
		}
		c.away = c.caller.user
		if c.callee.conn == conn {
			c.away = c.callee.user
		}
		c.timer = time.AfterFunc(s.cfg.ReconnectGrace, func() { s.timeout(c.id, stateActive) })
	}
}

// Rejoin moves a party's side of an active call to this connection (after
// a reconnect). The other party is told, to restart ICE.
func (s *Service) Rejoin(id auth.Identity, conn, callID string) (protocol.Call, error) {
	var o outbox
	defer o.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[callID]
	if c == nil || c.state != stateActive || (c.caller.user != id.UserID && c.callee.user != id.UserID) {
		return protocol.Call{}, errNotInCall()
	}
	p, other := &c.caller, c.callee
	if c.callee.user == id.UserID {
		p, other = &c.callee, c.caller
	}
	if s.byConn[p.conn] == c {
		delete(s.byConn, p.conn)
	}
	p.conn = conn
	s.byConn[conn] = c
	if c.away == id.UserID {
		c.away = ""
		c.timer.Stop()
	}
	s.toDevice(&o, other, protocol.EvCallRejoined, c.view(other.user))
	return c.view(id.UserID), nil
}

// Close ends every call (the server is stopping).
func (s *Service) Close() {
	if s.stopChecks != nil {
		s.stopChecks()
	}
	var o outbox
	s.mu.Lock()
	s.closed = true
	for _, c := range s.calls {
		outcome := protocol.OutcomeMissed
		if c.state == stateActive {
			outcome = protocol.OutcomeEnded
		}
		s.endLocked(&o, c, outcome)
	}
	s.mu.Unlock()
	o.flush()
	s.records.stop()
}

// Active counts calls ringing or in progress.
func (s *Service) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func remove(xs []string, x string) []string {
	out := xs[:0]
	for _, y := range xs {
		if y != x {
			out = append(out, y)
		}
	}
	return out
}

// Package rooms runs group calls and broadcast channels on the server's
// SFU: who may create, join, publish in, watch and close a room, room ids
// and limits, the relay of each participant's negotiation and room events
// to exactly its WebSocket connection (through the bus: the user's topic,
// one device by bus.Event.Device), and leaving when a connection closes.
// Media never passes through here; it goes between browsers and the SFU
// (Media). It knows nothing of WebSocket or HTTP: transports call Dispatch
// and the REST methods with the caller's identity.
//
// Permissions, in an account (docs/protocol.md, Rooms and channels):
// owners, agents and members create and join rooms and publish in
// channels; visitors join only the rooms they were invited to and may
// watch channels; owners, agents, API keys and a room's creator close it;
// only owners (and API keys) record and get recordings.
//
// State lives in memory on the node whose SFU carries the room; with a
// directory and a relay (Config), other nodes forward their connections'
// requests there, and a room whose node dies comes back on another
// (nodes.go).
package rooms

import (
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/cluster"
	"github.com/parley-chat/parley/internal/cluster/relay"
	"github.com/parley-chat/parley/internal/ids"
	"github.com/parley-chat/parley/protocol"
)

// Config tunes rooms. Zero values take the defaults in brackets.
type Config struct {
	// MaxParticipants is the most participants a room may have; a room
	// created with a lower max_participants keeps its own [16]. Channels
	// have no limit on viewers.
	MaxParticipants int
	// EmptyTimeout closes a room nobody has been in for this long [5m].
	EmptyTimeout time.Duration
	// MaxPerConnection is how many rooms and channels one connection may
	// be in at once [8].
	MaxPerConnection int
	// MaxPerAccount is how many rooms and channels an account may have
	// open at once [1000].
	MaxPerAccount int
	// ICEServers gives a participant its STUN/TURN servers (RoomJoined).
	ICEServers func(auth.Identity) []protocol.ICEServer

	// Directory and Relay spread rooms over nodes (nodes.go); nil: every
	// room is on this node.
	Directory cluster.Directory
	Relay     *relay.Relay
	// CheckInterval is how often the nodes of remote participants and the
	// owners of remote rooms are checked for life [5s].
	CheckInterval time.Duration
	// Cascade, when set, lets viewers of another node's channel watch it
	// from this node's SFU (see Cascade).
	Cascade Cascade
	// EdgeAccept, when set, lets other nodes' cascades pull this node's
	// channels (cascade.Accept on this node's SFU): it answers an edge's
	// SDP offer for a room; stop ends that edge's subscription.
	EdgeAccept func(ctx context.Context, room, offer string) (answer string, stop func(), err error)
}

func (c *Config) defaults() {
	if c.MaxParticipants <= 0 {
		c.MaxParticipants = 16
	}
	if c.EmptyTimeout <= 0 {
		c.EmptyTimeout = 5 * time.Minute
	}
	if c.MaxPerConnection <= 0 {
		c.MaxPerConnection = 8
	}
	if c.MaxPerAccount <= 0 {
		c.MaxPerAccount = 1000
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = 5 * time.Second
	}
}

// Error codes of rooms (documented in docs/protocol.md).
const (
	CodeRoomFull    = "room_full"      // the room has max_participants already
	CodeChannelBusy = "channel_busy"   // the channel has a broadcaster already
	CodeNotInRoom   = "not_in_room"    // a request for a room this connection is not in
	CodeUnavailable = "unavailable"    // no SFU on this server
	CodeTooMany     = "too_many_rooms" // the account has MaxPerAccount rooms and channels open
)

// Reasons of room:closed (and ReasonMoved).
const (
	ReasonClosed       = "closed"
	ReasonShuttingDown = "shutting_down"
	ReasonExpired      = "expired"
)

// Service is the rooms domain. It is safe for concurrent use.
type Service struct {
	media Media
	rec   Recorder
	bus   bus.Bus
	cfg   Config
	log   *slog.Logger
	now   func() time.Time

	mu       sync.Mutex
	rooms    map[string]*room              // by id (rooms and channels)
	channels map[chanKey]*room             // by account and name
	edges    map[chanKey]*room             // other nodes' channels watched here through the cascade
	byConn   map[string]map[string]*member // connection → room id → member
	perAcct  map[string]int                // open rooms and channels per account
	closed   bool

	// Across nodes (nodes.go): this node's connections in other nodes'
	// rooms, and the node of each connection of another node in ours.
	remote     map[string]map[string]remoteRef // connection → room id → its owner
	connNode   map[string]string               // connection → its node (not this one)
	stopChecks func()                          // nil on one node
}

type chanKey struct{ account, name string }

type room struct {
	id, account, kind string
	name, channel     string
	createdBy         string
	created           time.Time
	max               int
	invited           []string
	members           map[string]*member // by participant id
	publisher         string             // a channel's broadcaster (participant id)
	empty             *time.Timer
	stopRec           func()
	edge              *edge    // a local copy of another node's channel (the cascade)
	edgeSubs          []func() // the edges pulling this channel: stop each when it closes
}

type member struct {
	id, user, conn string
	name           string    // as the other participants see it
	node           string    // the node of the connection; "" for this one
	joined         time.Time // when admitted
	publish        bool
	room           *room
	sess           MediaSession  // nil until the SFU admitted it (under s.mu)
	ready          chan struct{} // closed when connect is done, admitted or not
	gone           atomic.Bool   // left: drop what the SFU still says
}

// viewerParticipant is a channel's viewer as its broadcaster hears of it:
// a participant without tracks (tracks is [], as everywhere on the wire).
func (m *member) viewerParticipant() protocol.RoomParticipant {
	return protocol.RoomParticipant{ID: m.id, UserID: m.user, Name: m.name, JoinedAt: m.joined, Tracks: []protocol.RoomTrack{}}
}

// New returns the rooms service over an SFU (media) and, if rec is not
// nil, a recorder.
func New(media Media, rec Recorder, b bus.Bus, cfg Config, log *slog.Logger) *Service {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	s := &Service{media: media, rec: rec, bus: b, cfg: cfg, log: log, now: time.Now,
		rooms: map[string]*room{}, channels: map[chanKey]*room{}, edges: map[chanKey]*room{}, byConn: map[string]map[string]*member{}, perAcct: map[string]int{},
		remote: map[string]map[string]remoteRef{}, connNode: map[string]string{}}
	if s.clustered() {
		s.startNodes()
	}
	return s
}

// Config returns the service's configuration, defaults applied.
func (s *Service) Config() Config { return s.cfg }

var channelName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// maxTrackID bounds the track ids a client names (browsers make 36-byte UUIDs).
const maxTrackID = 128

func errNotInRoom() error {
	return apperr.New(apperr.Conflict, CodeNotInRoom, "you are not in that room")
}

func errNoRoom(id string) error {
	return apperr.NotFoundf("no room %q in your account", id)
}

func errStopping() error {
	return apperr.New(apperr.Unavailable, apperr.CodeShuttingDown, "the server is stopping")
}

func staff(id auth.Identity) bool {
	return id.Role == protocol.RoleOwner || id.Role == protocol.RoleAgent || id.Role == protocol.RoleMember
}

// Dispatch runs one room:* or channel:* request from a connection.
func (s *Service) Dispatch(ctx context.Context, id auth.Identity, conn, event string, decode func(any) error) (any, error) {
	if id.UserID == "" {
		return nil, apperr.Forbiddenf("rooms are for users")
	}
	if s.clustered() {
		return s.dispatchNodes(ctx, id, conn, event, decode)
	}
	return s.dispatch(ctx, id, conn, event, decode)
}

// dispatch runs a request on this node.
func (s *Service) dispatch(ctx context.Context, id auth.Identity, conn, event string, decode func(any) error) (any, error) {
	switch event {
	case protocol.EvRoomJoin:
		var r protocol.RoomJoin
		if err := decode(&r); err != nil {
			return nil, err
		}
		return s.Join(id, conn, r)
	case protocol.EvRoomLeave:
		var r protocol.RoomRef
		if err := decode(&r); err != nil {
			return nil, err
		}
		return struct{}{}, s.Leave(conn, r.Room)
	case protocol.EvRoomSignal:
		var r protocol.RoomSignal
		if err := decode(&r); err != nil {
			return nil, err
		}
		return struct{}{}, s.Signal(conn, r)
	case protocol.EvRoomSubscribe:
		var r protocol.RoomSubscribe
		if err := decode(&r); err != nil {
			return nil, err
		}
		return struct{}{}, s.Subscribe(conn, r)
	case protocol.EvRoomMute:
		var r protocol.RoomMute
		if err := decode(&r); err != nil {
			return nil, err
		}
		return struct{}{}, s.Mute(conn, r)
	case protocol.EvChannelPublish, protocol.EvChannelSubscribe, protocol.EvChannelLeave:
		var r protocol.ChannelRef
		if err := decode(&r); err != nil {
			return nil, err
		}
		switch event {
		case protocol.EvChannelPublish:
			return s.Publish(id, conn, r.Channel)
		case protocol.EvChannelSubscribe:
			return s.Watch(id, conn, r.Channel)
		}
		return struct{}{}, s.LeaveChannel(id, conn, r.Channel)
	}
	return nil, apperr.New(apperr.Invalid, apperr.CodeUnknownEvent, "unknown event %q", event)
}

// Create makes a room in the caller's account.
func (s *Service) Create(id auth.Identity, r protocol.CreateRoom) (protocol.Room, error) {
	if !staff(id) && !id.IsService() {
		return protocol.Room{}, apperr.Forbiddenf("only the account's owners, agents and members create rooms")
	}
	if len(r.Name) > 200 {
		return protocol.Room{}, apperr.Invalidf("name: at most 200 bytes")
	}
	if r.MaxParticipants < 0 || r.MaxParticipants > s.cfg.MaxParticipants {
		return protocol.Room{}, apperr.Invalidf("max_participants: 0 (the server's %d) up to %d", s.cfg.MaxParticipants, s.cfg.MaxParticipants)
	}
	if len(r.Invite) > 1000 {
		return protocol.Room{}, apperr.Invalidf("invite: at most 1000 users")
	}
	for _, u := range r.Invite {
		if u == "" || len(u) > 64 {
			return protocol.Room{}, apperr.Invalidf("invite: user ids")
		}
	}
	max := r.MaxParticipants
	if max == 0 {
		max = s.cfg.MaxParticipants
	}
	rm := &room{id: ids.New("room"), account: id.AccountID, kind: protocol.RoomKindRoom, name: r.Name,
		createdBy: id.UserID, created: s.now().UTC(), max: max, invited: slices.Clone(r.Invite),
		members: map[string]*member{}}
	var o outbox
	defer o.flush()
	if s.clustered() { // in the directory first: every node may look it up once we answer
		if err := s.own(rm); err != nil {
			return protocol.Room{}, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.roomyLocked(id.AccountID)
	if s.closed {
		err = errStopping()
	}
	if err != nil {
		if s.clustered() {
			o.add(func() { s.drop(rm) })
		}
		return protocol.Room{}, err
	}
	s.rooms[rm.id] = rm
	s.perAcct[rm.account]++
	s.armEmpty(rm)
	return s.viewLocked(rm, true), nil
}

// roomyLocked says whether the account may open one more room or channel.
func (s *Service) roomyLocked(account string) error {
	if s.perAcct[account] >= s.cfg.MaxPerAccount {
		return apperr.New(apperr.Conflict, CodeTooMany, "the account has %d rooms and channels open, its most: close some", s.cfg.MaxPerAccount)
	}
	return nil
}

// armEmpty starts a room's empty timer (under s.mu).
func (s *Service) armEmpty(rm *room) {
	if rm.kind != protocol.RoomKindRoom {
		return
	}
	if rm.empty != nil {
		rm.empty.Stop()
	}
	rm.empty = time.AfterFunc(s.cfg.EmptyTimeout, func() { s.expire(rm) })
}

func (s *Service) expire(rm *room) {
	var o outbox
	defer o.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rooms[rm.id] != rm || len(rm.members) > 0 {
		return
	}
	s.closeLocked(&o, rm, ReasonExpired)
}

// canSee: the room is the caller's account's, and the caller is staff,
// an API key, or invited.
func canSee(id auth.Identity, rm *room) bool {
	if rm.account != id.AccountID {
		return false
	}
	return staff(id) || id.IsService() || slices.Contains(rm.invited, id.UserID)
}

// Get returns a room with its participants and their tracks.
func (s *Service) Get(id auth.Identity, roomID string) (protocol.Room, error) {
	var v protocol.Room
	if ok, err := s.rest(id, "get", roomID, nil, &v); ok {
		return v, err
	}
	return s.getHere(id, roomID)
}

func (s *Service) getHere(id auth.Identity, roomID string) (protocol.Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rm := s.rooms[roomID]
	if rm == nil || !canSee(id, rm) {
		return protocol.Room{}, errNoRoom(roomID)
	}
	return s.viewLocked(rm, staff(id) || id.IsService()), nil
}

// List returns the rooms (not channels) of the caller's account it may see,
// oldest first.
func (s *Service) List(id auth.Identity) []protocol.Room {
	remote := s.remoteEntries(id.AccountID)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []protocol.Room{}
	for _, rm := range s.rooms {
		if rm.kind == protocol.RoomKindRoom && canSee(id, rm) {
			out = append(out, s.viewLocked(rm, staff(id) || id.IsService()))
		}
	}
	for _, d := range remote { // on other nodes: as the directory describes them
		if d.Kind == protocol.RoomKindRoom && s.rooms[d.ID] == nil && canSee(id, &room{account: d.Account, invited: d.Invited}) {
			out = append(out, d.view(staff(id) || id.IsService()))
		}
	}
	slices.SortFunc(out, func(a, b protocol.Room) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out
}

// Close ends a room: everyone in it gets room:closed and is out.
func (s *Service) Close(id auth.Identity, roomID string) error {
	if ok, err := s.rest(id, "close", roomID, nil, nil); ok {
		return err
	}
	return s.closeHere(id, roomID)
}

func (s *Service) closeHere(id auth.Identity, roomID string) error {
	var o outbox
	defer o.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	rm := s.rooms[roomID]
	if rm == nil || !canSee(id, rm) || rm.kind != protocol.RoomKindRoom {
		return errNoRoom(roomID)
	}
	if id.Role != protocol.RoleOwner && id.Role != protocol.RoleAgent && !id.IsService() && rm.createdBy != id.UserID {
		return apperr.Forbiddenf("only owners, agents and the room's creator close it")
	}
	s.closeLocked(&o, rm, ReasonClosed)
	return nil
}

// Invite lets more visitors (by user id) join a room: owners, agents, API
// keys and the room's creator.
func (s *Service) Invite(id auth.Identity, roomID string, users []string) (protocol.Room, error) {
	if len(users) == 0 || len(users) > 1000 {
		return protocol.Room{}, apperr.Invalidf("invite: 1 to 1000 user ids")
	}
	for _, u := range users {
		if u == "" || len(u) > 64 {
			return protocol.Room{}, apperr.Invalidf("invite: user ids")
		}
	}
	var v protocol.Room
	if ok, err := s.rest(id, "invite", roomID, users, &v); ok {
		return v, err
	}
	return s.inviteHere(id, roomID, users)
}

func (s *Service) inviteHere(id auth.Identity, roomID string, users []string) (protocol.Room, error) {
	v, e, err := s.inviteLocked(id, roomID, users)
	if err != nil || !s.clustered() {
		return v, err
	}
	// A room brought back on another node keeps its invitees.
	ctx, cancel := opCtx()
	defer cancel()
	if _, _, err := s.cfg.Directory.Own(ctx, e); err != nil {
		return protocol.Room{}, dirErr(err)
	}
	return v, nil
}

func (s *Service) inviteLocked(id auth.Identity, roomID string, users []string) (protocol.Room, cluster.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rm := s.rooms[roomID]
	if rm == nil || !canSee(id, rm) || rm.kind != protocol.RoomKindRoom {
		return protocol.Room{}, cluster.Entry{}, errNoRoom(roomID)
	}
	if id.Role != protocol.RoleOwner && id.Role != protocol.RoleAgent && !id.IsService() && rm.createdBy != id.UserID {
		return protocol.Room{}, cluster.Entry{}, apperr.Forbiddenf("only owners, agents and the room's creator invite")
	}
	for _, u := range users {
		if !slices.Contains(rm.invited, u) {
			if len(rm.invited) >= 1000 {
				return protocol.Room{}, cluster.Entry{}, apperr.Invalidf("invite: a room invites at most 1000 users")
			}
			rm.invited = append(rm.invited, u)
		}
	}
	return s.viewLocked(rm, true), rm.entry(), nil
}

// closeLocked removes a room, tells its participants and closes it in the SFU.
func (s *Service) closeLocked(o *outbox, rm *room, reason string) {
	if rm.empty != nil {
		rm.empty.Stop()
	}
	if rm.stopRec != nil {
		stop := rm.stopRec
		rm.stopRec = nil
		o.add(stop)
	}
	delete(s.rooms, rm.id)
	if s.perAcct[rm.account]--; s.perAcct[rm.account] <= 0 {
		delete(s.perAcct, rm.account)
	}
	if rm.edge != nil {
		delete(s.edges, chanKey{rm.account, rm.channel})
	} else if rm.kind == protocol.RoomKindChannel {
		delete(s.channels, chanKey{rm.account, rm.channel})
	}
	for _, m := range rm.members {
		m.gone.Store(true)
		s.forgetLocked(m)
		s.toMember(o, m, protocol.EvRoomClosed, protocol.RoomEvent{Reason: reason})
		s.tellNodeLocked(o, m)
	}
	rm.members = map[string]*member{}
	if rm.edge != nil { // the cascade's room: it ends it
		o.add(rm.edge.release)
		return
	}
	media := s.media
	o.add(func() { media.CloseRoom(rm.id) })
	for _, stop := range rm.edgeSubs {
		o.add(stop)
	}
	rm.edgeSubs = nil
	if s.clustered() {
		o.add(func() {
			if reason != ReasonMoved {
				s.drop(rm)
				return
			}
			ctx, cancel := opCtx() // it comes back on another node
			defer cancel()
			if err := s.cfg.Directory.Abandon(ctx, rm.key()); err != nil {
				s.log.Warn("rooms: directory", "room", rm.id, "err", err)
			}
		})
	}
}

// tellNodeLocked tells the node of a remote participant that it is out.
func (s *Service) tellNodeLocked(o *outbox, m *member) {
	if m.node == "" {
		return
	}
	node, conn, id := m.node, m.conn, m.room.id
	o.add(func() {
		s.cfg.Relay.Notify(node, kindLeft, struct{ Conn, Room string }{conn, id})
	})
}

// Join admits the caller's connection to a room.
func (s *Service) Join(id auth.Identity, conn string, r protocol.RoomJoin) (protocol.RoomJoined, error) {
	if r.Room == "" {
		return protocol.RoomJoined{}, apperr.Invalidf("room: required")
	}
	m, err := func() (*member, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return nil, errStopping()
		}
		rm := s.rooms[r.Room]
		if rm == nil || rm.account != id.AccountID || rm.kind != protocol.RoomKindRoom {
			return nil, errNoRoom(r.Room)
		}
		if !staff(id) && !slices.Contains(rm.invited, id.UserID) {
			return nil, apperr.Forbiddenf("visitors join only the rooms they are invited to")
		}
		if len(rm.members) >= rm.max {
			return nil, apperr.New(apperr.Conflict, CodeRoomFull, "the room has %d participants, its most", rm.max)
		}
		return s.admitLocked(id, conn, rm, r.Publish)
	}()
	if err != nil {
		return protocol.RoomJoined{}, err
	}
	return s.connect(id, m)
}

// admitLocked makes the connection a participant of rm, holding its place
// (it counts toward the room's limit) while the SFU admits it (connect).
func (s *Service) admitLocked(id auth.Identity, conn string, rm *room, publish bool) (*member, error) {
	mine := s.byConn[conn]
	if mine[rm.id] != nil {
		return nil, apperr.New(apperr.Conflict, apperr.CodeConflict, "this connection is in that room already")
	}
	if len(mine) >= s.cfg.MaxPerConnection {
		return nil, apperr.New(apperr.Conflict, apperr.CodeConflict, "a connection may be in %d rooms at most", s.cfg.MaxPerConnection)
	}
	name := id.DisplayName
	if name == "" {
		name = id.UserName
	}
	m := &member{id: ids.New("par"), user: id.UserID, name: name, joined: time.Now().UTC(), conn: conn, node: s.connNode[conn],
		publish: publish, room: rm, ready: make(chan struct{})}
	rm.members[m.id] = m
	if mine == nil {
		mine = map[string]*member{}
		s.byConn[conn] = mine
	}
	mine[rm.id] = m
	if rm.empty != nil {
		rm.empty.Stop()
		rm.empty = nil
	}
	return m, nil
}

// connect admits an admitted participant to the SFU, without holding s.mu
// (making its two PeerConnections takes a few milliseconds, and a thousand
// viewers joining a channel must not queue behind each other on the lock).
func (s *Service) connect(id auth.Identity, m *member) (protocol.RoomJoined, error) {
	defer close(m.ready)
	rm := m.room
	sess, err := s.media.Join(rm.id, MediaParticipant{
		ID: m.id, UserID: id.UserID, Name: m.name, CanPublish: m.publish,
		Hidden: viewer(m),
		OnSignal: func(sig protocol.RoomSignal) {
			if m.gone.Load() {
				return
			}
			sig.Room, sig.Channel = rm.id, rm.channel
			s.publish(m, protocol.EvRoomSignal, sig)
		},
		OnEvent: func(event string, ev protocol.RoomEvent) {
			if m.gone.Load() || event == protocol.EvRoomClosed { // we announce closing ourselves
				return
			}
			ev.Room, ev.Channel = rm.id, rm.channel
			s.publish(m, event, ev)
		},
	})
	var o outbox
	defer o.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if !m.gone.Load() {
			s.leaveLocked(&o, m)
		}
		return protocol.RoomJoined{}, apperr.Wrap("rooms.Join", err)
	}
	if m.gone.Load() { // the room closed, or the connection left, meanwhile
		o.add(sess.Leave)
		if s.rooms[rm.id] != rm {
			return protocol.RoomJoined{}, errNoRoom(rm.id)
		}
		return protocol.RoomJoined{}, errNotInRoom()
	}
	m.sess = sess
	out := protocol.RoomJoined{ParticipantID: m.id, Room: s.viewLocked(rm, staff(id))}
	if viewer(m) && rm.edge == nil { // a viewer sees the broadcaster only (an edge room has nobody else)
		out.Room.Participants = slices.DeleteFunc(out.Room.Participants, func(p protocol.RoomParticipant) bool { return p.ID != rm.publisher })
		s.toBroadcaster(&o, m, protocol.EvRoomParticipantJoined, m.viewerParticipant())
	}
	if s.cfg.ICEServers != nil {
		out.ICEServers = s.cfg.ICEServers(id)
	}
	return out, nil
}

// session waits until the connection's participant in a room is admitted
// by the SFU and returns its session; nil if there is none.
func (s *Service) session(conn, roomID string) (*member, MediaSession) {
	s.mu.Lock()
	m := s.memberOf(conn, roomID)
	s.mu.Unlock()
	if m == nil {
		return nil, nil
	}
	select {
	case <-m.ready:
	case <-time.After(10 * time.Second):
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.gone.Load() || m.sess == nil {
		return nil, nil
	}
	return m, m.sess
}

// memberOf finds the connection's participant in a room (under s.mu).
func (s *Service) memberOf(conn, roomID string) *member {
	return s.byConn[conn][roomID]
}

// Leave takes the connection out of a room (or a channel, by its room id).
func (s *Service) Leave(conn, roomID string) error {
	var o outbox
	defer o.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.memberOf(conn, roomID)
	if m == nil {
		return errNotInRoom()
	}
	s.leaveLocked(&o, m)
	return nil
}

// leaveLocked removes a member; an emptied channel closes, an emptied room
// waits EmptyTimeout.
func (s *Service) leaveLocked(o *outbox, m *member) {
	m.gone.Store(true)
	rm := m.room
	s.forgetLocked(m)
	delete(rm.members, m.id)
	s.tellNodeLocked(o, m)
	if viewer(m) && m.sess != nil { // the broadcaster heard of it
		s.toBroadcaster(o, m, protocol.EvRoomParticipantLeft, m.viewerParticipant())
	}
	if rm.publisher == m.id {
		rm.publisher = ""
	}
	if sess := m.sess; sess != nil { // else connect leaves it when the SFU answers
		o.add(sess.Leave)
	}
	if len(rm.members) == 0 && s.rooms[rm.id] == rm {
		if rm.kind == protocol.RoomKindChannel {
			s.closeLocked(o, rm, ReasonClosed)
		} else {
			s.armEmpty(rm)
		}
	}
}

func (s *Service) forgetLocked(m *member) {
	if mine := s.byConn[m.conn]; mine != nil {
		delete(mine, m.room.id)
		if len(mine) == 0 {
			delete(s.byConn, m.conn)
			delete(s.connNode, m.conn)
		}
	}
}

// Signal passes a connection's negotiation to its participant in the SFU.
func (s *Service) Signal(conn string, r protocol.RoomSignal) error {
	switch {
	case r.PC != protocol.PCPub && r.PC != protocol.PCSub:
		return apperr.Invalidf("pc: pub or sub")
	case r.Kind == protocol.SignalOffer && r.PC != protocol.PCPub:
		return apperr.Invalidf("only the pub connection is offered by the client")
	case r.Kind == protocol.SignalAnswer && r.PC != protocol.PCSub:
		return apperr.Invalidf("only the sub connection is answered by the client")
	case (r.Kind == protocol.SignalOffer || r.Kind == protocol.SignalAnswer) && r.SDP == "":
		return apperr.Invalidf("sdp: required")
	case r.Kind != protocol.SignalOffer && r.Kind != protocol.SignalAnswer && r.Kind != protocol.SignalCandidate:
		return apperr.Invalidf("kind: offer, answer or candidate")
	}
	m, sess := s.session(conn, r.Room)
	if m == nil {
		return errNotInRoom()
	}
	if r.PC == protocol.PCPub && !m.publish {
		return apperr.Forbiddenf("you joined to watch: join with publish to send")
	}
	if err := sess.Signal(r); err != nil {
		return apperr.Invalidf("the SFU refused the %s: %v", r.Kind, err)
	}
	return nil
}

// Subscribe sets how the connection shows one track.
func (s *Service) Subscribe(conn string, r protocol.RoomSubscribe) error {
	if r.Track == "" || len(r.Track) > maxTrackID || r.Width < 0 || r.Height < 0 || r.Width > 16384 || r.Height > 16384 {
		return apperr.Invalidf("track and a width and height from 0 to 16384")
	}
	m, sess := s.session(conn, r.Room)
	if m == nil {
		return errNotInRoom()
	}
	if err := sess.Subscribe(r.Track, r.Width, r.Height, r.Paused); err != nil {
		return apperr.NotFoundf("no track %q in the room", r.Track)
	}
	return nil
}

// Mute mutes or unmutes one of the connection's own tracks.
func (s *Service) Mute(conn string, r protocol.RoomMute) error {
	if r.Track == "" || len(r.Track) > maxTrackID {
		return apperr.Invalidf("track: a track id of at most %d bytes", maxTrackID)
	}
	m, sess := s.session(conn, r.Room)
	if m == nil {
		return errNotInRoom()
	}
	if err := sess.Mute(r.Track, r.Muted); err != nil {
		return apperr.New(apperr.Conflict, CodeNotInRoom, "no track %q of yours in the room", r.Track)
	}
	return nil
}

// Disconnected is told when a connection closes: it leaves every room,
// here and on other nodes.
func (s *Service) Disconnected(conn string) { s.disconnect(conn, true) }

// disconnect takes a closed connection out of this node's rooms and, if
// remote, tells the nodes of the other rooms it was in.
func (s *Service) disconnect(conn string, remote bool) {
	var o outbox
	defer o.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	if remote {
		s.disconnectedRemote(&o, conn)
	}
	for _, m := range s.byConn[conn] {
		s.leaveLocked(&o, m)
	}
}

// --- channels ---

// channelLocked returns the channel of that name, made on first use.
func (s *Service) channelLocked(id auth.Identity, name string) (*room, error) {
	if !channelName.MatchString(name) {
		return nil, apperr.Invalidf("channel: 1 to 64 characters of A-Z a-z 0-9 _ -")
	}
	if s.closed {
		return nil, errStopping()
	}
	k := chanKey{id.AccountID, name}
	rm := s.channels[k]
	if rm == nil && s.clustered() { // closed since it was located: locate again
		return nil, apperr.New(apperr.Conflict, apperr.CodeConflict, "channel %q just closed: try again", name)
	}
	if rm == nil {
		if err := s.roomyLocked(id.AccountID); err != nil {
			return nil, err
		}
		rm = &room{id: ids.New("chan"), account: id.AccountID, kind: protocol.RoomKindChannel, channel: name,
			createdBy: id.UserID, created: s.now().UTC(), members: map[string]*member{}}
		s.channels[k] = rm
		s.rooms[rm.id] = rm
		s.perAcct[rm.account]++
	}
	return rm, nil
}

// Publish makes the connection a channel's broadcaster.
func (s *Service) Publish(id auth.Identity, conn, name string) (protocol.RoomJoined, error) {
	if !staff(id) {
		return protocol.RoomJoined{}, apperr.Forbiddenf("only the account's owners, agents and members broadcast")
	}
	return s.enterChannel(id, conn, name, true)
}

// Watch makes the connection a viewer of a channel.
func (s *Service) Watch(id auth.Identity, conn, name string) (protocol.RoomJoined, error) {
	return s.enterChannel(id, conn, name, false)
}

// enterChannel admits the connection to a channel (made if need be) as
// its broadcaster or a viewer, then to the SFU.
func (s *Service) enterChannel(id auth.Identity, conn, name string, publish bool) (protocol.RoomJoined, error) {
	m, err := func() (*member, error) {
		var o outbox
		defer o.flush()
		s.mu.Lock()
		defer s.mu.Unlock()
		rm, err := s.channelLocked(id, name)
		if err != nil {
			return nil, err
		}
		if publish && rm.publisher != "" {
			return nil, apperr.New(apperr.Conflict, CodeChannelBusy, "channel %q has a broadcaster already", name)
		}
		m, err := s.admitLocked(id, conn, rm, publish)
		if err != nil {
			s.dropIfEmptyLocked(&o, rm)
			return nil, err
		}
		if publish {
			rm.publisher = m.id
		}
		return m, nil
	}()
	if err != nil {
		return protocol.RoomJoined{}, err
	}
	return s.connect(id, m)
}

func (s *Service) dropIfEmptyLocked(o *outbox, rm *room) {
	if len(rm.members) == 0 && s.rooms[rm.id] == rm {
		s.closeLocked(o, rm, ReasonClosed)
	}
}

// LeaveChannel stops broadcasting or watching.
func (s *Service) LeaveChannel(id auth.Identity, conn, name string) error {
	if !channelName.MatchString(name) {
		return apperr.Invalidf("channel: 1 to 64 characters of A-Z a-z 0-9 _ -")
	}
	var o outbox
	defer o.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	rm := s.channels[chanKey{id.AccountID, name}]
	if rm == nil {
		rm = s.edges[chanKey{id.AccountID, name}]
	}
	if rm == nil {
		return errNotInRoom()
	}
	m := s.memberOf(conn, rm.id)
	if m == nil {
		return errNotInRoom()
	}
	s.leaveLocked(&o, m)
	return nil
}

// Channels lists the account's channels with their broadcaster's bitrate
// and resolution, by name.
func (s *Service) Channels(id auth.Identity) []protocol.Channel {
	remote := s.remoteEntries(id.AccountID)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []protocol.Channel{}
	for _, d := range remote { // on other nodes: named, without live figures
		if d.Kind == protocol.RoomKindChannel && s.channels[chanKey{d.Account, d.Channel}] == nil {
			out = append(out, protocol.Channel{Name: d.Channel, Room: d.ID, StartedAt: d.Created})
		}
	}
	for k, rm := range s.channels {
		if k.account != id.AccountID {
			continue
		}
		v := s.viewLocked(rm, true)
		ch := protocol.Channel{Name: rm.channel, Room: rm.id, StartedAt: rm.created, Viewers: len(rm.members)}
		for _, p := range v.Participants {
			if p.ID != rm.publisher {
				continue
			}
			ch.Viewers--
			ch.Publisher = &protocol.User{ID: p.UserID, DisplayName: p.Name}
			for _, t := range p.Tracks {
				ch.Bitrate += t.Bitrate
				if t.Kind == "video" {
					ch.Live = true
					ch.Width, ch.Height, ch.Codec = t.Width, t.Height, t.Codec
				} else if ch.Codec == "" {
					ch.Live = true
				}
			}
		}
		if rm.publisher == "" {
			ch.Viewers = len(rm.members)
		}
		out = append(out, ch)
	}
	slices.SortFunc(out, func(a, b protocol.Channel) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// --- recording ---

// StartRecording records a room's tracks (owners and API keys).
func (s *Service) StartRecording(id auth.Identity, roomID string) (protocol.Room, error) {
	if id.Role != protocol.RoleOwner && !id.IsService() {
		return protocol.Room{}, apperr.Forbiddenf("only owners record")
	}
	var v protocol.Room
	if ok, err := s.rest(id, "record", roomID, nil, &v); ok {
		return v, err
	}
	return s.startRecordingHere(id, roomID)
}

func (s *Service) startRecordingHere(id auth.Identity, roomID string) (protocol.Room, error) {
	if s.rec == nil {
		return protocol.Room{}, apperr.New(apperr.Unavailable, CodeUnavailable, "recording is not available on this server")
	}
	var o outbox
	defer o.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	rm := s.rooms[roomID]
	if rm == nil || rm.account != id.AccountID {
		return protocol.Room{}, errNoRoom(roomID)
	}
	if rm.stopRec != nil {
		return protocol.Room{}, apperr.New(apperr.Conflict, apperr.CodeConflict, "the room is being recorded already")
	}
	stop, err := s.rec.Start(rm.account, rm.id)
	if err != nil {
		return protocol.Room{}, apperr.Wrap("rooms.StartRecording", err)
	}
	rm.stopRec = stop
	s.announceRecording(&o, rm)
	return s.viewLocked(rm, true), nil
}

// StopRecording stops a room's recording.
func (s *Service) StopRecording(id auth.Identity, roomID string) (protocol.Room, error) {
	if id.Role != protocol.RoleOwner && !id.IsService() {
		return protocol.Room{}, apperr.Forbiddenf("only owners record")
	}
	var v protocol.Room
	if ok, err := s.rest(id, "unrecord", roomID, nil, &v); ok {
		return v, err
	}
	return s.stopRecordingHere(id, roomID)
}

func (s *Service) stopRecordingHere(id auth.Identity, roomID string) (protocol.Room, error) {
	var o outbox
	defer o.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	rm := s.rooms[roomID]
	if rm == nil || rm.account != id.AccountID {
		return protocol.Room{}, errNoRoom(roomID)
	}
	if rm.stopRec == nil {
		return protocol.Room{}, apperr.New(apperr.Conflict, apperr.CodeConflict, "the room is not being recorded")
	}
	o.add(rm.stopRec)
	rm.stopRec = nil
	s.announceRecording(&o, rm)
	return s.viewLocked(rm, true), nil
}

// announceRecording tells everyone in the room whether it is being
// recorded (under s.mu): nobody should be recorded without seeing it.
func (s *Service) announceRecording(o *outbox, rm *room) {
	on := rm.stopRec != nil
	for _, m := range rm.members {
		s.toMember(o, m, protocol.EvRoomRecording, protocol.RoomEvent{Recording: &on})
	}
}

// Shutdown ends every room (the server is stopping); recordings are
// finished. Across nodes, its rooms move: their participants hear
// room:closed (moved) and the entries are given up for another node.
func (s *Service) Shutdown() {
	if s.stopChecks != nil {
		s.stopChecks()
	}
	reason := ReasonShuttingDown
	if s.clustered() {
		reason = ReasonMoved
	}
	var o outbox
	s.mu.Lock()
	s.closed = true
	for _, rm := range s.rooms {
		s.closeLocked(&o, rm, reason)
	}
	s.mu.Unlock()
	o.flush()
}

// Active counts rooms and channels.
func (s *Service) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rooms)
}

// viewLocked is the room as the API shows it; full adds who is invited.
func (s *Service) viewLocked(rm *room, full bool) protocol.Room {
	v := protocol.Room{ID: rm.id, Kind: rm.kind, Name: rm.name, Channel: rm.channel, CreatedBy: rm.createdBy,
		CreatedAt: rm.created, MaxParticipants: rm.max, Recording: rm.stopRec != nil, Participants: []protocol.RoomParticipant{}}
	if full {
		v.Invited = slices.Clone(rm.invited)
	}
	if len(rm.members) == 0 {
		return v
	}
	ps, _ := s.media.Participants(rm.id)
	for _, p := range ps {
		if rm.edge != nil && rm.members[p.ID] != nil {
			continue // an edge room shows the origin's broadcaster, as the cascade feeds it
		}
		if rm.edge == nil && rm.members[p.ID] == nil {
			continue // leaving
		}
		if p.Tracks == nil {
			p.Tracks = []protocol.RoomTrack{}
		}
		v.Participants = append(v.Participants, p)
	}
	return v
}

// --- delivery ---

// publish sends an event to exactly one participant's connection.
func (s *Service) publish(m *member, event string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		s.log.Error("rooms: encoding event", "event", event, "err", err)
		return
	}
	chat.ToDevice(s.bus, m.user, m.conn, event, data)
}

// toMember queues an event for a participant, sent after the lock is released.
func (s *Service) toMember(o *outbox, m *member, event string, ev protocol.RoomEvent) {
	ev.Room, ev.Channel = m.room.id, m.room.channel
	o.add(func() { s.publish(m, event, ev) })
}

// viewer tells a channel's viewer from its broadcaster.
func viewer(m *member) bool { return m.room.kind == protocol.RoomKindChannel && !m.publish }

// toBroadcaster tells a channel's broadcaster of a viewer coming or going.
// Viewers join the SFU hidden, so that they do not hear of each other (a
// thousand viewers would cost a million events); the broadcaster hears of
// every one from here.
func (s *Service) toBroadcaster(o *outbox, m *member, event string, p protocol.RoomParticipant) {
	if b := m.room.members[m.room.publisher]; b != nil && b.sess != nil {
		s.toMember(o, b, event, protocol.RoomEvent{Participant: &p})
	}
}

// outbox collects what a change must do after the lock is released.
type outbox struct{ fs []func() }

func (o *outbox) add(f func()) { o.fs = append(o.fs, f) }

func (o *outbox) flush() {
	for _, f := range o.fs {
		f()
	}
}

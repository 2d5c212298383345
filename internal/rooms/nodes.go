package rooms

// Rooms across nodes. A room or channel lives on the node whose SFU
// carries it (where it was created, or first entered); the directory
// (Config.Directory) says which node that is, under a lease that is the
// node's heartbeat. A room:* or channel:* request arriving at another node
// is forwarded to the owner over the relay and run there with the caller's
// identity and connection id (unique across nodes); the owner's events
// reach the connection through the bus as on one node, and the SDP it
// answers carries its own SFU's candidates, so media goes straight to it.
//
// Each side watches the other: the owner drops the participants of a node
// that died (or closed their connections: rooms:gone), and the node of a
// participant tells it room:closed with reason "moved" when the owner died
// (or shut down). The participant then joins again, through its own node,
// which takes the entry over with its description (id, name, invitees,
// limits) and brings the room back on its SFU.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/cluster"
	"github.com/parley-chat/parley/internal/cluster/relay"
	"github.com/parley-chat/parley/internal/ids"
	"github.com/parley-chat/parley/protocol"
)

// ReasonMoved (room:closed): the room's node stopped or died; the room
// comes back on another node when joined again (the SDKs do so at once).
const ReasonMoved = protocol.RoomReasonMoved

// Cascade serves a channel of another node from this node's SFU (the
// broadcast cascade, internal/cascade): Edge makes a local room carrying
// the origin channel's tracks (cascade.Pull into this node's SFU, its
// offer carried by signal to the origin, which answers with
// Config.EdgeAccept) and returns its id; release ends it, when its last
// local viewer leaves or the origin is gone. ended closes when the pull
// ends by itself: the origin closed the channel (its last participant
// there left, though viewers remain on edges) or stopped answering. The
// edge room then closes with reason moved, so its viewers watch again and
// reach the channel wherever it is now (or open it here). When
// Config.Cascade is set, viewers of another node's channel watch the
// local edge room instead of connecting to the origin; one edge room
// serves every viewer of the channel on this node. An Edge error falls
// back to connecting viewers to the origin.
type Cascade interface {
	Edge(ctx context.Context, originNode, channelKey string, signal EdgeSignal) (localRoom string, ended <-chan struct{}, release func(), err error)
}

// EdgeSignal carries an edge's SDP offer to the channel's origin node and
// returns its answer (a cascade.Signal).
type EdgeSignal func(ctx context.Context, offer string) (answer string, err error)

// edge is what a local copy of another node's channel remembers.
type edge struct {
	origin, key string
	release     func()
}

// Relay request kinds between the rooms of two nodes.
const (
	kindDo   = "rooms:do"   // a room:* or channel:* request of a connection on the asking node
	kindRest = "rooms:rest" // a REST operation on a room the asked node owns
	kindGone = "rooms:gone" // a connection on the asking node closed (one-way)
	kindLeft = "rooms:left" // the owner took a connection of the asked node out of a room (one-way)
	kindEdge = "rooms:edge" // an edge node's cascade asks to pull a channel of the asked node
)

// edgeRequest is an edge's offer for a channel (by key) of the origin.
type edgeRequest struct {
	Key   string `json:"key"`
	Offer string `json:"offer"`
}

// desc is a room as the directory keeps it: enough to bring it back.
type desc struct {
	ID        string    `json:"id"`
	Account   string    `json:"account"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name,omitempty"`
	Channel   string    `json:"channel,omitempty"`
	CreatedBy string    `json:"created_by,omitempty"`
	Created   time.Time `json:"created"`
	Max       int       `json:"max,omitempty"`
	Invited   []string  `json:"invited,omitempty"`
}

// remoteRef is a local connection's place in another node's room.
type remoteRef struct {
	owner, key, user, channel string
}

func channelKey(account, name string) string { return "ch:" + account + "/" + name }

func (rm *room) key() string {
	if rm.kind == protocol.RoomKindChannel {
		return channelKey(rm.account, rm.channel)
	}
	return rm.id
}

func (rm *room) entry() cluster.Entry {
	d, _ := json.Marshal(desc{ID: rm.id, Account: rm.account, Kind: rm.kind, Name: rm.name, Channel: rm.channel,
		CreatedBy: rm.createdBy, Created: rm.created, Max: rm.max, Invited: rm.invited})
	return cluster.Entry{Key: rm.key(), Room: rm.id, Account: rm.account, Desc: d}
}

func (s *Service) clustered() bool { return s.cfg.Directory != nil && s.cfg.Relay != nil }

func (s *Service) me() string { return s.cfg.Directory.Node() }

func dirErr(err error) error {
	return apperr.New(apperr.Unavailable, relay.CodeNodeUnavailable, "the room directory did not answer: %v", err)
}

func opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), relay.DefaultTimeout)
}

// own records a new room of this node in the directory.
func (s *Service) own(rm *room) error {
	ctx, cancel := opCtx()
	defer cancel()
	if _, _, err := s.cfg.Directory.Own(ctx, rm.entry()); err != nil {
		return dirErr(err)
	}
	return nil
}

// drop takes a room out of the directory (its id: never a newer room of
// the same channel).
func (s *Service) drop(rm *room) {
	ctx, cancel := opCtx()
	defer cancel()
	if err := s.cfg.Directory.Drop(ctx, rm.key(), rm.id); err != nil {
		s.log.Warn("rooms: directory", "room", rm.id, "err", err)
	}
}

// locate says which node runs key: "" for this one, after bringing the
// room back here if the directory says it is ours, or its owner is gone.
// fresh makes the entry when there is none (a channel's first use); nil:
// there is none (errNoRoom).
func (s *Service) locate(ctx context.Context, key string, fresh func() *room) (string, error) {
	if s.localKey(key) {
		return "", nil
	}
	e, alive, ok, err := s.cfg.Directory.Lookup(ctx, key)
	if err != nil {
		return "", dirErr(err)
	}
	var rm *room
	switch {
	case ok && alive && e.Node != s.me():
		return e.Node, nil
	case ok:
		var d desc
		if err := json.Unmarshal(e.Desc, &d); err != nil || d.ID == "" {
			return "", apperr.Wrap("rooms.locate", fmt.Errorf("the directory's description of %s: %q: %v", key, e.Desc, err))
		}
		rm = &room{id: d.ID, account: d.Account, kind: d.Kind, name: d.Name, channel: d.Channel, createdBy: d.CreatedBy,
			created: d.Created, max: d.Max, invited: d.Invited, members: map[string]*member{}}
		if rm.kind == protocol.RoomKindRoom && rm.max <= 0 {
			rm.max = s.cfg.MaxParticipants
		}
	case fresh != nil:
		rm = fresh()
	default:
		return "", errNoRoom(key)
	}
	cur, mine, err := s.cfg.Directory.Own(ctx, rm.entry())
	if err != nil {
		return "", dirErr(err)
	}
	if !mine {
		return cur.Node, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", errStopping()
	}
	if s.localKeyLocked(key) {
		return "", nil // brought back by a racing request
	}
	if err := s.roomyLocked(rm.account); err != nil {
		return "", err
	}
	s.rooms[rm.id] = rm
	s.perAcct[rm.account]++
	if rm.kind == protocol.RoomKindChannel {
		s.channels[chanKey{rm.account, rm.channel}] = rm
	} else {
		s.armEmpty(rm)
	}
	return "", nil
}

func (s *Service) localKey(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.localKeyLocked(key)
}

func (s *Service) localKeyLocked(key string) bool {
	if rest, ok := strings.CutPrefix(key, "ch:"); ok {
		account, name, _ := strings.Cut(rest, "/") // account ids hold no "/"
		return s.channels[chanKey{account, name}] != nil
	}
	return s.rooms[key] != nil
}

// target is the node a request goes to: "" for this one (bringing its
// room back here if need be, see locate).
func (s *Service) target(ctx context.Context, id auth.Identity, conn, event, roomID, channel string) (string, error) {
	switch event {
	case protocol.EvRoomJoin:
		if roomID == "" {
			return "", nil
		}
		return s.locate(ctx, roomID, nil)
	case protocol.EvChannelPublish, protocol.EvChannelSubscribe:
		if !channelName.MatchString(channel) {
			return "", nil
		}
		return s.locate(ctx, channelKey(id.AccountID, channel), func() *room { return s.newChannel(id, channel) })
	case protocol.EvChannelLeave:
		return s.remoteOwner(conn, "", channel), nil
	}
	return s.remoteOwner(conn, roomID, ""), nil // room:leave, room:signal, room:subscribe, room:mute
}

// codeNoEdge: the cascade could not make an edge room (viewers then
// connect to the origin); never seen by clients.
const codeNoEdge = "no_edge"

// watchEdge makes the connection a viewer of the local edge room of
// another node's channel, made through the cascade on first use.
func (s *Service) watchEdge(ctx context.Context, id auth.Identity, conn, name, origin string) (protocol.RoomJoined, error) {
	k, key := chanKey{id.AccountID, name}, channelKey(id.AccountID, name)
	s.mu.Lock()
	rm := s.edges[k]
	s.mu.Unlock()
	if rm != nil && rm.edge.origin != origin {
		s.lost(rm) // pulled from an origin that is not the channel's now: its viewers join again
		rm = nil
	}
	if rm == nil {
		local, ended, release, err := s.cfg.Cascade.Edge(ctx, origin, key, s.edgeSignal(origin, key))
		if err != nil {
			s.log.Warn("rooms: no edge room: viewers connect to the origin", "channel", key, "origin", origin, "err", err)
			return protocol.RoomJoined{}, apperr.New(apperr.Unavailable, codeNoEdge, "no edge")
		}
		s.mu.Lock()
		if cur := s.edges[k]; cur != nil && cur.edge.origin == origin { // made meanwhile
			s.mu.Unlock()
			release()
			rm = cur
		} else {
			rm = &room{id: local, account: id.AccountID, kind: protocol.RoomKindChannel, channel: name, created: s.now().UTC(),
				members: map[string]*member{}, edge: &edge{origin: origin, key: key, release: release}}
			s.edges[k] = rm
			s.rooms[rm.id] = rm
			s.perAcct[rm.account]++
			s.mu.Unlock()
			go func() { // a pull of a closed or dead origin must not linger
				<-ended
				s.lost(rm)
			}()
		}
	}
	m, err := func() (*member, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.edges[k] != rm {
			return nil, apperr.New(apperr.Conflict, apperr.CodeConflict, "channel %q just closed: try again", name)
		}
		return s.admitLocked(id, conn, rm, false)
	}()
	if err != nil {
		return protocol.RoomJoined{}, err
	}
	return s.connect(id, m)
}

// edgeSignal carries an edge's offer for key to its origin node.
func (s *Service) edgeSignal(origin, key string) EdgeSignal {
	return func(ctx context.Context, offer string) (string, error) {
		var answer string
		err := s.cfg.Relay.Call(ctx, origin, kindEdge, edgeRequest{Key: key, Offer: offer}, &answer)
		return answer, err
	}
}

// acceptEdge admits another node's cascade to a channel of this node.
func (s *Service) acceptEdge(ctx context.Context, q edgeRequest) (string, error) {
	if s.cfg.EdgeAccept == nil {
		return "", apperr.New(apperr.Unavailable, CodeUnavailable, "this node serves no edges")
	}
	s.mu.Lock()
	var rm *room
	if s.localKeyLocked(q.Key) && strings.HasPrefix(q.Key, "ch:") {
		account, name, _ := strings.Cut(strings.TrimPrefix(q.Key, "ch:"), "/")
		rm = s.channels[chanKey{account, name}]
	}
	s.mu.Unlock()
	if rm == nil {
		return "", errNoRoom(q.Key)
	}
	answer, stop, err := s.cfg.EdgeAccept(ctx, rm.id, q.Offer)
	if err != nil {
		return "", apperr.Wrap("rooms.acceptEdge", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rooms[rm.id] != rm { // closed meanwhile
		go stop()
		return "", errNoRoom(q.Key)
	}
	rm.edgeSubs = append(rm.edgeSubs, stop)
	return answer, nil
}

// dispatchNodes routes a request to the node of its room.
func (s *Service) dispatchNodes(ctx context.Context, id auth.Identity, conn, event string, decode func(any) error) (any, error) {
	var raw json.RawMessage
	if err := decode(&raw); err != nil {
		return nil, err
	}
	here := func() (any, error) { return s.dispatch(ctx, id, conn, event, relay.Decoder(raw)) }
	var head struct {
		Room    string `json:"room"`
		Channel string `json:"channel"`
	}
	_ = json.Unmarshal(raw, &head) // a malformed request fails here, below
	owner, err := s.target(ctx, id, conn, event, head.Room, head.Channel)
	if err != nil {
		return nil, err
	}
	if owner == "" {
		return here()
	}
	if event == protocol.EvChannelSubscribe && s.cfg.Cascade != nil {
		if j, err := s.watchEdge(ctx, id, conn, head.Channel, owner); err == nil || !apperr.Is(err, codeNoEdge) {
			return j, err
		}
	}
	var out json.RawMessage
	err = s.cfg.Relay.Call(ctx, owner, kindDo, relay.Request{ID: id, Conn: conn, Event: event, Data: raw}, &out)
	if err != nil {
		return nil, err
	}
	switch event {
	case protocol.EvRoomJoin, protocol.EvChannelPublish, protocol.EvChannelSubscribe:
		var j protocol.RoomJoined
		if err := json.Unmarshal(out, &j); err == nil && j.Room.ID != "" {
			s.mu.Lock()
			if s.remote[conn] == nil {
				s.remote[conn] = map[string]remoteRef{}
			}
			key := j.Room.ID
			if j.Room.Kind == protocol.RoomKindChannel {
				key = channelKey(id.AccountID, j.Room.Channel)
			}
			s.remote[conn][j.Room.ID] = remoteRef{owner: owner, key: key, user: id.UserID, channel: j.Room.Channel}
			s.mu.Unlock()
		}
	case protocol.EvRoomLeave, protocol.EvChannelLeave:
		s.forgetRemote(conn, head.Room, head.Channel)
	}
	return out, nil
}

// remoteOwner is the node of the remote room (by id, or channel name) the
// connection is in; "" when it is not in one.
func (s *Service) remoteOwner(conn, roomID, channel string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, r := range s.remote[conn] {
		if id == roomID || channel != "" && r.channel == channel {
			return r.owner
		}
	}
	return ""
}

func (s *Service) forgetRemote(conn, roomID, channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, r := range s.remote[conn] {
		if id == roomID || channel != "" && r.channel == channel {
			delete(s.remote[conn], id)
		}
	}
	if len(s.remote[conn]) == 0 {
		delete(s.remote, conn)
	}
}

// newChannel is a channel about to be opened here (not yet in s.rooms).
func (s *Service) newChannel(id auth.Identity, name string) *room {
	return &room{id: ids.New("chan"), account: id.AccountID, kind: protocol.RoomKindChannel, channel: name,
		createdBy: id.UserID, created: s.now().UTC(), members: map[string]*member{}}
}

// restRequest is a REST operation forwarded to a room's owner.
type restRequest struct {
	Op    string        `json:"op"`
	ID    auth.Identity `json:"id"`
	Room  string        `json:"room"`
	Users []string      `json:"users,omitempty"`
}

// rest runs a REST operation on a room where it lives: here (ok false), or
// on its owner, whose answer goes into out.
func (s *Service) rest(id auth.Identity, op, roomID string, users []string, out any) (bool, error) {
	if !s.clustered() {
		return false, nil
	}
	ctx, cancel := opCtx()
	defer cancel()
	owner, err := s.locate(ctx, roomID, nil)
	if err != nil {
		if apperr.As(err).Kind == apperr.NotFound {
			return false, nil // answered here: not found
		}
		return true, err
	}
	if owner == "" {
		return false, nil
	}
	return true, s.cfg.Relay.Call(ctx, owner, kindRest, restRequest{Op: op, ID: id, Room: roomID, Users: users}, out)
}

// startNodes registers the relay handlers and starts the liveness checks.
func (s *Service) startNodes() {
	r := s.cfg.Relay
	r.Handle(kindDo, func(ctx context.Context, from string, data json.RawMessage) (any, error) {
		f, err := relay.DecodeRequest(data)
		if err != nil {
			return nil, err
		}
		var head struct {
			Room    string `json:"room"`
			Channel string `json:"channel"`
		}
		_ = json.Unmarshal(f.Data, &head)
		switch f.Event {
		case protocol.EvRoomJoin, protocol.EvChannelPublish, protocol.EvChannelSubscribe:
			// Ours by the directory, but maybe not in memory (this node
			// restarted): bring it back. Another node's since: try again.
			if owner, err := s.target(ctx, f.ID, f.Conn, f.Event, head.Room, head.Channel); err != nil {
				return nil, err
			} else if owner != "" {
				return nil, apperr.New(apperr.Unavailable, relay.CodeNodeUnavailable, "the room moved to another node: try again")
			}
		}
		s.mu.Lock()
		s.connNode[f.Conn] = from
		s.mu.Unlock()
		res, err := s.dispatch(ctx, f.ID, f.Conn, f.Event, relay.Decoder(f.Data))
		s.mu.Lock()
		if s.byConn[f.Conn] == nil {
			delete(s.connNode, f.Conn)
		}
		s.mu.Unlock()
		return res, err
	})
	r.Handle(kindRest, func(_ context.Context, _ string, data json.RawMessage) (any, error) {
		var q restRequest
		if err := json.Unmarshal(data, &q); err != nil {
			return nil, apperr.Invalidf("forwarded request: %v", err)
		}
		switch q.Op {
		case "get":
			return s.getHere(q.ID, q.Room)
		case "close":
			return struct{}{}, s.closeHere(q.ID, q.Room)
		case "invite":
			return s.inviteHere(q.ID, q.Room, q.Users)
		case "record":
			return s.startRecordingHere(q.ID, q.Room)
		case "unrecord":
			return s.stopRecordingHere(q.ID, q.Room)
		}
		return nil, apperr.Invalidf("unknown operation %q", q.Op)
	})
	r.Handle(kindGone, func(_ context.Context, _ string, data json.RawMessage) (any, error) {
		var conn string
		json.Unmarshal(data, &conn)
		s.disconnect(conn, false)
		return nil, nil
	})
	r.Handle(kindEdge, func(ctx context.Context, _ string, data json.RawMessage) (any, error) {
		var q edgeRequest
		if err := json.Unmarshal(data, &q); err != nil {
			return nil, apperr.Invalidf("edge request: %v", err)
		}
		return s.acceptEdge(ctx, q)
	})
	r.Handle(kindLeft, func(_ context.Context, _ string, data json.RawMessage) (any, error) {
		var l struct{ Conn, Room string }
		json.Unmarshal(data, &l)
		s.forgetRemote(l.Conn, l.Room, "")
		return nil, nil
	})
	s.stopChecks = cluster.Every(s.cfg.CheckInterval, func() { s.CheckNodes(context.Background()) })
}

// CheckNodes runs the liveness checks once (every CheckInterval): participants whose node died leave; connections here in
// a room whose owner died or gave it up hear room:closed (moved); a room
// of this node that another took over (this node stalled past its lease)
// closes here (moved).
func (s *Service) CheckNodes(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CheckInterval+relay.DefaultTimeout)
	defer cancel()
	s.mu.Lock()
	var nodes []string
	for _, rm := range s.rooms {
		for _, m := range rm.members {
			if m.node != "" && !slices.Contains(nodes, m.node) {
				nodes = append(nodes, m.node)
			}
		}
	}
	owners := map[string]string{} // key → owner
	for _, refs := range s.remote {
		for _, r := range refs {
			owners[r.key] = r.owner
		}
	}
	local := make([]*room, 0, len(s.rooms))
	for _, rm := range s.rooms {
		local = append(local, rm)
	}
	s.mu.Unlock()
	for _, rm := range local {
		e, alive, ok, err := s.cfg.Directory.Lookup(ctx, rm.key())
		switch {
		case err != nil:
		case rm.edge != nil && !(ok && alive && e.Node == rm.edge.origin): // its origin is gone
			s.lost(rm)
		case rm.edge == nil && ok && e.Node != s.me(): // taken over while this node stalled
			s.lost(rm)
		}
	}
	if alive, err := s.cfg.Directory.Alive(ctx, nodes...); err == nil {
		for i, n := range nodes {
			if !alive[i] {
				s.dropNode(n)
			}
		}
	}
	for key, owner := range owners {
		e, alive, ok, err := s.cfg.Directory.Lookup(ctx, key)
		if err != nil || ok && alive && e.Node == owner {
			continue
		}
		s.ownerLost(key, owner)
	}
}

// lost closes a room another node took over, or an edge room whose pull
// ended (moved: its participants join again, and reach it there); a room
// closed already is left alone.
func (s *Service) lost(rm *room) {
	var o outbox
	defer o.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rooms[rm.id] == rm {
		s.log.Warn("rooms: closing a room that moved", "room", rm.id)
		s.closeLocked(&o, rm, ReasonMoved)
	}
}

// dropNode takes out every participant whose connection was on node.
func (s *Service) dropNode(node string) {
	var o outbox
	defer o.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	for conn, n := range s.connNode {
		if n != node {
			continue
		}
		for _, m := range s.byConn[conn] {
			s.leaveLocked(&o, m)
		}
		delete(s.connNode, conn)
	}
}

// ownerLost tells this node's connections in key's room, whose owner is
// gone, to join again.
func (s *Service) ownerLost(key, owner string) {
	var o outbox
	defer o.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	for conn, refs := range s.remote {
		for id, r := range refs {
			if r.key != key || r.owner != owner {
				continue
			}
			delete(refs, id)
			m := &member{user: r.user, conn: conn, room: &room{id: id, channel: r.channel}}
			s.toMember(&o, m, protocol.EvRoomClosed, protocol.RoomEvent{Reason: ReasonMoved})
		}
		if len(refs) == 0 {
			delete(s.remote, conn)
		}
	}
}

// disconnectedRemote tells the owners of the connection's remote rooms
// that it closed (under s.mu).
func (s *Service) disconnectedRemote(o *outbox, conn string) {
	told := map[string]bool{}
	for _, r := range s.remote[conn] {
		if !told[r.owner] {
			told[r.owner] = true
			owner := r.owner
			o.add(func() { s.cfg.Relay.Notify(owner, kindGone, conn) })
		}
	}
	delete(s.remote, conn)
}

// remoteEntries are the account's rooms and channels on other nodes, as
// the directory describes them.
func (s *Service) remoteEntries(account string) []desc {
	if !s.clustered() {
		return nil
	}
	ctx, cancel := opCtx()
	defer cancel()
	es, err := s.cfg.Directory.List(ctx, account)
	if err != nil {
		s.log.Warn("rooms: listing the directory", "err", err)
		return nil
	}
	var out []desc
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range es {
		var d desc
		if json.Unmarshal(e.Desc, &d) != nil || s.rooms[d.ID] != nil {
			continue
		}
		out = append(out, d)
	}
	return out
}

func (d desc) view(full bool) protocol.Room {
	v := protocol.Room{ID: d.ID, Kind: d.Kind, Name: d.Name, Channel: d.Channel, CreatedBy: d.CreatedBy,
		CreatedAt: d.Created, MaxParticipants: d.Max, Participants: []protocol.RoomParticipant{}}
	if full {
		v.Invited = slices.Clone(d.Invited)
	}
	return v
}

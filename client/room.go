package client

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parley-chat/parley/protocol"
)

// Room is one participant of a group call room or a channel, in Go: a pub
// PeerConnection for what it sends (it offers) and a sub one for what it
// receives (the SFU offers), signalled over a Conn (docs/protocol.md, Rooms
// and channels). Tests and load tools use it as a browser would.
//
// The Conn's events reach a Room only through Handle: whoever reads
// Conn.Events passes room events on (see Rooms).
type Room struct {
	conn *Conn
	ID   string // the room's id (a channel's room id once joined)
	Me   string // our participant id
	Info protocol.Room

	Pub, Sub *webrtc.PeerConnection
	// Tracks delivers each remote track as the sub connection gets it.
	Tracks chan *webrtc.TrackRemote
	// Events delivers the room's events (not room:signal), named.
	Events chan protocol.Envelope
	// Rejoined gets a value each time the Room joined again by itself
	// because its node moved it (room:closed, reason moved: the room's
	// node stopped or died); Pub, Sub and Me are new then, and the new
	// connection's tracks come on Tracks.
	Rejoined chan struct{}

	mu       sync.Mutex
	subQ     chan protocol.RoomSignal // applied in order by one worker each
	pubQ     chan protocol.RoomSignal
	early    []protocol.RoomSignal
	joined   bool
	closed   bool
	channel  string
	event    string // the request that joined it (room:join, channel:publish, channel:subscribe)
	opts     RoomOptions
	signalWG sync.WaitGroup
}

// RoomOptions shape a Room's connections.
type RoomOptions struct {
	// API makes the PeerConnections (codecs, interceptors, network);
	// nil: pion's defaults.
	API *webrtc.API
	// Config is their RTCConfiguration (ICE servers); the join reply's are
	// added.
	Config webrtc.Configuration
	// Tracks are sent on the pub connection (nil: receive only).
	Tracks []webrtc.TrackLocal
}

// Rooms routes a Conn's events to its Rooms and passes the rest on.
type Rooms struct {
	mu     sync.Mutex
	byID   map[string]*Room
	byChan map[string]*Room
	Other  chan protocol.Envelope // events no Room took
}

// NewRooms reads c's events until it closes, routing room events to the
// Rooms joined through it.
func NewRooms(c *Conn) *Rooms {
	rs := &Rooms{byID: map[string]*Room{}, byChan: map[string]*Room{}, Other: make(chan protocol.Envelope, 1024)}
	go func() {
		defer close(rs.Other)
		for env := range c.Events() {
			if !rs.route(env) {
				select {
				case rs.Other <- env:
				default: // nobody reads them
				}
			}
		}
	}()
	return rs
}

func (rs *Rooms) route(env protocol.Envelope) bool {
	var head struct {
		Room    string `json:"room"`
		Channel string `json:"channel"`
	}
	if len(env.Event) < 5 || env.Event[:5] != "room:" || json.Unmarshal(env.Data, &head) != nil {
		return false
	}
	rs.mu.Lock()
	r := rs.byID[head.Room]
	if r == nil && head.Channel != "" {
		r = rs.byChan[head.Channel]
	}
	rs.mu.Unlock()
	if r == nil {
		return false
	}
	r.handle(env)
	if env.Event == protocol.EvRoomClosed {
		var ev protocol.RoomEvent
		if json.Unmarshal(env.Data, &ev) == nil && ev.Reason == protocol.RoomReasonMoved {
			go rs.rejoin(r)
		}
	}
	return true
}

// rejoin joins a moved room again, as a new participant with the same
// tracks, on new connections: the room comes back on another node. A node
// that does not answer yet (its lease has not run out) is asked again a few
// times, further apart.
func (rs *Rooms) rejoin(r *Room) {
	r.mu.Lock()
	if r.closed || !r.joined {
		r.mu.Unlock()
		return
	}
	r.joined, r.early = false, nil
	close(r.subQ)
	close(r.pubQ)
	r.subQ, r.pubQ = nil, nil
	pcs := []*webrtc.PeerConnection{r.Pub, r.Sub}
	r.mu.Unlock()
	for _, pc := range pcs {
		if pc != nil {
			pc.Close()
		}
	}
	r.signalWG.Wait()
	var req any = protocol.ChannelRef{Channel: r.channel}
	if r.event == protocol.EvRoomJoin {
		req = protocol.RoomJoin{Room: r.ID, Publish: len(r.opts.Tracks) > 0}
	}
	for try := 0; try < 6; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		var j protocol.RoomJoined
		err := r.conn.Request(ctx, r.event, req, &j)
		if err == nil {
			r.mu.Lock()
			closed := r.closed
			r.mu.Unlock()
			if !closed {
				err = r.start(ctx, j, r.opts)
			}
			cancel()
			if err == nil && !closed {
				select {
				case r.Rejoined <- struct{}{}:
				default:
				}
			}
			return
		}
		cancel()
		var e *Error
		if !errors.As(err, &e) || (e.Code != "node_unavailable" && e.Code != "conflict") {
			return
		}
		time.Sleep(time.Second << try)
	}
}

// Join enters a group call room.
func (rs *Rooms) Join(ctx context.Context, c *Conn, roomID string, o RoomOptions) (*Room, error) {
	r := rs.newRoom(c, roomID, "", protocol.EvRoomJoin, o)
	var j protocol.RoomJoined
	err := c.Request(ctx, protocol.EvRoomJoin, protocol.RoomJoin{Room: roomID, Publish: len(o.Tracks) > 0}, &j)
	return rs.joined(ctx, r, j, err, o)
}

// Publish broadcasts o.Tracks on a channel.
func (rs *Rooms) Publish(ctx context.Context, c *Conn, channel string, o RoomOptions) (*Room, error) {
	r := rs.newRoom(c, "", channel, protocol.EvChannelPublish, o)
	var j protocol.RoomJoined
	err := c.Request(ctx, protocol.EvChannelPublish, protocol.ChannelRef{Channel: channel}, &j)
	return rs.joined(ctx, r, j, err, o)
}

// Watch views a channel.
func (rs *Rooms) Watch(ctx context.Context, c *Conn, channel string, o RoomOptions) (*Room, error) {
	o.Tracks = nil
	r := rs.newRoom(c, "", channel, protocol.EvChannelSubscribe, o)
	var j protocol.RoomJoined
	err := c.Request(ctx, protocol.EvChannelSubscribe, protocol.ChannelRef{Channel: channel}, &j)
	return rs.joined(ctx, r, j, err, o)
}

func (rs *Rooms) newRoom(c *Conn, id, channel, event string, o RoomOptions) *Room {
	r := &Room{conn: c, ID: id, channel: channel, event: event, opts: o, Tracks: make(chan *webrtc.TrackRemote, 64),
		Events: make(chan protocol.Envelope, 1024), Rejoined: make(chan struct{}, 1)}
	rs.mu.Lock()
	if id != "" {
		rs.byID[id] = r
	}
	if channel != "" {
		rs.byChan[channel] = r
	}
	rs.mu.Unlock()
	return r
}

func (rs *Rooms) forget(r *Room) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.byID[r.ID] == r {
		delete(rs.byID, r.ID)
	}
	if rs.byChan[r.channel] == r {
		delete(rs.byChan, r.channel)
	}
}

func (rs *Rooms) joined(ctx context.Context, r *Room, j protocol.RoomJoined, err error, o RoomOptions) (*Room, error) {
	if err == nil {
		err = r.start(ctx, j, o)
	}
	if err != nil {
		rs.forget(r)
		r.Close()
		return nil, err
	}
	rs.mu.Lock()
	rs.byID[r.ID] = r
	rs.mu.Unlock()
	return r, nil
}

func (r *Room) start(ctx context.Context, j protocol.RoomJoined, o RoomOptions) error {
	api := o.API
	if api == nil {
		api = webrtc.NewAPI()
	}
	cfg := o.Config
	for _, s := range j.ICEServers {
		cfg.ICEServers = append(cfg.ICEServers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	var err error
	if r.Sub, err = api.NewPeerConnection(cfg); err != nil {
		return err
	}
	r.Sub.OnICECandidate(func(c *webrtc.ICECandidate) { r.sendCandidate(protocol.PCSub, c) })
	r.Sub.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		select {
		case r.Tracks <- t:
		default:
		}
	})
	if len(o.Tracks) > 0 {
		if r.Pub, err = api.NewPeerConnection(cfg); err != nil {
			return err
		}
		r.Pub.OnICECandidate(func(c *webrtc.ICECandidate) { r.sendCandidate(protocol.PCPub, c) })
		for _, t := range o.Tracks {
			if _, err := r.Pub.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
				return err
			}
		}
	}
	subQ, pubQ := make(chan protocol.RoomSignal, 256), make(chan protocol.RoomSignal, 256)
	r.mu.Lock()
	r.subQ, r.pubQ = subQ, pubQ
	r.mu.Unlock()
	r.signalWG.Add(2)
	go r.work(subQ)
	go r.work(pubQ)
	r.mu.Lock()
	r.ID, r.Me, r.Info, r.joined = j.Room.ID, j.ParticipantID, j.Room, true
	for _, sig := range r.early {
		r.signal(sig)
	}
	r.early = nil
	r.mu.Unlock()
	if r.Pub != nil {
		offer, err := r.Pub.CreateOffer(nil)
		if err != nil {
			return err
		}
		if err := r.Pub.SetLocalDescription(offer); err != nil {
			return err
		}
		return r.conn.Request(ctx, protocol.EvRoomSignal, protocol.RoomSignal{Room: r.ID, PC: protocol.PCPub, Kind: protocol.SignalOffer, SDP: offer.SDP}, nil)
	}
	return nil
}

func (r *Room) sendCandidate(pc string, c *webrtc.ICECandidate) {
	if c == nil {
		return
	}
	init := c.ToJSON()
	cand := &protocol.ICECandidate{Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex, UsernameFragment: init.UsernameFragment}
	r.send(protocol.RoomSignal{Room: r.ID, PC: pc, Kind: protocol.SignalCandidate, Candidate: cand})
}

func (r *Room) send(sig protocol.RoomSignal) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = r.conn.Request(ctx, protocol.EvRoomSignal, sig, nil)
}

func (r *Room) handle(env protocol.Envelope) {
	if env.Event != protocol.EvRoomSignal {
		select {
		case r.Events <- env:
		default:
		}
		return
	}
	var sig protocol.RoomSignal
	if json.Unmarshal(env.Data, &sig) != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
	case !r.joined:
		r.early = append(r.early, sig)
	default:
		r.signal(sig)
	}
}

// signal queues one of the SFU's signals for its connection's worker: they
// are applied one at a time, in order, off the event reader (a sub offer's
// answer is a request, whose reply the reader must stay free to deliver).
func (r *Room) signal(sig protocol.RoomSignal) {
	q := r.subQ
	if sig.PC == protocol.PCPub {
		q = r.pubQ
	}
	select {
	case q <- sig:
	default: // a client this far behind has lost the connection anyway
	}
}

func (r *Room) work(q chan protocol.RoomSignal) {
	defer r.signalWG.Done()
	for sig := range q {
		r.apply(sig)
	}
}

func (r *Room) apply(sig protocol.RoomSignal) {
	switch {
	case sig.PC == protocol.PCSub && sig.Kind == protocol.SignalOffer:
		if err := r.Sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sig.SDP}); err != nil {
			return
		}
		answer, err := r.Sub.CreateAnswer(nil)
		if err != nil || r.Sub.SetLocalDescription(answer) != nil {
			return
		}
		r.send(protocol.RoomSignal{Room: r.ID, PC: protocol.PCSub, Kind: protocol.SignalAnswer, SDP: answer.SDP})
	case sig.PC == protocol.PCPub && sig.Kind == protocol.SignalAnswer && r.Pub != nil:
		_ = r.Pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sig.SDP})
	case sig.Kind == protocol.SignalCandidate && sig.Candidate != nil:
		c := webrtc.ICECandidateInit{Candidate: sig.Candidate.Candidate, SDPMid: sig.Candidate.SDPMid, SDPMLineIndex: sig.Candidate.SDPMLineIndex, UsernameFragment: sig.Candidate.UsernameFragment}
		pc := r.Sub
		if sig.PC == protocol.PCPub {
			pc = r.Pub
		}
		if pc != nil {
			_ = pc.AddICECandidate(c)
		}
	}
}

// Subscribe asks for the layer of a track that fits width×height, or none.
func (r *Room) Subscribe(ctx context.Context, track string, width, height int, paused bool) error {
	return r.conn.Request(ctx, protocol.EvRoomSubscribe, protocol.RoomSubscribe{Room: r.ID, Track: track, Width: width, Height: height, Paused: paused}, nil)
}

// Leave leaves the room and closes the connections.
func (r *Room) Leave(ctx context.Context) error {
	var err error
	if r.Info.Kind == protocol.RoomKindChannel {
		err = r.conn.Request(ctx, protocol.EvChannelLeave, protocol.ChannelRef{Channel: r.Info.Channel}, nil)
	} else {
		err = r.conn.Request(ctx, protocol.EvRoomLeave, protocol.RoomRef{Room: r.ID}, nil)
	}
	return errors.Join(err, r.Close())
}

// Close closes the connections (without telling the server).
func (r *Room) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	if r.subQ != nil {
		close(r.subQ)
		close(r.pubQ)
	}
	r.mu.Unlock()
	var errs []error
	for _, pc := range []*webrtc.PeerConnection{r.Pub, r.Sub} {
		if pc != nil {
			errs = append(errs, pc.Close())
		}
	}
	r.signalWG.Wait()
	return errors.Join(errs...)
}

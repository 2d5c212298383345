package sfu

import (
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/webrtc/v4"

	"github.com/parley-chat/parley/internal/apperr"
)

// SFU forwards media between the participants of rooms. It is safe for
// concurrent use.
type SFU struct {
	cfg Config
	log *slog.Logger
	lis *listener
	mux ice.UDPMux
	api *webrtc.API

	mu     sync.Mutex
	closed bool
	rooms  map[string]*room
	wg     sync.WaitGroup

	gone totals // counters of downtracks that are gone
}

// New starts an SFU listening on cfg.UDPAddr.
func New(cfg Config) (*SFU, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l, err := listen(cfg)
	if err != nil {
		return nil, err
	}
	s := &SFU{cfg: cfg, log: cfg.Logger, lis: l, mux: l.mux, rooms: map[string]*room{}}
	if s.api, err = newAPI(cfg, s.mux); err != nil {
		_ = s.mux.Close()
		return nil, err
	}
	return s, nil
}

// batch is the group of sockets a fan-out holds (none in unit benchmarks).
func (s *SFU) batch() batchGroup {
	if s.lis == nil || noBatch {
		return nil
	}
	return s.lis.conns
}

// noBatch turns write batching off (benchmarks compare).
var noBatch bool

// newAPI builds the one webrtc.API every PeerConnection comes from.
func newAPI(cfg Config, mux ice.UDPMux) (*webrtc.API, error) {
	logs := pionLogs{cfg.Logger}
	me, err := newMediaEngine()
	if err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	// Toward publishers: NACKs for their losses, receiver reports and TWCC
	// feedback. Toward subscribers: sender reports. Retransmissions to
	// subscribers and their TWCC sequence numbers are the downtracks' own.
	gen, err := nack.NewGeneratorInterceptor(nack.WithGeneratorLoggerFactory(logs))
	if err != nil {
		return nil, err
	}
	rr, err := report.NewReceiverInterceptor(report.WithReceiverLoggerFactory(logs))
	if err != nil {
		return nil, err
	}
	sr, err := report.NewSenderInterceptor(report.WithSenderLoggerFactory(logs))
	if err != nil {
		return nil, err
	}
	tw, err := twcc.NewSenderInterceptor(twcc.WithLoggerFactory(logs))
	if err != nil {
		return nil, err
	}
	reg.Add(gen)
	reg.Add(rr)
	reg.Add(sr)
	reg.Add(tw)

	se := webrtc.SettingEngine{LoggerFactory: logs}
	se.SetICEUDPMux(mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	if cfg.PublicIP != "" {
		se.SetNAT1To1IPs([]string{cfg.PublicIP}, webrtc.ICECandidateTypeHost)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

// newMediaEngine registers VP8 (with RTX), Opus and the header extensions
// the SFU uses: audio level, TWCC, mid, rid and repaired rid.
func newMediaEngine() (*webrtc.MediaEngine, error) {
	me := &webrtc.MediaEngine{}
	videoFB := []webrtc.RTCPFeedback{
		{Type: "goog-remb"}, {Type: "transport-cc"}, {Type: "ccm", Parameter: "fir"},
		{Type: "nack"}, {Type: "nack", Parameter: "pli"},
	}
	codecs := []struct {
		c webrtc.RTPCodecParameters
		k webrtc.RTPCodecType
	}{
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFB}, PayloadType: 96}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=96"}, PayloadType: 97}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1", RTCPFeedback: []webrtc.RTCPFeedback{{Type: "transport-cc"}}}, PayloadType: 111}, webrtc.RTPCodecTypeAudio},
	}
	for _, c := range codecs {
		if err := me.RegisterCodec(c.c, c.k); err != nil {
			return nil, err
		}
	}
	exts := []struct {
		uri   string
		kinds []webrtc.RTPCodecType
	}{
		{uriAudioLevel, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio}},
		{uriTWCC, []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio}},
		{uriMid, []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio}},
		{uriRID, []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}},
		{uriRRID, []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}},
	}
	for _, e := range exts {
		for _, k := range e.kinds {
			if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: e.uri}, k); err != nil {
				return nil, err
			}
		}
	}
	return me, nil
}

// track runs f in a goroutine Close waits for; it reports false, and does
// not run f, once the SFU is closed.
func (s *SFU) track(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// Close ends every room (participants get EventRoomClosed), waits for the
// SFU's goroutines to end — including each participant's delivery of what
// was queued for it, so OnSignal and OnEvent must return — and releases the
// UDP port.
func (s *SFU) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	rooms := s.rooms
	s.rooms = map[string]*room{}
	s.mu.Unlock()
	for _, r := range rooms {
		r.close()
	}
	s.wg.Wait()
	return s.mux.Close()
}

// LocalAddr is the UDP address media arrives on. With a UDPAddr without
// host it is the unspecified address and the port every interface's socket
// shares.
func (s *SFU) LocalAddr() net.Addr { return s.lis.addr }

var (
	errSFUClosed  = apperr.New(apperr.Unavailable, apperr.CodeShuttingDown, "the SFU is closed")
	errDupID      = apperr.New(apperr.Conflict, apperr.CodeConflict, "a participant with this ID is already in the room")
	errRoomClosed = apperr.New(apperr.Conflict, apperr.CodeConflict, "the room is closing")
)

// roomLocked returns the room, creating it (and its housekeeping goroutine)
// if absent. s.mu is held.
func (s *SFU) roomLocked(id string) *room {
	r := s.rooms[id]
	if r == nil {
		r = newRoom(s, id)
		s.rooms[id] = r
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			r.run()
		}()
	}
	return r
}

// maybeRemove forgets a room nobody is in and nobody taps.
func (s *SFU) maybeRemove(r *room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.rooms[r.id] != r || r.closed || len(r.parts) > 0 || len(r.taps) > 0 {
		return
	}
	r.closed = true
	close(r.stop)
	delete(s.rooms, r.id)
}

// Join adds a participant to a room, creating the room if absent. It fails
// if a participant with the same ID is already in the room. The other
// participants get EventParticipantJoined, and the new one is offered their
// tracks on its sub PC (OnSignal may be called before Join returns).
func (s *SFU) Join(roomID string, o ParticipantOptions) (*Participant, error) {
	return s.join(roomID, o, nil)
}

// join adds a participant; setup, if set, makes it a feed or a mirror
// (no PeerConnections: the caller carries its media).
func (s *SFU) join(roomID string, o ParticipantOptions, setup func(*Participant)) (*Participant, error) {
	if roomID == "" || o.ID == "" {
		return nil, apperr.Invalidf("room and participant IDs are required")
	}
	p := &Participant{
		s: s, opts: o, joined: time.Now(), q: newOutQueue(),
		downs: map[*pubTrack]*downTrack{}, muted: map[string]bool{}, sources: map[string]string{},
	}
	if setup != nil {
		setup(p)
	} else if err := p.newPCs(); err != nil {
		return nil, apperr.Wrap("sfu.Join", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		p.closePCs()
		return nil, errSFUClosed
	}
	r := s.roomLocked(roomID)
	p.room = r
	others, tracks, err := r.join(p)
	if err != nil {
		s.mu.Unlock()
		p.closePCs()
		return nil, err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		p.q.run(o.OnSignal, o.OnEvent)
	}()
	s.mu.Unlock()
	if !o.Hidden {
		pi := p.info()
		for _, x := range others {
			x.event(Event{Type: EventParticipantJoined, Room: roomID, Participant: &pi})
		}
	}
	for _, t := range tracks {
		p.subscribe(t)
	}
	return p, nil
}

// Rooms lists the rooms, by ID.
func (s *SFU) Rooms() []RoomInfo {
	s.mu.Lock()
	rs := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rs = append(rs, r)
	}
	s.mu.Unlock()
	sort.Slice(rs, func(i, j int) bool { return rs[i].id < rs[j].id })
	l := make([]RoomInfo, 0, len(rs))
	for _, r := range rs {
		l = append(l, r.info())
	}
	return l
}

// Room describes one room.
func (s *SFU) Room(id string) (RoomInfo, bool) {
	s.mu.Lock()
	r := s.rooms[id]
	s.mu.Unlock()
	if r == nil {
		return RoomInfo{}, false
	}
	return r.info(), true
}

// CloseRoom makes everyone leave the room; each gets EventRoomClosed first.
// Taps on it stop. It reports whether the room existed.
func (s *SFU) CloseRoom(id string) bool {
	s.mu.Lock()
	r := s.rooms[id]
	delete(s.rooms, id)
	s.mu.Unlock()
	if r == nil {
		return false
	}
	r.close()
	return true
}

// RequestKeyframe asks the publisher of a track for a keyframe of its top
// layer (the one taps get), at most once per PLIInterval, as subscribers'
// requests are limited: for a recorder that lost a packet it cannot
// repair. It reports whether the track exists.
func (s *SFU) RequestKeyframe(roomID, participantID, trackID string) bool {
	s.mu.Lock()
	r := s.rooms[roomID]
	s.mu.Unlock()
	if r == nil {
		return false
	}
	for _, t := range r.allTracks() {
		if t.id == trackID && t.pub.opts.ID == participantID {
			t.requestKeyframe(t.topLayer())
			return true
		}
	}
	return false
}

// Tap calls onTrack for each track published in the room, now and later,
// until stop is called, and feeds the sink it returns (nil: skip the
// track) with the track's packets. The room is created if absent and kept
// while tapped. stop closes every sink; a sink is also closed when its
// track ends.
func (s *SFU) Tap(roomID string, onTrack func(TrackInfo) TrackSink) (stop func(), err error) {
	if roomID == "" || onTrack == nil {
		return nil, apperr.Invalidf("room ID and onTrack are required")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errSFUClosed
	}
	r := s.roomLocked(roomID)
	k := &tap{r: r, onTrack: onTrack, sinks: map[*pubTrack]*tapSink{}}
	r.mu.Lock()
	r.taps[k] = struct{}{}
	r.mu.Unlock()
	s.mu.Unlock()
	for _, t := range r.allTracks() {
		k.attach(t)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			delete(r.taps, k)
			r.mu.Unlock()
			k.stop()
			s.maybeRemove(r)
		})
	}, nil
}

package sfu

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/webrtc/v4"

	"github.com/parley-chat/parley/internal/apperr"
)

// Participant is one member of a room, with two PeerConnections: pub, which
// its client offers and which carries its own media up, and sub, which the
// SFU offers and which carries everyone else's media down.
type Participant struct {
	s      *SFU
	room   *room
	opts   ParticipantOptions
	joined time.Time

	pub *webrtc.PeerConnection // nil if !CanPublish
	sub *webrtc.PeerConnection
	bwe *gcc.SendSideBWE // the sub PC's bandwidth estimate, from the client's TWCC

	twccSeq atomic.Uint32 // transport-wide sequence numbers on the sub PC

	q *outQueue

	// Candidates the SFU gathers must not reach the client before the SDP
	// they belong to: they wait until the pub answer / sub offer is out.
	gateMu   sync.Mutex
	gateOpen [2]bool
	gated    [2][]webrtc.ICECandidateInit

	pubMu    sync.Mutex
	pubCands []webrtc.ICECandidateInit // received before the first offer

	subMu       sync.Mutex
	subOffering bool // an offer awaits its answer
	subAgain    bool // tracks changed while offering: offer again after the answer
	subRestart  bool // the next offer restarts ICE
	subCands    []webrtc.ICECandidateInit

	subsMu sync.Mutex // serializes subscribe and unsubscribe

	feed   *Feed   // its tracks come from Feed.AddLayer, not a pub PC
	mirror *Mirror // it gets every layer as published, not downtracks

	mu      sync.Mutex
	closed  bool
	downs   map[*pubTrack]*downTrack
	muted   map[string]bool   // by track ID, set before or after the track arrives
	sources map[string]string // by track ID
}

func (p *Participant) info() ParticipantInfo {
	pi := ParticipantInfo{ID: p.opts.ID, UserID: p.opts.UserID, Name: p.opts.Name, Joined: p.joined, Tracks: []TrackInfo{}}
	for _, t := range p.room.tracksOf(p) {
		pi.Tracks = append(pi.Tracks, t.info())
	}
	return pi
}

func (p *Participant) newPCs() error {
	var err error
	if p.opts.CanPublish {
		if p.pub, err = p.s.api.NewPeerConnection(webrtc.Configuration{}); err != nil {
			return err
		}
		p.pub.OnICECandidate(func(c *webrtc.ICECandidate) { p.sendCandidate(PCPub, c) })
		p.pub.OnTrack(p.onTrack)
	}
	if p.sub, err = p.s.api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		p.closePCs()
		return err
	}
	p.sub.OnICECandidate(func(c *webrtc.ICECandidate) { p.sendCandidate(PCSub, c) })
	p.bwe, err = gcc.NewSendSideBWE(
		gcc.SendSideBWEInitialBitrate(initialBitrate),
		gcc.SendSideBWEMinBitrate(100_000),
		gcc.SendSideBWEMaxBitrate(50_000_000),
		gcc.SendSideBWEPacer(gcc.NewNoOpPacer()),
		gcc.WithLoggerFactory(pionLogs{p.s.log}),
	)
	if err != nil {
		p.closePCs()
		return err
	}
	return nil
}

// initialBitrate is a subscriber's assumed bandwidth until TWCC says otherwise.
const initialBitrate = 2_500_000

func (p *Participant) closePCs() {
	if p.pub != nil {
		_ = p.pub.Close()
	}
	if p.sub != nil {
		_ = p.sub.Close()
	}
	if p.bwe != nil {
		_ = p.bwe.Close()
	}
}

func gateIndex(pc string) int {
	if pc == PCSub {
		return 1
	}
	return 0
}

func (p *Participant) sendCandidate(pc string, c *webrtc.ICECandidate) {
	if c == nil {
		return
	}
	init := c.ToJSON()
	i := gateIndex(pc)
	p.gateMu.Lock()
	defer p.gateMu.Unlock()
	if !p.gateOpen[i] {
		p.gated[i] = append(p.gated[i], init)
		return
	}
	p.q.push(outItem{sig: &Signal{PC: pc, Kind: SignalCandidate, Candidate: &init}})
}

// closeGate holds back candidates until the next sendSDP: an ICE restart
// gathers new ones as soon as the local description is set.
func (p *Participant) closeGate(pc string) {
	p.gateMu.Lock()
	p.gateOpen[gateIndex(pc)] = false
	p.gateMu.Unlock()
}

// sendSDP sends an offer or answer, then the candidates that waited for it.
func (p *Participant) sendSDP(pc string, kind SignalKind, sdp string) {
	p.gateMu.Lock()
	defer p.gateMu.Unlock()
	p.q.push(outItem{sig: &Signal{PC: pc, Kind: kind, SDP: sdp}})
	p.openGateLocked(pc)
}

// openGate lets candidates through again, those held back first.
func (p *Participant) openGate(pc string) {
	p.gateMu.Lock()
	defer p.gateMu.Unlock()
	p.openGateLocked(pc)
}

func (p *Participant) openGateLocked(pc string) {
	i := gateIndex(pc)
	p.gateOpen[i] = true
	for _, c := range p.gated[i] {
		c := c
		p.q.push(outItem{sig: &Signal{PC: pc, Kind: SignalCandidate, Candidate: &c}})
	}
	p.gated[i] = nil
}

func (p *Participant) event(ev Event) { p.q.push(outItem{ev: &ev}) }

var (
	errClosed   = apperr.New(apperr.Conflict, "participant_left", "the participant has left")
	errNoPub    = apperr.Forbiddenf("this participant may not publish")
	errBadPC    = apperr.Invalidf(`signal pc must be "pub" or "sub"`)
	errNoOffer  = apperr.New(apperr.Conflict, apperr.CodeConflict, "no sub offer awaits an answer")
	errNotFound = apperr.NotFoundf("no such track")
)

// HandleSignal applies a signal from the client: pub offers, sub answers and
// candidates for either. Renegotiation may happen at any time. A signal that
// cannot be applied returns an Invalid error and changes nothing.
func (p *Participant) HandleSignal(sig Signal) error {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return errClosed
	}
	var err error
	switch sig.PC {
	case PCPub:
		if p.pub == nil {
			return errNoPub
		}
		err = p.handlePub(sig)
	case PCSub:
		err = p.handleSub(sig)
	default:
		return errBadPC
	}
	if err != nil {
		p.mu.Lock()
		closed = p.closed
		p.mu.Unlock()
		if closed { // Leave raced with the signal
			return errClosed
		}
	}
	return err
}

func (p *Participant) handlePub(sig Signal) error {
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	switch sig.Kind {
	case SignalOffer:
		if sig.SDP == "" {
			return apperr.Invalidf("offer without sdp")
		}
		if err := p.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sig.SDP}); err != nil {
			return apperr.Invalidf("pub offer: %v", err)
		}
		answer, err := p.pub.CreateAnswer(nil)
		if err == nil {
			p.closeGate(PCPub)
			err = p.pub.SetLocalDescription(answer)
		}
		if err != nil {
			// put the PC back as it was before the offer
			_ = p.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback})
			p.openGate(PCPub)
			return apperr.Invalidf("pub answer: %v", err)
		}
		p.sendSDP(PCPub, SignalAnswer, answer.SDP)
		cands := p.pubCands
		p.pubCands = nil
		for _, c := range cands {
			_ = p.pub.AddICECandidate(c)
		}
		return nil
	case SignalCandidate:
		if sig.Candidate == nil {
			return apperr.Invalidf("candidate signal without candidate")
		}
		if p.pub.RemoteDescription() == nil {
			if len(p.pubCands) >= maxPendingCandidates {
				return apperr.Invalidf("too many candidates before the offer")
			}
			p.pubCands = append(p.pubCands, *sig.Candidate)
			return nil
		}
		if err := p.pub.AddICECandidate(*sig.Candidate); err != nil {
			return apperr.Invalidf("pub candidate: %v", err)
		}
		return nil
	}
	return apperr.Invalidf("pub takes offers and candidates, not %q", sig.Kind)
}

const maxPendingCandidates = 64

func (p *Participant) handleSub(sig Signal) error {
	switch sig.Kind {
	case SignalAnswer:
		p.subMu.Lock()
		if !p.subOffering {
			p.subMu.Unlock()
			return errNoOffer
		}
		if sig.SDP == "" {
			p.subMu.Unlock()
			return apperr.Invalidf("answer without sdp")
		}
		if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sig.SDP}); err != nil {
			p.subMu.Unlock()
			return apperr.Invalidf("sub answer: %v", err)
		}
		p.subOffering = false
		cands := p.subCands
		p.subCands = nil
		for _, c := range cands {
			_ = p.sub.AddICECandidate(c)
		}
		again := p.subAgain
		p.subAgain = false
		p.subMu.Unlock()
		if again {
			p.negotiateSub()
		}
		return nil
	case SignalCandidate:
		if sig.Candidate == nil {
			return apperr.Invalidf("candidate signal without candidate")
		}
		p.subMu.Lock()
		defer p.subMu.Unlock()
		if p.sub.RemoteDescription() == nil {
			if len(p.subCands) >= maxPendingCandidates {
				return apperr.Invalidf("too many candidates before the answer")
			}
			p.subCands = append(p.subCands, *sig.Candidate)
			return nil
		}
		if err := p.sub.AddICECandidate(*sig.Candidate); err != nil {
			return apperr.Invalidf("sub candidate: %v", err)
		}
		return nil
	}
	return apperr.Invalidf("sub takes answers and candidates, not %q", sig.Kind)
}

// negotiateSub offers the sub PC's current tracks to the client, now or,
// if an offer is out, as soon as its answer arrives.
func (p *Participant) negotiateSub() { p.offerSub(false) }

// RestartICE makes the SFU offer the sub connection again with new ICE
// credentials, for a client whose network changed (the client restarts its
// pub connection itself, with an offer that restarts ICE).
func (p *Participant) RestartICE() error {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return errClosed
	}
	p.offerSub(true)
	return nil
}

func (p *Participant) offerSub(restart bool) {
	p.subMu.Lock()
	defer p.subMu.Unlock()
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return
	}
	p.subRestart = p.subRestart || restart
	if p.subOffering {
		p.subAgain = true
		return
	}
	offer, err := p.sub.CreateOffer(&webrtc.OfferOptions{ICERestart: p.subRestart})
	if err == nil {
		p.closeGate(PCSub)
		err = p.sub.SetLocalDescription(offer)
	}
	if err != nil {
		p.openGate(PCSub)
		p.s.log.Warn("sfu: sub offer", "participant", p.opts.ID, "err", err)
		return
	}
	p.subRestart = false
	p.subOffering = true
	p.sendSDP(PCSub, SignalOffer, offer.SDP)
}

// onTrack runs when a stream of the client's media arrives on the pub PC.
func (p *Participant) onTrack(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	t, isNew := p.room.trackFor(p, remote)
	if t == nil { // refused (MaxTracks) or leaving: nobody reads it
		_ = receiver.Stop()
		return
	}
	l, ok := t.addLayer(remote, receiver)
	if !ok {
		return
	}
	if isNew {
		p.room.published(t)
	} else {
		// a new simulcast layer: subscribers may want it
		p.room.allocate(t)
		p.room.layerAdded(t)
	}
	if !p.s.track(func() {
		if t.readLoop(l) {
			p.room.unpublish(t)
		}
	}) {
		return
	}
	// read the publisher's RTCP (sender reports) so the receiver-report
	// interceptor sees it; it ends with the receiver
	rid := remote.RID()
	p.s.track(func() {
		buf := make([]byte, maxPacket)
		for {
			var err error
			if rid != "" {
				_, _, err = receiver.ReadSimulcast(buf, rid)
			} else {
				_, _, err = receiver.Read(buf)
			}
			if err != nil {
				return
			}
		}
	})
}

func (p *Participant) newTrack(remote *webrtc.TrackRemote) *pubTrack {
	return p.initTrack(&pubTrack{
		room: p.room, pub: p, id: remote.ID(), stream: remote.StreamID(), kind: remote.Kind(),
		codec: remote.Codec(), simul: remote.RID() != "", wantedMask: -1,
	})
}

// initTrack applies what the participant said of the track before it came
// (muted, source) and guesses the source otherwise.
func (p *Participant) initTrack(t *pubTrack) *pubTrack {
	p.mu.Lock()
	defer p.mu.Unlock()
	t.muted.Store(p.muted[t.id])
	t.source = p.sources[t.id]
	if t.source == "" {
		switch {
		case t.kind == webrtc.RTPCodecTypeAudio:
			t.source = "microphone"
		case strings.Contains(strings.ToLower(t.stream+" "+t.id), "screen"):
			t.source = "screen"
		default:
			t.source = "camera"
		}
	}
	return t
}

// subscribe adds a published track to this participant's sub PC.
func (p *Participant) subscribe(t *pubTrack) {
	if p.feed != nil {
		return
	}
	if p.mirror != nil {
		p.mirror.attach(t)
		return
	}
	p.subsMu.Lock()
	defer p.subsMu.Unlock()
	p.mu.Lock()
	if p.closed || p.downs[t] != nil {
		p.mu.Unlock()
		return
	}
	d := newDownTrack(t, p)
	p.downs[t] = d
	p.mu.Unlock()
	sender, err := p.sub.AddTrack(d)
	if err != nil {
		p.mu.Lock()
		delete(p.downs, t)
		p.mu.Unlock()
		p.s.log.Warn("sfu: subscribe", "participant", p.opts.ID, "track", t.id, "err", err)
		return
	}
	d.sender = sender
	p.room.allocateDown(d)
	t.addDown(d)
	p.s.track(d.readRTCP)
	p.negotiateSub()
}

// unsubscribe removes a track from this participant's sub PC.
func (p *Participant) unsubscribe(t *pubTrack) {
	if p.mirror != nil {
		p.mirror.detach(t)
		return
	}
	p.subsMu.Lock()
	defer p.subsMu.Unlock()
	p.mu.Lock()
	d := p.downs[t]
	delete(p.downs, t)
	closed := p.closed
	p.mu.Unlock()
	if d == nil {
		return
	}
	t.removeDown(d)
	p.s.retire(d)
	if closed {
		return
	}
	_ = p.sub.RemoveTrack(d.sender)
	p.negotiateSub()
}

func (p *Participant) downFor(trackID string) *downTrack {
	p.mu.Lock()
	defer p.mu.Unlock()
	for t, d := range p.downs {
		if t.id == trackID {
			return d
		}
	}
	return nil
}

// ID is the participant's ID in its room.
func (p *Participant) ID() string { return p.opts.ID }

// Room is the ID of the participant's room.
func (p *Participant) Room() string { return p.room.id }

// SetTrackPreference asks for the layer of a track that fits width×height
// (0×0: the best there is), or for nothing while paused.
func (p *Participant) SetTrackPreference(trackID string, width, height int, paused bool) error {
	if width < 0 || height < 0 {
		return apperr.Invalidf("negative size")
	}
	d := p.downFor(trackID)
	if d == nil {
		return errNotFound
	}
	d.prefMu.Lock()
	d.prefW, d.prefH, d.paused = width, height, paused
	d.prefMu.Unlock()
	p.room.allocateDown(d)
	return nil
}

// SetMuted records that the publisher muted or unmuted its track and tells
// the others. It may come before the track's media does.
func (p *Participant) SetMuted(trackID string, muted bool) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errClosed
	}
	p.muted[trackID] = muted
	p.mu.Unlock()
	t := p.room.trackByID(p, trackID)
	if t == nil {
		return nil
	}
	if t.muted.Swap(muted) != muted {
		ti := t.info()
		p.room.broadcast(Event{Type: EventTrackMuted, Track: &ti}, p)
	}
	return nil
}

// SetTrackSource says what a track shows ("camera", "microphone" or
// "screen"), for clients that cannot tell from the track. Call it before
// publishing; by default audio is "microphone", video whose stream or track
// ID contains "screen" is "screen", and other video "camera".
func (p *Participant) SetTrackSource(trackID, source string) error {
	switch source {
	case "camera", "microphone", "screen":
	default:
		return apperr.Invalidf("unknown source %q", source)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sources[trackID] = source
	return nil
}

// Leave closes the participant's connections and removes it from its room;
// the others get its tracks unpublished and EventParticipantLeft. It is
// idempotent and may be called from OnEvent or OnSignal.
func (p *Participant) Leave() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	downs := p.downs
	p.downs = map[*pubTrack]*downTrack{}
	p.mu.Unlock()
	for t, d := range downs {
		t.removeDown(d)
		p.s.retire(d)
	}
	if p.mirror != nil {
		p.mirror.stop()
	}
	p.room.leave(p)
	p.closePCs()
	p.q.close()
}

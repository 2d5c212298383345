package cascade

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/sfu"
)

// Edge is a broadcast pulled from its origin into a room of the local SFU:
// each of the origin's publishers is a sfu.Feed in the local room.
type Edge struct {
	local *sfu.SFU
	room  string
	log   *slog.Logger
	pc    *webrtc.PeerConnection
	dc    *webrtc.DataChannel

	mu     sync.Mutex
	descs  map[string]layerDesc  // the origin's last offer, by link key
	layers map[string]*edgeLayer // received, by link key
	feeds  map[string]*sfu.Feed  // by origin participant ID
	ended  bool

	open    chan struct{}
	openErr sync.Once
	once    sync.Once
	err     error
	done    chan struct{}
}

type edgeLayer struct {
	desc layerDesc
	ssrc uint32
	fl   *sfu.FeedLayer
}

// Options tune Pull.
type Options struct {
	Logger *slog.Logger // defaults to slog.Default()
	// Grace is how long the link may stay disconnected (no packet from the
	// origin for ICE's 5 s) before the edge gives the origin up. A dead
	// node's edges end within about 5 s + Grace. Defaults to 3 s.
	Grace time.Duration
}

// Pull connects the local SFU's room localRoom to a broadcast's origin,
// reached through signal, and returns once the link is up. Every track the
// origin's room has, now and later, is published in localRoom. The Edge
// ends with ErrOriginGone when the origin goes away, or with Close.
func Pull(ctx context.Context, local *sfu.SFU, localRoom string, signal Signal, o Options) (*Edge, error) {
	if localRoom == "" || signal == nil {
		return nil, apperr.Invalidf("room and signal are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	pc, err := local.NewPeerConnection()
	if err != nil {
		return nil, apperr.Wrap("cascade.Pull", err)
	}
	e := &Edge{
		local: local, room: localRoom, log: o.Logger, pc: pc,
		descs: map[string]layerDesc{}, layers: map[string]*edgeLayer{}, feeds: map[string]*sfu.Feed{},
		open: make(chan struct{}), done: make(chan struct{}),
	}
	fail := func(err error) (*Edge, error) {
		e.finish(err)
		<-e.done
		return nil, err
	}
	if e.dc, err = pc.CreateDataChannel("cascade", nil); err != nil {
		return fail(apperr.Wrap("cascade.Pull", err))
	}
	e.dc.OnOpen(func() { close(e.open) })
	e.dc.OnMessage(func(m webrtc.DataChannelMessage) { e.onMessage(m.Data) })
	e.dc.OnClose(func() { e.finish(ErrOriginGone) })
	pc.OnTrack(e.onTrack)
	if o.Grace <= 0 {
		o.Grace = 3 * time.Second
	}
	var graceMu sync.Mutex
	var grace *time.Timer
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		graceMu.Lock()
		defer graceMu.Unlock()
		if grace != nil {
			grace.Stop()
			grace = nil
		}
		switch st {
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			e.finish(ErrOriginGone)
		case webrtc.PeerConnectionStateDisconnected:
			grace = time.AfterFunc(o.Grace, func() { e.finish(ErrOriginGone) })
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		return fail(apperr.Wrap("cascade.Pull", err))
	}
	sdp, err := gathered(ctx, pc)
	if err != nil {
		return fail(err)
	}
	answer, err := signal(ctx, sdp)
	if err != nil {
		return fail(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fail(apperr.Invalidf("cascade answer: %v", err))
	}
	select {
	case <-e.open:
		return e, nil
	case <-e.done:
		return nil, e.err
	case <-ctx.Done():
		return fail(ctx.Err())
	}
}

// Done is closed when the edge has ended; Err says why.
func (e *Edge) Done() <-chan struct{} { return e.done }

// Err is ErrOriginGone if the origin went away, nil after Close, or the
// error that ended the edge; nil while it runs.
func (e *Edge) Err() error {
	select {
	case <-e.done:
		return e.err
	default:
		return nil
	}
}

// Close unpublishes the origin's tracks from the local room and closes the
// link. It waits until the edge has ended.
func (e *Edge) Close() error {
	e.finish(nil)
	<-e.done
	return nil
}

// finish ends the edge once, with err.
func (e *Edge) finish(err error) {
	e.once.Do(func() {
		e.err = err
		e.mu.Lock()
		e.ended = true
		feeds := e.feeds
		e.feeds = map[string]*sfu.Feed{}
		e.mu.Unlock()
		go func() { // not on a pion callback's goroutine: Close waits for them
			_ = e.pc.Close()
			for _, f := range feeds {
				f.Leave()
			}
			close(e.done)
		}()
	})
}

func (e *Edge) onMessage(b []byte) {
	var m message
	if json.Unmarshal(b, &m) != nil {
		return
	}
	switch m.Type {
	case msgEnd:
		e.finish(ErrOriginGone)
	case msgMuted:
		e.mu.Lock()
		f := e.feeds[m.Participant]
		e.mu.Unlock()
		if f != nil {
			_ = f.SetMuted(m.Track, m.Muted)
		}
	case msgOffer:
		if err := e.applyOffer(m); err != nil {
			e.log.Warn("cascade: origin offer", "room", e.room, "err", err)
			e.finish(ErrOriginGone)
		}
	}
}

// applyOffer ends the layers the origin no longer sends, then answers.
func (e *Edge) applyOffer(m message) error {
	e.mu.Lock()
	if e.ended {
		e.mu.Unlock()
		return nil
	}
	e.descs = m.Layers
	var gone []*sfu.FeedLayer
	for k, l := range e.layers {
		if _, ok := m.Layers[k]; !ok {
			if l.fl != nil {
				gone = append(gone, l.fl)
			}
			delete(e.layers, k)
		}
	}
	var idle []*sfu.Feed
	for id, f := range e.feeds {
		if !mentions(m.Layers, id) {
			idle = append(idle, f)
			delete(e.feeds, id)
		}
	}
	e.mu.Unlock()
	for _, fl := range gone {
		fl.Close()
	}
	for _, f := range idle {
		f.Leave()
	}
	if err := e.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
		return err
	}
	ans, err := e.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := e.pc.SetLocalDescription(ans); err != nil {
		return err
	}
	return send(e.dc, message{Type: msgAnswer, SDP: ans.SDP})
}

func mentions(descs map[string]layerDesc, participant string) bool {
	for _, d := range descs {
		if d.Participant == participant {
			return true
		}
	}
	return false
}

// onTrack publishes a layer arriving from the origin into the local room
// and copies its packets there until it ends.
func (e *Edge) onTrack(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	key := remote.ID()
	e.mu.Lock()
	d, ok := e.descs[key]
	ended := e.ended
	e.mu.Unlock()
	if !ok || ended {
		_ = receiver.Stop()
		return
	}
	f, err := e.feed(d)
	if err != nil {
		e.log.Warn("cascade: feed", "room", e.room, "participant", d.Participant, "err", err)
		_ = receiver.Stop()
		return
	}
	var extAL uint8
	for _, x := range receiver.GetParameters().HeaderExtensions {
		if x.URI == "urn:ietf:params:rtp-hdrext:ssrc-audio-level" {
			extAL = uint8(x.ID)
		}
	}
	// known before AddLayer: the local viewers' first keyframe requests
	// come while it runs
	el := &edgeLayer{desc: d, ssrc: uint32(remote.SSRC())}
	e.mu.Lock()
	e.layers[key] = el
	e.mu.Unlock()
	fl, err := f.AddLayer(sfu.FeedTrack{
		ID: d.Track, Kind: remote.Kind(), Codec: remote.Codec(), Source: d.Source,
		Simulcast: d.Simulcast, AudioLevelExt: extAL,
	}, d.RID)
	if err != nil {
		e.log.Warn("cascade: layer", "room", e.room, "track", d.Track, "rid", d.RID, "err", err)
		e.mu.Lock()
		if e.layers[key] == el {
			delete(e.layers, key)
		}
		e.mu.Unlock()
		_ = receiver.Stop()
		return
	}
	if d.Muted {
		_ = f.SetMuted(d.Track, true)
	}
	e.mu.Lock()
	if e.layers[key] != el || e.ended { // gone from the origin meanwhile
		e.mu.Unlock()
		fl.Close()
		_ = receiver.Stop()
		return
	}
	el.fl = fl
	e.mu.Unlock()
	go drainRTCP(receiver)
	buf := make([]byte, 1500)
	for {
		n, _, err := remote.Read(buf)
		if err != nil || fl.WriteRTP(buf[:n]) != nil {
			break
		}
	}
	fl.Close()
}

// drainRTCP reads the origin's sender reports so the interceptors see them.
func drainRTCP(r *webrtc.RTPReceiver) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := r.Read(buf); err != nil {
			return
		}
	}
}

// feed is the local stand-in of an origin participant, joined on first use.
func (e *Edge) feed(d layerDesc) (*sfu.Feed, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if f := e.feeds[d.Participant]; f != nil {
		return f, nil
	}
	id := d.Participant
	f, err := e.local.JoinFeed(e.room, sfu.ParticipantOptions{
		ID: id, UserID: d.UserID, Name: d.Name, OnEvent: e.onFeedEvent,
	}, func(trackID, rid string) { e.keyframe(id, trackID, rid) })
	if err != nil {
		return nil, err
	}
	e.feeds[id] = f
	return f, nil
}

// onFeedEvent passes the local room's dynacast on: the layers of a track
// local viewers watch, so the origin stops sending the others.
func (e *Edge) onFeedEvent(ev sfu.Event) {
	if ev.Type != sfu.EventLayersWanted || ev.Track == nil {
		return
	}
	_ = send(e.dc, message{Type: msgLayers, Participant: ev.Track.ParticipantID, Track: ev.Track.ID, RIDs: ev.Layers})
}

// keyframe asks the origin for a keyframe of a layer: a PLI on its stream.
func (e *Edge) keyframe(participant, trackID, rid string) {
	e.mu.Lock()
	var ssrc uint32
	for _, l := range e.layers {
		if l.desc.Participant == participant && l.desc.Track == trackID && l.desc.RID == rid {
			ssrc = l.ssrc
		}
	}
	e.mu.Unlock()
	if ssrc != 0 {
		_ = e.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	}
}

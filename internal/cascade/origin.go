package cascade

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/sfu"
)

// Subscription is an edge pulling a room from this (the origin) node's
// SFU: one hidden participant of the room, whatever the edge's audience.
type Subscription struct {
	pc     *webrtc.PeerConnection
	mirror *sfu.Mirror

	mu       sync.Mutex
	dc       *webrtc.DataChannel // nil until the edge's channel opens
	next     int                 // the next layer key
	layers   map[string]*sendLayer
	offering bool // an offer awaits its answer
	again    bool // layers changed meanwhile: offer again after it
	closed   bool

	resent atomic.Uint64

	once sync.Once
	done chan struct{}
}

// Accept admits an edge to a room of the origin SFU from the edge's offer
// and returns the answer. The Subscription ends when the edge goes away,
// the room closes, or Close is called.
func Accept(ctx context.Context, origin *sfu.SFU, room, offer string) (answer string, _ *Subscription, err error) {
	if room == "" || offer == "" {
		return "", nil, apperr.Invalidf("room and offer are required")
	}
	pc, err := origin.NewPeerConnection()
	if err != nil {
		return "", nil, apperr.Wrap("cascade.Accept", err)
	}
	s := &Subscription{pc: pc, layers: map[string]*sendLayer{}, done: make(chan struct{})}
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnOpen(func() {
			s.mu.Lock()
			s.dc = dc
			s.mu.Unlock()
			s.negotiate()
		})
		dc.OnMessage(func(m webrtc.DataChannelMessage) { s.onMessage(m.Data) })
		dc.OnClose(s.Close)
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed {
			s.Close()
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		_ = pc.Close()
		return "", nil, apperr.Invalidf("cascade offer: %v", err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err == nil {
		err = pc.SetLocalDescription(ans)
	}
	if err != nil {
		_ = pc.Close()
		return "", nil, apperr.Invalidf("cascade answer: %v", err)
	}
	if answer, err = gathered(ctx, pc); err != nil {
		_ = pc.Close()
		return "", nil, err
	}
	s.mirror, err = origin.JoinMirror(room, sfu.MirrorOptions{
		ID: "cascade-" + randomID(), OnLayer: s.onLayer, OnEvent: s.onEvent,
	})
	if err != nil {
		_ = pc.Close()
		return "", nil, err
	}
	return answer, s, nil
}

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Done is closed when the subscription has ended.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Sent counts the packets and payload bytes sent to the edge.
func (s *Subscription) Sent() (packets, bytes uint64) {
	if s.mirror == nil {
		return 0, 0
	}
	return s.mirror.Sent()
}

// Resent counts the packets sent again after the edge's NACKs.
func (s *Subscription) Resent() uint64 { return s.resent.Load() }

// Close ends the subscription: the edge is told the room ended.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		dc := s.dc
		s.closed = true
		s.mu.Unlock()
		if dc != nil {
			_ = send(dc, message{Type: msgEnd})
		}
		go func() { // not on a pion callback's goroutine: Close waits for them
			if s.mirror != nil {
				s.mirror.Leave()
			}
			_ = s.pc.Close()
			close(s.done)
		}()
	})
}

func (s *Subscription) onEvent(ev sfu.Event) {
	switch ev.Type {
	case sfu.EventRoomClosed:
		s.Close()
	case sfu.EventTrackMuted:
		s.mu.Lock()
		dc := s.dc
		s.mu.Unlock()
		if dc != nil && ev.Track != nil {
			_ = send(dc, message{Type: msgMuted, Participant: ev.Track.ParticipantID, Track: ev.Track.ID, Muted: ev.Track.Muted})
		}
	}
}

// onLayer adds a layer to the link and offers it to the edge.
func (s *Subscription) onLayer(ml sfu.MirrorLayer) sfu.TrackSink {
	ti, pi := ml.Track(), ml.Participant()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	key := "l" + strconv.Itoa(s.next)
	s.next++
	s.mu.Unlock()
	kind := webrtc.RTPCodecTypeVideo
	if ti.Kind == webrtc.RTPCodecTypeAudio.String() {
		kind = webrtc.RTPCodecTypeAudio
	}
	l := &sendLayer{s: s, ml: ml, key: key, stream: pi.ID, kind: kind, codec: ml.Codec(), desc: layerDesc{
		Participant: pi.ID, UserID: pi.UserID, Name: pi.Name, Track: ti.ID, RID: ml.RID(),
		Source: ti.Source, Simulcast: ti.Simulcast, Muted: ti.Muted,
	}}
	tr, err := s.pc.AddTransceiverFromTrack(l, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil
	}
	l.sender = tr.Sender()
	s.mu.Lock()
	s.layers[key] = l
	s.mu.Unlock()
	go l.readRTCP()
	s.negotiate()
	return l
}

// negotiate offers the link's current layers to the edge, now or, if an
// offer is out, once its answer is in.
func (s *Subscription) negotiate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dc == nil || s.closed {
		return // offered when the channel opens
	}
	if s.offering {
		s.again = true
		return
	}
	offer, err := s.pc.CreateOffer(nil)
	if err == nil {
		err = s.pc.SetLocalDescription(offer)
	}
	if err != nil {
		return // closing
	}
	descs := make(map[string]layerDesc, len(s.layers))
	for k, l := range s.layers {
		descs[k] = l.desc
	}
	s.offering = true
	if err := send(s.dc, message{Type: msgOffer, SDP: offer.SDP, Layers: descs}); err != nil {
		s.offering = false
	}
}

func (s *Subscription) onMessage(b []byte) {
	var m message
	if json.Unmarshal(b, &m) != nil {
		return
	}
	if m.Type == msgLayers {
		s.setLayers(m)
		return
	}
	if m.Type != msgAnswer {
		return
	}
	s.mu.Lock()
	if !s.offering {
		s.mu.Unlock()
		return
	}
	err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP})
	s.offering = false
	again := s.again
	s.again = false
	s.mu.Unlock()
	if err != nil {
		s.Close()
		return
	}
	if again {
		s.negotiate()
	}
}

// setLayers idles the layers of a track that no viewer of the edge
// watches (the edge's dynacast), so the origin neither sends them nor,
// if nobody else wants them, has the publisher encode them.
func (s *Subscription) setLayers(m message) {
	s.mu.Lock()
	var ls []*sendLayer
	for _, l := range s.layers {
		if l.desc.Participant == m.Participant && l.desc.Track == m.Track {
			ls = append(ls, l)
		}
	}
	s.mu.Unlock()
	for _, l := range ls {
		s.mirror.SetIdle(l.ml, !slices.Contains(m.RIDs, l.desc.RID))
	}
}

// removeLayer takes an ended layer off the link.
func (s *Subscription) removeLayer(l *sendLayer) {
	s.mu.Lock()
	if s.layers[l.key] != l {
		s.mu.Unlock()
		return
	}
	delete(s.layers, l.key)
	s.mu.Unlock()
	_ = s.pc.RemoveTrack(l.sender)
	s.negotiate()
}

// sendLayer is one layer of a published track sent to the edge as
// published: the publisher's sequence numbers and timestamps, the link's
// SSRC and payload type. It is a webrtc.TrackLocal on the link and the
// mirror's sink for the layer.
type sendLayer struct {
	s      *Subscription
	ml     sfu.MirrorLayer
	key    string
	stream string
	kind   webrtc.RTPCodecType
	codec  webrtc.RTPCodecParameters
	desc   layerDesc
	sender *webrtc.RTPSender

	mu      sync.Mutex
	writer  webrtc.TrackLocalWriter
	ssrc    uint32
	pt      uint8
	rtxSSRC uint32 // resends go as RTX when negotiated: SRTP's replay
	rtxPT   uint8  // window would refuse a late resend on the media SSRC
	rtxSeq  uint16
	extAL   uint8
	// resends counts recent resends by sequence number: pion's NACK
	// generator keeps asking for a packet that came back as RTX (its
	// receive log sees the media stream only), so each is resent at most
	// maxResends times
	resends [512]struct {
		seq uint16
		n   uint8
	}
	hdr  rtp.Header
	exts [1]rtp.Extension
	buf  [1500]byte
}

func (l *sendLayer) ID() string                { return l.key }
func (l *sendLayer) RID() string               { return "" }
func (l *sendLayer) StreamID() string          { return l.stream }
func (l *sendLayer) Kind() webrtc.RTPCodecType { return l.kind }

func (l *sendLayer) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, l.codec.MimeType) && c.ClockRate == l.codec.ClockRate {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.writer, l.ssrc, l.pt, l.extAL = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(c.PayloadType), 0
			l.rtxSSRC, l.rtxPT = uint32(ctx.SSRCRetransmission()), 0
			apt := "apt=" + strconv.Itoa(int(c.PayloadType))
			for _, r := range ctx.CodecParameters() {
				if strings.EqualFold(r.MimeType, webrtc.MimeTypeRTX) && strings.Contains(r.SDPFmtpLine, apt) {
					l.rtxPT = uint8(r.PayloadType)
				}
			}
			for _, e := range ctx.HeaderExtensions() {
				if e.URI == "urn:ietf:params:rtp-hdrext:ssrc-audio-level" && l.kind == webrtc.RTPCodecTypeAudio {
					l.extAL = uint8(e.ID)
				}
			}
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

func (l *sendLayer) Unbind(webrtc.TrackLocalContext) error {
	l.mu.Lock()
	l.writer = nil
	l.mu.Unlock()
	return nil
}

// WriteRTP sends one packet of the layer. It never fails: the mirror stops
// a sink after its first error, and an unbound layer (before the edge's
// answer) just drops packets.
func (l *sendLayer) WriteRTP(p *rtp.Packet) error {
	var level []byte
	if l.kind == webrtc.RTPCodecTypeAudio {
		level = l.ml.AudioLevel(p)
	}
	l.mu.Lock()
	l.write(l.pt, l.ssrc, p.Marker, p.SequenceNumber, p.Timestamp, p.CSRC, p.Payload, level)
	l.mu.Unlock()
	return nil
}

// write sends a packet on the media or the RTX stream; l.mu is held.
func (l *sendLayer) write(pt uint8, ssrc uint32, marker bool, seq uint16, ts uint32, csrc []uint32, payload, level []byte) {
	if l.writer == nil {
		return
	}
	l.hdr = rtp.Header{
		Version: 2, Marker: marker, PayloadType: pt, SequenceNumber: seq, Timestamp: ts,
		SSRC: ssrc, CSRC: csrc, Extensions: l.exts[:0],
	}
	if l.extAL != 0 && len(level) == 1 {
		_ = l.hdr.SetExtension(l.extAL, level)
	}
	_, _ = l.writer.WriteRTP(&l.hdr, payload)
}

// Close is the mirror's: the track ended at the origin.
func (l *sendLayer) Close() error {
	l.s.removeLayer(l)
	return nil
}

// readRTCP handles the edge's feedback on this layer: NACKs are answered
// from the origin's cache, keyframe requests go to the publisher.
func (l *sendLayer) readRTCP() {
	sfu.ReadRTCP(l.sender, func(pkts []rtcp.Packet) {
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.TransportLayerNack:
				for _, pair := range p.Nacks {
					pair.Range(func(seq uint16) bool {
						l.resend(seq)
						return true
					})
				}
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				l.ml.RequestKeyframe()
			}
		}
	})
}

const maxResends = 3

func (l *sendLayer) resend(seq uint16) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.writer == nil {
		return
	}
	r := &l.resends[seq%uint16(len(l.resends))]
	if r.seq != seq {
		r.seq, r.n = seq, 0
	}
	if r.n >= maxResends {
		return
	}
	r.n++
	if l.rtxSSRC != 0 && l.rtxPT != 0 {
		if n, ts, marker, ok := l.ml.RTX(seq, l.buf[:]); ok {
			l.write(l.rtxPT, l.rtxSSRC, marker, l.rtxSeq, ts, nil, l.buf[:n], nil)
			l.rtxSeq++
			l.s.resent.Add(1)
		}
	} else if n, ts, marker, ok := l.ml.Packet(seq, l.buf[:]); ok {
		l.write(l.pt, l.ssrc, marker, seq, ts, nil, l.buf[:n], nil)
		l.s.resent.Add(1)
	}
}

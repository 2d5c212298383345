// Package sfutest holds what tests of the SFU and of packages built on it
// share: synthetic VP8 frames they can check on arrival, an interceptor
// that loses chosen packets, and time limits.
package sfutest

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// Deadline fails the test if it runs longer than d, instead of hanging.
func Deadline(t testing.TB, d time.Duration) {
	t.Helper()
	timer := time.AfterFunc(d, func() { panic("test " + t.Name() + " timed out after " + d.String()) })
	t.Cleanup(func() { timer.Stop() })
}

// VP8 builds a synthetic one-packet VP8 frame: a keyframe (with a w×h
// header) or an interframe, carrying a tag and a counter after the header.
func VP8(key bool, w, h int, tag byte, n uint32) []byte {
	var b []byte
	if key {
		b = []byte{0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, byte(w), byte(w >> 8), byte(h), byte(h >> 8)}
	} else {
		b = []byte{0x10, 0x01, 0x00, 0x00}
	}
	b = append(b, tag)
	return binary.BigEndian.AppendUint32(b, n)
}

// Mark reads back the tag and counter VP8 wrote.
func Mark(payload []byte) (tag byte, n uint32, ok bool) {
	if len(payload) < 5 {
		return 0, 0, false
	}
	p := payload[len(payload)-5:]
	return p[0], binary.BigEndian.Uint32(p[1:]), true
}

// Dropper makes interceptors that drop the incoming VP8 packets for which
// Drop says true, before a NACK generator registered after it sees them,
// as if the network had lost them.
type Dropper struct{ Drop func(seq uint16) bool }

func (f *Dropper) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &dropper{f: f}, nil
}

type dropper struct {
	interceptor.NoOp
	f *Dropper
}

func (d *dropper) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	if !strings.EqualFold(info.MimeType, webrtc.MimeTypeVP8) {
		return r
	}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, a2, err := r.Read(b, a)
			if err != nil || n < 4 || !d.f.Drop(binary.BigEndian.Uint16(b[2:4])) {
				return n, a2, err
			}
		}
	})
}

// AddTrack adds tracks to pc as one sender: the first, then the others as
// its simulcast encodings.
func AddTrack(t testing.TB, pc *webrtc.PeerConnection, tracks ...*webrtc.TrackLocalStaticRTP) *webrtc.RTPSender {
	t.Helper()
	sender, err := pc.AddTrack(tracks[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range tracks[1:] {
		if err := sender.AddEncoding(tr); err != nil {
			t.Fatal(err)
		}
	}
	return sender
}

// LoopbackAPI is a pion API for a test client: UDP4 on loopback only, no
// mDNS.
func LoopbackAPI(me *webrtc.MediaEngine, reg *interceptor.Registry) *webrtc.API {
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
}

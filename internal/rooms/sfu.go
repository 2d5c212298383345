package rooms

import (
	"github.com/pion/webrtc/v4"

	"github.com/parley-chat/parley/internal/sfu"
	"github.com/parley-chat/parley/protocol"
)

// SFUMedia adapts *sfu.SFU to Media: it translates the SFU's types to the
// wire's.
type SFUMedia struct{ S *sfu.SFU }

var _ Media = SFUMedia{}

// Join implements Media.
func (m SFUMedia) Join(roomID string, p MediaParticipant) (MediaSession, error) {
	part, err := m.S.Join(roomID, sfu.ParticipantOptions{
		ID: p.ID, UserID: p.UserID, Name: p.Name, CanPublish: p.CanPublish, Hidden: p.Hidden,
		OnSignal: func(sig sfu.Signal) { p.OnSignal(signalOut(sig)) },
		OnEvent: func(ev sfu.Event) {
			name, out, ok := eventOut(ev)
			if ok {
				p.OnEvent(name, out)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	return sfuSession{part}, nil
}

// Participants implements Media.
func (m SFUMedia) Participants(roomID string) ([]protocol.RoomParticipant, bool) {
	info, ok := m.S.Room(roomID)
	if !ok {
		return nil, false
	}
	out := make([]protocol.RoomParticipant, 0, len(info.Participants))
	for i := range info.Participants {
		out = append(out, participantOut(&info.Participants[i]))
	}
	return out, true
}

// CloseRoom implements Media.
func (m SFUMedia) CloseRoom(roomID string) { m.S.CloseRoom(roomID) }

type sfuSession struct{ p *sfu.Participant }

func (s sfuSession) Signal(sig protocol.RoomSignal) error {
	in := sfu.Signal{PC: sig.PC, Kind: sfu.SignalKind(sig.Kind), SDP: sig.SDP}
	if c := sig.Candidate; c != nil {
		in.Candidate = &webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
	}
	return s.p.HandleSignal(in)
}

func (s sfuSession) Subscribe(track string, w, h int, paused bool) error {
	return s.p.SetTrackPreference(track, w, h, paused)
}

func (s sfuSession) Mute(track string, muted bool) error { return s.p.SetMuted(track, muted) }

func (s sfuSession) Leave() { s.p.Leave() }

func signalOut(sig sfu.Signal) protocol.RoomSignal {
	out := protocol.RoomSignal{PC: sig.PC, Kind: string(sig.Kind), SDP: sig.SDP}
	if c := sig.Candidate; c != nil {
		out.Candidate = &protocol.ICECandidate{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
	}
	return out
}

var eventNames = map[string]string{
	sfu.EventParticipantJoined: protocol.EvRoomParticipantJoined,
	sfu.EventParticipantLeft:   protocol.EvRoomParticipantLeft,
	sfu.EventTrackPublished:    protocol.EvRoomTrackPublished,
	sfu.EventTrackUnpublished:  protocol.EvRoomTrackUnpublished,
	sfu.EventTrackMuted:        protocol.EvRoomTrackMuted,
	sfu.EventActiveSpeakers:    protocol.EvRoomActiveSpeakers,
	sfu.EventLayersWanted:      protocol.EvRoomLayersWanted,
	sfu.EventRoomClosed:        protocol.EvRoomClosed,
}

func eventOut(ev sfu.Event) (string, protocol.RoomEvent, bool) {
	name, ok := eventNames[ev.Type]
	if !ok {
		return "", protocol.RoomEvent{}, false
	}
	out := protocol.RoomEvent{Speakers: ev.Speakers, Layers: ev.Layers}
	if ev.Participant != nil {
		p := participantOut(ev.Participant)
		out.Participant = &p
	}
	if ev.Track != nil {
		t := trackOut(ev.Track)
		out.Track = &t
	}
	if name == protocol.EvRoomActiveSpeakers && out.Speakers == nil {
		out.Speakers = []string{} // nobody speaks: an empty list, not no list
	}
	return name, out, true
}

func participantOut(p *sfu.ParticipantInfo) protocol.RoomParticipant {
	out := protocol.RoomParticipant{ID: p.ID, UserID: p.UserID, Name: p.Name, JoinedAt: p.Joined, Tracks: make([]protocol.RoomTrack, 0, len(p.Tracks))}
	for i := range p.Tracks {
		out.Tracks = append(out.Tracks, trackOut(&p.Tracks[i]))
	}
	return out
}

func trackOut(t *sfu.TrackInfo) protocol.RoomTrack {
	out := protocol.RoomTrack{ID: t.ID, ParticipantID: t.ParticipantID, Kind: t.Kind, Source: t.Source, Codec: t.Codec,
		Simulcast: t.Simulcast, Muted: t.Muted, Bitrate: t.Bitrate, Width: t.Width, Height: t.Height}
	for _, l := range t.Layers {
		out.Layers = append(out.Layers, protocol.RoomLayer{RID: l.RID, Width: l.Width, Height: l.Height, Bitrate: l.Bitrate, Active: l.Active})
	}
	return out
}

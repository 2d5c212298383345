package sfu

import (
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// SignalKind is the kind of a Signal: "offer", "answer" or "candidate".
type SignalKind string

const (
	SignalOffer     SignalKind = "offer"
	SignalAnswer    SignalKind = "answer"
	SignalCandidate SignalKind = "candidate"
)

// The two PeerConnections of a participant, as named in Signal.PC.
const (
	PCPub = "pub" // the client offers, the SFU answers; carries the client's media up
	PCSub = "sub" // the SFU offers, the client answers; carries everyone else's media down
)

// Signal is one SDP or ICE message between the SFU and a participant's client.
type Signal struct {
	PC        string                   `json:"pc"` // PCPub or PCSub
	Kind      SignalKind               `json:"kind"`
	SDP       string                   `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
}

// ParticipantOptions describe a participant joining a room.
type ParticipantOptions struct {
	ID, UserID, Name string
	// CanPublish is false for broadcast viewers: their pub offers are refused.
	CanPublish bool
	// Hidden participants' joining and leaving are not announced to the
	// others (a broadcast's thousand viewers would otherwise cost a million
	// events); they are still listed in RoomInfo and get the room's events.
	Hidden bool
	// OnSignal carries SFU → client signals (sub offers, pub answers,
	// candidates). It is called from one goroutine per participant, in order,
	// and must not block for long.
	OnSignal func(Signal)
	// OnEvent carries events addressed to this participant. It is called from
	// the same goroutine as OnSignal, in order with it.
	OnEvent func(Event)
}

// TrackSink receives a published track's packets for server-side recording.
// It gets packets as published (original SSRC, sequence numbers and
// timestamps), of the highest simulcast layer received so far: when a higher
// layer starts (they arrive within moments of each other) the SSRC changes
// once, at that layer's first packet. A keyframe is requested when the sink
// is attached, and dynacast keeps that layer on. The packet is only valid
// during the call: copy what you keep. WriteRTP must not block for long; it
// runs on the forwarding path. After an error the sink gets no more packets.
// Close is called once, when the track ends or the tap stops.
type TrackSink interface {
	WriteRTP(*rtp.Packet) error
	Close() error
}

// RoomInfo describes a room.
type RoomInfo struct {
	ID           string            `json:"id"`
	Participants []ParticipantInfo `json:"participants"`
	Created      time.Time         `json:"created"`
}

// ParticipantInfo describes a participant and what it publishes.
type ParticipantInfo struct {
	ID     string      `json:"id"`
	UserID string      `json:"user_id"`
	Name   string      `json:"name"`
	Tracks []TrackInfo `json:"tracks"`
	Joined time.Time   `json:"joined"`
}

// TrackInfo describes a published track.
type TrackInfo struct {
	ID            string      `json:"id"` // the publisher's MediaStreamTrack id (msid track id)
	ParticipantID string      `json:"participant_id"`
	Kind          string      `json:"kind"`   // "audio" | "video"
	Source        string      `json:"source"` // "camera" | "microphone" | "screen"
	Codec         string      `json:"codec"`  // MIME type, e.g. "video/VP8"
	Simulcast     bool        `json:"simulcast"`
	Layers        []LayerInfo `json:"layers"`
	Muted         bool        `json:"muted"`
	Bitrate       int         `json:"bitrate"` // bps measured, all layers
	Width         int         `json:"width"`   // of the highest layer seen, from VP8 keyframes
	Height        int         `json:"height"`
}

// LayerInfo describes one simulcast layer (or the only one, RID "").
type LayerInfo struct {
	RID     string `json:"rid"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Bitrate int    `json:"bitrate"`
	Active  bool   `json:"active"` // packets arrived in the last second
}

// Event types.
const (
	EventParticipantJoined = "participant_joined"
	EventParticipantLeft   = "participant_left"
	EventTrackPublished    = "track_published"
	EventTrackUnpublished  = "track_unpublished"
	EventTrackMuted        = "track_muted"
	EventActiveSpeakers    = "active_speakers"
	EventRoomClosed        = "room_closed"
	// EventLayersWanted goes to a publisher only: Track and Layers, the RIDs
	// somebody watches. The client should deactivate the other encodings.
	EventLayersWanted = "layers_wanted"
)

// Event is something that happened in a room. All types except
// EventLayersWanted go to every participant of the room other than the one
// concerned (EventRoomClosed and EventActiveSpeakers go to everybody).
type Event struct {
	Type        string           `json:"type"`
	Room        string           `json:"room"`
	Participant *ParticipantInfo `json:"participant,omitempty"`
	Track       *TrackInfo       `json:"track,omitempty"`
	Speakers    []string         `json:"speakers"` // participant IDs, loudest first (EventActiveSpeakers)
	Layers      []string         `json:"layers"`   // RIDs (EventLayersWanted)
}

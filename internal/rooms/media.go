package rooms

import "github.com/parley-chat/parley/protocol"

// Media is the SFU as rooms uses it: admit a participant to a room, look a
// room up, close it. The SFU adapter (sfu.go) implements it over
// internal/sfu; tests may hand in their own.
//
// Callbacks of one participant (OnSignal, OnEvent) are made in order from
// one goroutine and must not block; rooms only publishes them on the bus.
type Media interface {
	// Join admits a participant to room (made on first use).
	Join(room string, p MediaParticipant) (MediaSession, error)
	// Participants lists who is in a room now, with their tracks; false
	// when the SFU has no such room (nobody joined yet, or it closed).
	Participants(room string) ([]protocol.RoomParticipant, bool)
	// CloseRoom disconnects everyone in a room.
	CloseRoom(room string)
}

// MediaParticipant is what the SFU needs to know of a joining participant.
type MediaParticipant struct {
	ID, UserID, Name string
	CanPublish       bool
	// Hidden participants (a channel's viewers) come and go unannounced:
	// a thousand viewers must not cost each other a million events.
	Hidden bool
	// OnSignal carries the SFU's side of negotiation (Room is left empty).
	OnSignal func(protocol.RoomSignal)
	// OnEvent carries room events for this participant: event is the
	// protocol event name (room:participant_joined, ...); Room is left empty.
	OnEvent func(event string, ev protocol.RoomEvent)
}

// MediaSession is one participant in the SFU.
type MediaSession interface {
	Signal(protocol.RoomSignal) error
	Subscribe(track string, width, height int, paused bool) error
	Mute(track string, muted bool) error
	Leave()
}

// Recorder records a room's published tracks to files (server-side
// recording). Start records every track published from now on (and those
// already published) until stop is called.
type Recorder interface {
	Start(account, room string) (stop func(), err error)
}

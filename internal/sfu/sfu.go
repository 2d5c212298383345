package sfu

import (
	"net"

	"github.com/parley-chat/parley/internal/apperr"
)

// SFU forwards media between the participants of rooms. It is safe for
// concurrent use.
type SFU struct {
	cfg  Config
	conn net.PacketConn
}

// New starts an SFU listening on cfg.UDPAddr.
func New(cfg Config) (*SFU, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	conn, err := net.ListenPacket("udp", cfg.UDPAddr)
	if err != nil {
		return nil, err
	}
	return &SFU{cfg: cfg, conn: conn}, nil
}

// Close ends every room and releases the UDP port.
func (s *SFU) Close() error { return s.conn.Close() }

// LocalAddr is the UDP address media arrives on.
func (s *SFU) LocalAddr() net.Addr { return s.conn.LocalAddr() }

var errTODO = apperr.New(apperr.Unavailable, "not_implemented", "not implemented yet")

// Join adds a participant to a room, creating the room if absent. It fails
// if a participant with the same ID is already in the room.
func (s *SFU) Join(roomID string, o ParticipantOptions) (*Participant, error) { return nil, errTODO }

// Rooms lists the rooms.
func (s *SFU) Rooms() []RoomInfo { return nil }

// Room describes one room.
func (s *SFU) Room(id string) (RoomInfo, bool) { return RoomInfo{}, false }

// CloseRoom makes everyone leave the room; they get EventRoomClosed.
func (s *SFU) CloseRoom(id string) bool { return false }

// Tap calls onTrack for each track published in the room, now and later,
// until stop is called; the returned sink gets the track's packets.
func (s *SFU) Tap(roomID string, onTrack func(TrackInfo) TrackSink) (stop func(), err error) {
	return nil, errTODO
}

// Participant is one member of a room, with its pub and sub PeerConnections.
type Participant struct{}

// HandleSignal applies a signal from the client: pub offers, sub answers and
// candidates for either. Renegotiation may happen at any time.
func (p *Participant) HandleSignal(sig Signal) error { return errTODO }

// SetTrackPreference asks for the layer of a track that fits width×height,
// or for nothing while paused.
func (p *Participant) SetTrackPreference(trackID string, width, height int, paused bool) error {
	return errTODO
}

// SetMuted records that the publisher muted or unmuted its track.
func (p *Participant) SetMuted(trackID string, muted bool) error { return errTODO }

// Leave closes the participant's connections and removes it from its room.
func (p *Participant) Leave() {}

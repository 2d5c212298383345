package cascade

import (
	"context"
	"encoding/json"

	"github.com/pion/webrtc/v4"

	"github.com/parley-chat/parley/internal/apperr"
)

// Signal carries the edge's SDP offer to the origin node, which answers it
// with Accept, and returns the answer.
type Signal func(ctx context.Context, offer string) (answer string, err error)

// ErrOriginGone ends an Edge whose origin closed the broadcast or stopped
// answering: look up the channel's origin again and pull from it.
var ErrOriginGone = apperr.New(apperr.Unavailable, "origin_gone", "the broadcast's origin went away")

// Messages on the link's data channel, JSON.
const (
	msgOffer  = "offer"  // origin → edge: SDP with the current tracks
	msgAnswer = "answer" // edge → origin
	msgMuted  = "muted"  // origin → edge: a publisher muted or unmuted a track
	msgEnd    = "end"    // origin → edge: the room ended
	msgLayers = "layers" // edge → origin: the layers of a track the edge's viewers watch (dynacast)
)

type message struct {
	Type   string               `json:"type"`
	SDP    string               `json:"sdp,omitempty"`
	Layers map[string]layerDesc `json:"layers,omitempty"` // offer: by the m-line's msid track ID
	// muted
	Participant string `json:"participant,omitempty"`
	Track       string `json:"track,omitempty"`
	Muted       bool   `json:"muted,omitempty"`
	// layers: RIDs
	RIDs []string `json:"rids,omitempty"`
}

// layerDesc describes one layer of a track sent on the link.
type layerDesc struct {
	Participant string `json:"participant"`
	UserID      string `json:"user_id"`
	Name        string `json:"name"`
	Track       string `json:"track"`
	RID         string `json:"rid"`
	Source      string `json:"source"`
	Simulcast   bool   `json:"simulcast"`
	Muted       bool   `json:"muted"`
}

func send(dc *webrtc.DataChannel, m message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return dc.SendText(string(b))
}

// gathered is pc's local description once ICE gathering has finished, so
// the SDP carries every candidate (no trickle on the link).
func gathered(ctx context.Context, pc *webrtc.PeerConnection) (string, error) {
	done := webrtc.GatheringCompletePromise(pc)
	if pc.ICEGatheringState() != webrtc.ICEGatheringStateComplete {
		select {
		case <-done:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return pc.LocalDescription().SDP, nil
}

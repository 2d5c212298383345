package sfu

import "sync/atomic"

// Stats are the SFU's totals since New, for load tests and monitoring.
type Stats struct {
	Rooms         int    `json:"rooms"`
	Participants  int    `json:"participants"`
	Tracks        int    `json:"tracks"`        // published now
	Subscriptions int    `json:"subscriptions"` // downtracks now
	Forwarded     uint64 `json:"forwarded"`     // packets sent to subscribers, all time
	Bytes         uint64 `json:"bytes"`         // their payload bytes
	Resent        uint64 `json:"resent"`        // packets sent again after NACKs
	// Mirrored counts packets (and payload bytes) given to mirrors: one
	// copy per layer per edge SFU of a broadcast cascade.
	Mirrored      uint64 `json:"mirrored"`
	MirroredBytes uint64 `json:"mirrored_bytes"`
}

// SubscriptionInfo describes one track as one subscriber receives it.
type SubscriptionInfo struct {
	TrackID       string `json:"track_id"`
	ParticipantID string `json:"participant_id"` // the publisher
	Kind          string `json:"kind"`
	Layer         string `json:"layer"` // RID being forwarded ("" for a plain track; "-" for none)
	Target        string `json:"target"`
	Paused        bool   `json:"paused"`
	Packets       uint64 `json:"packets"`
	Bytes         uint64 `json:"bytes"`
	Resent        uint64 `json:"resent"`
}

// totals keeps the counters of downtracks that are gone.
type totals struct{ packets, bytes, resent, mirrored, mirroredBytes atomic.Uint64 }

func (s *SFU) retire(d *downTrack) {
	s.gone.packets.Add(d.packets.Load())
	s.gone.bytes.Add(d.bytes.Load())
	s.gone.resent.Add(d.resent.Load())
}

// Stats counts rooms, participants, tracks and what was forwarded.
func (s *SFU) Stats() Stats {
	st := Stats{
		Forwarded: s.gone.packets.Load(), Bytes: s.gone.bytes.Load(), Resent: s.gone.resent.Load(),
		Mirrored: s.gone.mirrored.Load(), MirroredBytes: s.gone.mirroredBytes.Load(),
	}
	s.mu.Lock()
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	st.Rooms = len(rooms)
	for _, r := range rooms {
		ps := r.others(nil)
		st.Participants += len(ps)
		st.Tracks += len(r.allTracks())
		for _, p := range ps {
			if m := p.mirror; m != nil && !m.isStopped() {
				pk, by := m.Sent()
				st.Mirrored += pk
				st.MirroredBytes += by
			}
			p.mu.Lock()
			for _, d := range p.downs {
				st.Subscriptions++
				st.Forwarded += d.packets.Load()
				st.Bytes += d.bytes.Load()
				st.Resent += d.resent.Load()
			}
			p.mu.Unlock()
		}
	}
	return st
}

// Subscriptions describes what the participant receives.
func (p *Participant) Subscriptions() []SubscriptionInfo {
	p.mu.Lock()
	downs := make([]*downTrack, 0, len(p.downs))
	for _, d := range p.downs {
		downs = append(downs, d)
	}
	p.mu.Unlock()
	l := make([]SubscriptionInfo, 0, len(downs))
	for _, d := range downs {
		d.prefMu.Lock()
		paused := d.paused
		d.prefMu.Unlock()
		l = append(l, SubscriptionInfo{
			TrackID: d.track.id, ParticipantID: d.track.pub.opts.ID, Kind: d.track.kind.String(),
			Layer: d.track.ridOf(d.current.Load()), Target: d.track.ridOf(d.target.Load()), Paused: paused,
			Packets: d.packets.Load(), Bytes: d.bytes.Load(), Resent: d.resent.Load(),
		})
	}
	return l
}

// EstimatedBitrate is the bandwidth, in bits per second, the SFU estimates
// it can send this participant (from its TWCC feedback).
func (p *Participant) EstimatedBitrate() int {
	if p.bwe == nil {
		return 0
	}
	return p.bwe.GetTargetBitrate()
}

// ridOf names a layer index: its RID, or "-" for none.
func (t *pubTrack) ridOf(i int32) string {
	if l := t.layer(i); l != nil {
		return l.rid
	}
	return "-"
}

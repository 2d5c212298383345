package sfu

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// room is a set of participants who receive each other's tracks.
type room struct {
	s       *SFU
	id      string
	created time.Time

	mu     sync.Mutex
	closed bool
	parts  map[string]*Participant
	tracks map[*Participant]map[string]*pubTrack
	taps   map[*tap]struct{}
	stop   chan struct{}

	speakers []string // ticker only
}

func newRoom(s *SFU, id string) *room {
	return &room{
		s: s, id: id, created: time.Now(),
		parts:  map[string]*Participant{},
		tracks: map[*Participant]map[string]*pubTrack{},
		taps:   map[*tap]struct{}{},
		stop:   make(chan struct{}),
	}
}

func (r *room) info() RoomInfo {
	r.mu.Lock()
	ps := make([]*Participant, 0, len(r.parts))
	for _, p := range r.parts {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	sort.Slice(ps, func(i, j int) bool { return ps[i].joined.Before(ps[j].joined) })
	ri := RoomInfo{ID: r.id, Created: r.created, Participants: []ParticipantInfo{}}
	for _, p := range ps {
		ri.Participants = append(ri.Participants, p.info())
	}
	return ri
}

// others lists the participants other than p (nil: all).
func (r *room) others(p *Participant) []*Participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.othersLocked(p)
}

func (r *room) othersLocked(p *Participant) []*Participant {
	l := make([]*Participant, 0, len(r.parts))
	for _, o := range r.parts {
		if o != p {
			l = append(l, o)
		}
	}
	return l
}

// broadcast sends ev to every participant but except (nil: everybody).
func (r *room) broadcast(ev Event, except *Participant) {
	ev.Room = r.id
	for _, o := range r.others(except) {
		o.event(ev)
	}
}

func (r *room) tracksOf(p *Participant) []*pubTrack {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := make([]*pubTrack, 0, len(r.tracks[p]))
	for _, t := range r.tracks[p] {
		l = append(l, t)
	}
	sort.Slice(l, func(i, j int) bool { return l[i].id < l[j].id })
	return l
}

func (r *room) allTracks() []*pubTrack {
	r.mu.Lock()
	defer r.mu.Unlock()
	var l []*pubTrack
	for _, m := range r.tracks {
		for _, t := range m {
			l = append(l, t)
		}
	}
	return l
}

func (r *room) trackByID(p *Participant, id string) *pubTrack {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tracks[p][id]
}

// trackFor finds or makes the published track a remote stream belongs to.
func (r *room) trackFor(p *Participant, remote *webrtc.TrackRemote) (t *pubTrack, isNew bool) {
	return r.trackOrNew(p, remote.ID(), func() *pubTrack { return p.newTrack(remote) })
}

// trackOrNew finds p's track id or adds the one mk makes.
func (r *room) trackOrNew(p *Participant, id string, mk func() *pubTrack) (t *pubTrack, isNew bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.parts[p.opts.ID] != p {
		return nil, false
	}
	m := r.tracks[p]
	if t = m[id]; t != nil {
		return t, false
	}
	if len(m) >= r.s.cfg.MaxTracks {
		r.s.log.Warn("sfu: too many tracks", "participant", p.opts.ID, "max", r.s.cfg.MaxTracks)
		return nil, false
	}
	t = mk()
	m[t.id] = t
	return t, true
}

// layerAdded gives mirrors a layer that arrived after its track was published.
func (r *room) layerAdded(t *pubTrack) {
	for _, o := range r.others(t.pub) {
		if o.mirror != nil {
			o.mirror.attach(t)
		}
	}
}

// join adds p and returns what it should subscribe to.
func (r *room) join(p *Participant) (others []*Participant, tracks []*pubTrack, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, nil, errRoomClosed
	}
	if r.parts[p.opts.ID] != nil {
		return nil, nil, errDupID
	}
	r.parts[p.opts.ID] = p
	r.tracks[p] = map[string]*pubTrack{}
	for o, m := range r.tracks {
		if o == p {
			continue
		}
		for _, t := range m {
			tracks = append(tracks, t)
		}
	}
	return r.othersLocked(p), tracks, nil
}

// published announces a new track and subscribes everyone else to it.
func (r *room) published(t *pubTrack) {
	r.mu.Lock()
	others := r.othersLocked(t.pub)
	taps := make([]*tap, 0, len(r.taps))
	for k := range r.taps {
		taps = append(taps, k)
	}
	r.mu.Unlock()
	for _, o := range others {
		o.subscribe(t)
	}
	ti := t.info()
	r.broadcast(Event{Type: EventTrackPublished, Track: &ti}, t.pub)
	for _, k := range taps {
		k.attach(t)
	}
}

// unpublish ends a track: everyone unsubscribes, taps close their sinks.
func (r *room) unpublish(t *pubTrack) {
	r.mu.Lock()
	if r.tracks[t.pub][t.id] != t {
		r.mu.Unlock()
		return
	}
	delete(r.tracks[t.pub], t.id)
	others := r.othersLocked(t.pub)
	taps := make([]*tap, 0, len(r.taps))
	for k := range r.taps {
		taps = append(taps, k)
	}
	closed := r.closed
	r.mu.Unlock()
	t.mu.Lock()
	t.ended = true
	t.mu.Unlock()
	for _, o := range others {
		o.unsubscribe(t)
	}
	if !closed {
		ti := t.info()
		r.broadcast(Event{Type: EventTrackUnpublished, Track: &ti}, t.pub)
	}
	for _, k := range taps {
		k.detach(t)
	}
}

// leave removes p: its tracks are unpublished, the others told.
func (r *room) leave(p *Participant) {
	r.mu.Lock()
	if r.parts[p.opts.ID] != p {
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	pi := p.info()
	for _, t := range r.tracksOf(p) {
		r.unpublish(t)
	}
	r.mu.Lock()
	delete(r.parts, p.opts.ID)
	delete(r.tracks, p)
	closed := r.closed
	r.mu.Unlock()
	if !closed && !p.opts.Hidden {
		r.broadcast(Event{Type: EventParticipantLeft, Participant: &pi}, p)
	}
	r.s.maybeRemove(r)
}

// close makes everyone leave, with EventRoomClosed, and stops the taps.
func (r *room) close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	close(r.stop)
	parts := r.othersLocked(nil)
	taps := make([]*tap, 0, len(r.taps))
	for k := range r.taps {
		taps = append(taps, k)
	}
	r.mu.Unlock()
	for _, p := range parts {
		p.event(Event{Type: EventRoomClosed, Room: r.id})
		p.Leave()
	}
	for _, k := range taps {
		k.stop()
	}
}

const tick = 300 * time.Millisecond

// run is the room's housekeeping: active speakers every tick; layer
// allocation, bitrates, dynacast and REMB every third.
func (r *room) run() {
	tk := time.NewTicker(tick)
	defer tk.Stop()
	last := time.Now()
	for n := 1; ; n++ {
		select {
		case <-r.stop:
			return
		case now := <-tk.C:
			tracks := r.allTracks()
			r.activeSpeakers(tracks)
			if n%3 == 0 {
				measure(tracks, now.Sub(last))
				last = now
				for _, t := range tracks {
					r.allocate(t)
					r.dynacast(t)
					r.remb(t)
				}
			}
		}
	}
}

// speakerThreshold is the smoothed level (127 - dBov) above which a track
// counts as speaking: -50 dBov.
const speakerThreshold = 127 - 50

func (r *room) activeSpeakers(tracks []*pubTrack) {
	level := map[string]float64{}
	for _, t := range tracks {
		if t.kind != webrtc.RTPCodecTypeAudio {
			continue
		}
		sum, n := t.levelSum.Swap(0), t.levelN.Swap(0)
		avg := 0.0
		if n > 0 {
			avg = float64(sum) / float64(n)
		}
		t.smoothed = 0.6*t.smoothed + 0.4*avg
		if t.smoothed >= speakerThreshold && !t.muted.Load() {
			id := t.pub.opts.ID
			level[id] = max(level[id], t.smoothed)
		}
	}
	speakers := make([]string, 0, len(level))
	for id := range level {
		speakers = append(speakers, id)
	}
	sort.Slice(speakers, func(i, j int) bool {
		if level[speakers[i]] != level[speakers[j]] {
			return level[speakers[i]] > level[speakers[j]]
		}
		return speakers[i] < speakers[j]
	})
	if slices.Equal(speakers, r.speakers) {
		return
	}
	r.speakers = speakers
	r.broadcast(Event{Type: EventActiveSpeakers, Speakers: speakers}, nil)
}

func measure(tracks []*pubTrack, elapsed time.Duration) {
	if elapsed <= 0 {
		return
	}
	for _, t := range tracks {
		t.mu.Lock()
		for _, l := range t.layers {
			if l == nil {
				continue
			}
			b := l.bytes.Load()
			l.bitrate.Store(int64(float64(b-l.prevBytes) * 8 / elapsed.Seconds()))
			l.prevBytes = b
		}
		t.mu.Unlock()
	}
}

// allocate chooses the layer of t every subscriber gets.
func (r *room) allocate(t *pubTrack) {
	if downs := t.downs.Load(); downs != nil {
		for _, d := range *downs {
			r.allocateDown(d)
		}
	}
}

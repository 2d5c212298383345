package rooms

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/bus/local"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/protocol"
)

// fakeMedia is an SFU that admits everyone and tells the others of joins
// and leaves, like the real one.
type fakeMedia struct {
	delay  time.Duration // each Join takes this long (making PeerConnections)
	mu     sync.Mutex
	rooms  map[string]map[string]*fakeSession
	closed []string
}

type fakeSession struct {
	m    *fakeMedia
	room string
	p    MediaParticipant
	sigs []protocol.RoomSignal
	left bool
}

func newFake() *fakeMedia { return &fakeMedia{rooms: map[string]map[string]*fakeSession{}} }

func (f *fakeMedia) Join(room string, p MediaParticipant) (MediaSession, error) {
	time.Sleep(f.delay)
	f.mu.Lock()
	if f.rooms[room] == nil {
		f.rooms[room] = map[string]*fakeSession{}
	}
	s := &fakeSession{m: f, room: room, p: p}
	others := f.others(room, p.ID)
	f.rooms[room][p.ID] = s
	f.mu.Unlock()
	for _, o := range others {
		if !p.Hidden { // as the SFU: hidden participants come unannounced
			o.p.OnEvent(protocol.EvRoomParticipantJoined, protocol.RoomEvent{Participant: &protocol.RoomParticipant{ID: p.ID, UserID: p.UserID}})
		}
	}
	return s, nil
}

func (f *fakeMedia) others(room, id string) []*fakeSession {
	var out []*fakeSession
	for pid, s := range f.rooms[room] {
		if pid != id {
			out = append(out, s)
		}
	}
	return out
}

func (f *fakeMedia) Participants(room string) ([]protocol.RoomParticipant, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rooms[room]
	var out []protocol.RoomParticipant
	for _, s := range r {
		out = append(out, protocol.RoomParticipant{ID: s.p.ID, UserID: s.p.UserID, Name: s.p.Name})
	}
	return out, ok
}

func (f *fakeMedia) CloseRoom(room string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.rooms[room] {
		s.left = true
		s.p.OnEvent(protocol.EvRoomClosed, protocol.RoomEvent{}) // rooms must drop this one: it says closed itself
	}
	delete(f.rooms, room)
	f.closed = append(f.closed, room)
}

func (s *fakeSession) Signal(sig protocol.RoomSignal) error {
	s.m.mu.Lock()
	s.sigs = append(s.sigs, sig)
	s.m.mu.Unlock()
	if sig.Kind == protocol.SignalOffer {
		s.p.OnSignal(protocol.RoomSignal{PC: protocol.PCPub, Kind: protocol.SignalAnswer, SDP: "answer"})
	}
	return nil
}

func (s *fakeSession) Subscribe(track string, w, h int, paused bool) error {
	if track != "TR_1" {
		return errors.New("no such track")
	}
	return nil
}

func (s *fakeSession) Mute(track string, muted bool) error {
	if track != "TR_mine" {
		return errors.New("not yours")
	}
	return nil
}

func (s *fakeSession) Leave() {
	s.m.mu.Lock()
	s.left = true
	delete(s.m.rooms[s.room], s.p.ID)
	others := s.m.others(s.room, s.p.ID)
	s.m.mu.Unlock()
	for _, o := range others {
		if !s.p.Hidden {
			o.p.OnEvent(protocol.EvRoomParticipantLeft, protocol.RoomEvent{Participant: &protocol.RoomParticipant{ID: s.p.ID}})
		}
	}
}

// inbox records what the bus delivers to a user's topic, by device.
type inbox struct {
	mu  sync.Mutex
	evs []bus.Event
}

func (in *inbox) names(device string) []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []string
	for _, e := range in.evs {
		if e.Device == device {
			out = append(out, e.Name)
		}
	}
	return out
}

func (in *inbox) last(device, name string) json.RawMessage {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i := len(in.evs) - 1; i >= 0; i-- {
		if e := in.evs[i]; e.Device == device && e.Name == name {
			return e.Data
		}
	}
	return nil
}

type fixture struct {
	s     *Service
	media *fakeMedia
	in    map[string]*inbox // by user id
}

func newFixture(t *testing.T, cfg Config) *fixture {
	b := local.New()
	t.Cleanup(func() { b.Close() })
	f := &fixture{media: newFake(), in: map[string]*inbox{}}
	for _, u := range []string{"usr_alice", "usr_bob", "usr_carol", "usr_vic", "usr_eve"} {
		in := &inbox{}
		f.in[u] = in
		b.Subscribe(chat.UserTopic(u), func(_ string, ev bus.Event) {
			in.mu.Lock()
			in.evs = append(in.evs, ev)
			in.mu.Unlock()
		})
	}
	f.s = New(f.media, nil, b, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return f
}

func who(user, role string) auth.Identity {
	acct := "acc_a"
	if user == "usr_eve" {
		acct = "acc_b"
	}
	return auth.Identity{AccountID: acct, UserID: user, UserName: user[4:], Role: role}
}

func code(t *testing.T, err error, want string) {
	t.Helper()
	if !apperr.Is(err, want) {
		t.Fatalf("err = %v, want code %s", err, want)
	}
}

func TestRoomLifecycle(t *testing.T) {
	f := newFixture(t, Config{MaxParticipants: 2})
	alice, bob, carol := who("usr_alice", protocol.RoleMember), who("usr_bob", protocol.RoleAgent), who("usr_carol", protocol.RoleOwner)
	vic, eve := who("usr_vic", protocol.RoleVisitor), who("usr_eve", protocol.RoleOwner)

	_, err := f.s.Create(vic, protocol.CreateRoom{})
	code(t, err, apperr.CodeForbidden)
	_, err = f.s.Create(alice, protocol.CreateRoom{MaxParticipants: 3})
	code(t, err, apperr.CodeBadRequest)
	if f.s.Active() != 0 {
		t.Fatal("a refused create made a room")
	}
	rm, err := f.s.Create(alice, protocol.CreateRoom{Name: "Standup"})
	if err != nil || rm.MaxParticipants != 2 || rm.Kind != protocol.RoomKindRoom || rm.CreatedBy != "usr_alice" {
		t.Fatalf("create: %+v %v", rm, err)
	}

	// Other accounts do not see it; visitors only when invited.
	_, err = f.s.Join(eve, "con_e", protocol.RoomJoin{Room: rm.ID, Publish: true})
	code(t, err, apperr.CodeNotFound)
	_, err = f.s.Get(eve, rm.ID)
	code(t, err, apperr.CodeNotFound)
	_, err = f.s.Join(vic, "con_v", protocol.RoomJoin{Room: rm.ID})
	code(t, err, apperr.CodeForbidden)

	j, err := f.s.Join(alice, "con_a", protocol.RoomJoin{Room: rm.ID, Publish: true})
	if err != nil || j.ParticipantID == "" || len(j.Room.Participants) != 1 {
		t.Fatalf("join: %+v %v", j, err)
	}
	_, err = f.s.Join(alice, "con_a", protocol.RoomJoin{Room: rm.ID, Publish: true})
	code(t, err, apperr.CodeConflict)
	jb, err := f.s.Join(bob, "con_b", protocol.RoomJoin{Room: rm.ID, Publish: true})
	if err != nil || len(jb.Room.Participants) != 2 {
		t.Fatalf("bob joins: %+v %v", jb, err)
	}
	_, err = f.s.Join(carol, "con_c", protocol.RoomJoin{Room: rm.ID, Publish: true})
	code(t, err, CodeRoomFull)

	// The SFU's events reach exactly the participant's connection, with the room named.
	if got := f.in["usr_alice"].names("con_a"); len(got) != 1 || got[0] != protocol.EvRoomParticipantJoined {
		t.Fatalf("alice got %v", got)
	}
	var ev protocol.RoomEvent
	json.Unmarshal(f.in["usr_alice"].last("con_a", protocol.EvRoomParticipantJoined), &ev)
	if ev.Room != rm.ID || ev.Participant.ID != jb.ParticipantID {
		t.Fatalf("event %+v", ev)
	}

	// Signalling: checked, passed on, answered to the one device.
	code(t, f.s.Signal("con_a", protocol.RoomSignal{Room: rm.ID, PC: "x", Kind: "offer", SDP: "v=0"}), apperr.CodeBadRequest)
	code(t, f.s.Signal("con_a", protocol.RoomSignal{Room: rm.ID, PC: "sub", Kind: "offer", SDP: "v=0"}), apperr.CodeBadRequest)
	code(t, f.s.Signal("con_a", protocol.RoomSignal{Room: rm.ID, PC: "pub", Kind: "offer"}), apperr.CodeBadRequest)
	code(t, f.s.Signal("con_x", protocol.RoomSignal{Room: rm.ID, PC: "pub", Kind: "offer", SDP: "v=0"}), CodeNotInRoom)
	if err := f.s.Signal("con_a", protocol.RoomSignal{Room: rm.ID, PC: "pub", Kind: "offer", SDP: "v=0"}); err != nil {
		t.Fatal(err)
	}
	var sig protocol.RoomSignal
	json.Unmarshal(f.in["usr_alice"].last("con_a", protocol.EvRoomSignal), &sig)
	if sig.Room != rm.ID || sig.Kind != "answer" || sig.PC != "pub" {
		t.Fatalf("answer %+v", sig)
	}
	code(t, f.s.Subscribe("con_a", protocol.RoomSubscribe{Room: rm.ID, Track: "TR_1", Width: -1}), apperr.CodeBadRequest)
	code(t, f.s.Subscribe("con_a", protocol.RoomSubscribe{Room: rm.ID, Track: "TR_2", Width: 320, Height: 180}), apperr.CodeNotFound)
	if err := f.s.Subscribe("con_a", protocol.RoomSubscribe{Room: rm.ID, Track: "TR_1", Width: 320, Height: 180}); err != nil {
		t.Fatal(err)
	}
	code(t, f.s.Mute("con_a", protocol.RoomMute{Room: rm.ID, Track: "TR_1", Muted: true}), CodeNotInRoom)

	// A closed connection leaves; the others hear it.
	f.s.Disconnected("con_b")
	if got := f.in["usr_alice"].names("con_a"); got[len(got)-1] != protocol.EvRoomParticipantLeft {
		t.Fatalf("alice got %v", got)
	}
	if g, _ := f.s.Get(alice, rm.ID); len(g.Participants) != 1 {
		t.Fatalf("after bob's disconnect: %+v", g.Participants)
	}
	code(t, f.s.Leave("con_b", rm.ID), CodeNotInRoom)

	// Only the creator, owners and agents close; everyone inside hears room:closed once.
	rm2, _ := f.s.Create(carol, protocol.CreateRoom{})
	code(t, f.s.Close(alice, rm2.ID), apperr.CodeForbidden)
	code(t, f.s.Close(eve, rm.ID), apperr.CodeNotFound)
	if err := f.s.Close(alice, rm.ID); err != nil {
		t.Fatal(err)
	}
	if got := f.in["usr_alice"].names("con_a"); got[len(got)-1] != protocol.EvRoomClosed || count(got, protocol.EvRoomClosed) != 1 {
		t.Fatalf("alice got %v", got)
	}
	_, err = f.s.Join(alice, "con_a", protocol.RoomJoin{Room: rm.ID, Publish: true})
	code(t, err, apperr.CodeNotFound)
	code(t, f.s.Signal("con_a", protocol.RoomSignal{Room: rm.ID, PC: "pub", Kind: "offer", SDP: "v=0"}), CodeNotInRoom)
	if len(f.media.closed) != 1 || f.media.closed[0] != rm.ID {
		t.Fatalf("SFU rooms closed: %v", f.media.closed)
	}
}

func TestInvitedVisitorAndEmptyRoomExpires(t *testing.T) {
	f := newFixture(t, Config{EmptyTimeout: 100 * time.Millisecond})
	owner, vic := who("usr_carol", protocol.RoleOwner), who("usr_vic", protocol.RoleVisitor)
	rm, err := f.s.Create(owner, protocol.CreateRoom{Invite: []string{"usr_vic"}})
	if err != nil {
		t.Fatal(err)
	}
	if g, err := f.s.Get(vic, rm.ID); err != nil || g.Invited != nil {
		t.Fatalf("a visitor sees the room but not who else is invited: %+v %v", g, err)
	}
	if l := f.s.List(vic); len(l) != 1 {
		t.Fatalf("the visitor lists %d rooms", len(l))
	}
	if _, err := f.s.Join(vic, "con_v", protocol.RoomJoin{Room: rm.ID, Publish: true}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond)
	if f.s.Active() != 1 {
		t.Fatal("a room with someone in it expired")
	}
	f.s.Disconnected("con_v")
	deadline := time.Now().Add(2 * time.Second)
	for f.s.Active() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the empty room did not expire")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestChannels(t *testing.T) {
	f := newFixture(t, Config{})
	alice, bob, vic := who("usr_alice", protocol.RoleMember), who("usr_bob", protocol.RoleAgent), who("usr_vic", protocol.RoleVisitor)
	_, err := f.s.Publish(alice, "con_a", "bad name!")
	code(t, err, apperr.CodeBadRequest)
	_, err = f.s.Publish(vic, "con_v", "live")
	code(t, err, apperr.CodeForbidden)
	if f.s.Active() != 0 {
		t.Fatal("refused publishes made a channel")
	}
	pub, err := f.s.Publish(alice, "con_a", "live")
	if err != nil || pub.Room.Kind != protocol.RoomKindChannel || pub.Room.Channel != "live" {
		t.Fatalf("publish: %+v %v", pub, err)
	}
	_, err = f.s.Publish(bob, "con_b", "live")
	code(t, err, CodeChannelBusy)
	for _, c := range []string{"con_v1", "con_v2", "con_v3"} {
		w, err := f.s.Watch(vic, c, "live")
		if err != nil || w.Room.ID != pub.Room.ID || len(w.Room.Participants) != 1 {
			t.Fatalf("watch: %+v %v", w, err)
		}
	}
	// Viewers hear of the broadcaster, not of each other; the broadcaster hears of everyone.
	if got := f.in["usr_vic"].names("con_v1"); count(got, protocol.EvRoomParticipantJoined) != 0 {
		t.Fatalf("a viewer heard of other viewers: %v", got)
	}
	if got := f.in["usr_alice"].names("con_a"); count(got, protocol.EvRoomParticipantJoined) != 3 {
		t.Fatalf("the broadcaster heard %v", got)
	}
	if w, _ := f.s.Watch(vic, "con_v4", "live"); len(w.Room.Participants) != 1 || w.Room.Participants[0].ID != pub.ParticipantID {
		t.Fatalf("a viewer's room lists %+v", w.Room.Participants)
	}
	f.s.Disconnected("con_v4")
	if got := f.in["usr_alice"].names("con_a"); count(got, protocol.EvRoomParticipantLeft) != 1 {
		t.Fatalf("the broadcaster did not hear the viewer leave: %v", got)
	}
	// A viewer cannot publish on its connection.
	code(t, f.s.Signal("con_v1", protocol.RoomSignal{Room: pub.Room.ID, PC: "pub", Kind: "offer", SDP: "v=0"}), apperr.CodeForbidden)
	ch := f.s.Channels(bob)
	if len(ch) != 1 || ch[0].Viewers != 3 || ch[0].Publisher == nil || ch[0].Publisher.ID != "usr_alice" {
		t.Fatalf("channels: %+v", ch)
	}
	if len(f.s.Channels(who("usr_eve", protocol.RoleOwner))) != 0 {
		t.Fatal("another account lists the channel")
	}
	// The broadcaster leaves: the channel is free for another, viewers stay and hear it.
	if err := f.s.LeaveChannel(alice, "con_a", "live"); err != nil {
		t.Fatal(err)
	}
	if got := f.in["usr_vic"].names("con_v1"); count(got, protocol.EvRoomParticipantLeft) != 1 {
		t.Fatalf("a viewer heard %v", got)
	}
	if _, err := f.s.Publish(bob, "con_b", "live"); err != nil {
		t.Fatal(err)
	}
	// Everyone gone: the channel is no more.
	for _, c := range []string{"con_b", "con_v1", "con_v2", "con_v3"} {
		f.s.Disconnected(c)
	}
	if f.s.Active() != 0 || len(f.s.Channels(bob)) != 0 {
		t.Fatalf("channel left behind: %d", f.s.Active())
	}
}

func TestShutdownClosesEverything(t *testing.T) {
	f := newFixture(t, Config{})
	alice := who("usr_alice", protocol.RoleMember)
	rm, _ := f.s.Create(alice, protocol.CreateRoom{})
	f.s.Join(alice, "con_a", protocol.RoomJoin{Room: rm.ID, Publish: true})
	f.s.Publish(alice, "con_a", "live")
	f.s.Shutdown()
	var ev protocol.RoomEvent
	json.Unmarshal(f.in["usr_alice"].last("con_a", protocol.EvRoomClosed), &ev)
	if ev.Reason != ReasonShuttingDown || count(f.in["usr_alice"].names("con_a"), protocol.EvRoomClosed) != 2 {
		t.Fatalf("closed: %+v %v", ev, f.in["usr_alice"].names("con_a"))
	}
	_, err := f.s.Create(alice, protocol.CreateRoom{})
	code(t, err, apperr.CodeShuttingDown)
}

func count(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

// Joins do not queue behind each other while the SFU makes their
// connections; a connection that closes while its join is under way leaves
// the SFU as soon as it is admitted.
func TestJoinsRunSideBySide(t *testing.T) {
	f := newFixture(t, Config{})
	f.media.delay = 100 * time.Millisecond
	alice, vic := who("usr_alice", protocol.RoleMember), who("usr_vic", protocol.RoleVisitor)
	if _, err := f.s.Publish(alice, "con_a", "live"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.s.Watch(vic, fmt.Sprintf("con_v%d", i), "live"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("20 joins of 100 ms each took %s: they queued", d)
	}
	if ch := f.s.Channels(alice); len(ch) != 1 || ch[0].Viewers != 20 {
		t.Fatalf("channels %+v", ch)
	}

	// A viewer whose connection closes mid-join: refused, and gone from the SFU.
	done := make(chan error)
	go func() {
		_, err := f.s.Watch(vic, "con_late", "live")
		done <- err
	}()
	time.Sleep(30 * time.Millisecond)
	f.s.Disconnected("con_late")
	code(t, <-done, CodeNotInRoom)
	if ps, _ := f.media.Participants(f.s.Channels(alice)[0].Room); len(ps) != 21 {
		t.Fatalf("the SFU has %d participants, want 21", len(ps))
	}
	// A request of a participant still joining waits for it.
	go f.s.Watch(vic, "con_slow", "live")
	time.Sleep(30 * time.Millisecond)
	if err := f.s.Signal("con_slow", protocol.RoomSignal{Room: f.s.Channels(alice)[0].Room, PC: "sub", Kind: "candidate", Candidate: &protocol.ICECandidate{Candidate: "candidate:1"}}); err != nil {
		t.Fatal(err)
	}
}

func TestRoomsPerAccount(t *testing.T) {
	f := newFixture(t, Config{MaxPerAccount: 2})
	alice, eve := who("usr_alice", protocol.RoleMember), who("usr_eve", protocol.RoleOwner)
	rm, err := f.s.Create(alice, protocol.CreateRoom{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Publish(alice, "con_a", "live"); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.Create(alice, protocol.CreateRoom{})
	code(t, err, CodeTooMany)
	_, err = f.s.Watch(alice, "con_b", "other")
	code(t, err, CodeTooMany)
	if _, err := f.s.Create(eve, protocol.CreateRoom{}); err != nil {
		t.Fatalf("another account is not limited by this one: %v", err)
	}
	if err := f.s.Close(alice, rm.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Create(alice, protocol.CreateRoom{}); err != nil {
		t.Fatalf("after a close: %v", err)
	}
}

package rooms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/app"
	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/config"
	"github.com/parley-chat/parley/internal/rooms"
	"github.com/parley-chat/parley/protocol"
	"github.com/parley-chat/parley/protocol/wiretest"
)

// server is a whole Parley node (app.New: REST, WebSocket, the SFU on a
// free loopback UDP port) serving on a loopback listener.
type server struct {
	t    *testing.T
	a    *app.App
	url  string
	acc  string // account A
	key  string // its API key
	accB string
	stop func() // stops the node gracefully
}

func startServer(t *testing.T, mod func(*config.Config)) *server {
	t.Helper()
	s := startNode(t, mod)
	ctx := context.Background()
	acc, key, err := auth.CreateAccount(ctx, s.a.Store, "acme", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	accB, _, err := auth.CreateAccount(ctx, s.a.Store, "other", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.acc, s.key, s.accB = acc.ID, key, accB.ID
	return s
}

// startNode starts a node without accounts; stop stops it (once).
func startNode(t *testing.T, mod func(*config.Config)) *server {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.TURNEnabled = false
	cfg.SFUUDPAddr = "127.0.0.1:0"
	cfg.LogLevel = "error"
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	s := &server{t: t, a: a, url: "http://" + ln.Addr().String()}
	s.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	t.Cleanup(s.stop)
	return s
}

// token mints a token for a user of account acc (made on first use).
func (s *server) token(acc, user, role string) string {
	s.t.Helper()
	tok, err := s.a.Auth.Mint(auth.MintRequest{AccountID: acc, User: user, Role: role, TTL: time.Hour})
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

type resp struct {
	status int
	body   []byte
}

func (r resp) code() string {
	var e struct {
		Error protocol.Error `json:"error"`
	}
	json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (s *server) do(method, path, cred string, body any) resp {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		if b, ok := body.(string); ok {
			rd = strings.NewReader(b)
		} else {
			j, _ := json.Marshal(body)
			rd = bytes.NewReader(j)
		}
	}
	req, _ := http.NewRequest(method, s.url+"/api/v1"+path, rd)
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, b}
}

// want checks a response's status and, for errors, its code; it decodes a
// success into out.
func (s *server) want(r resp, status int, code string, out any) {
	s.t.Helper()
	if r.status != status || (code != "" && r.code() != code) {
		s.t.Fatalf("got %d %s, want %d %s", r.status, r.body, status, code)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			s.t.Fatal(err)
		}
	}
}

func (s *server) dial(tok string) *client.Conn {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Every frame the server sends is checked against docs/protocol.json.
	c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(s.url, "http")+"/ws", tok, &client.Options{NetDial: wiretest.Tap(s.t)})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

func request(t *testing.T, c *client.Conn, event string, data, out any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Request(ctx, event, data, out)
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("err = %v, want code %s", err, code)
	}
}

func roomList(s *server, cred string) []protocol.Room {
	s.t.Helper()
	var l struct {
		Rooms []protocol.Room `json:"rooms"`
	}
	s.want(s.do("GET", "/rooms", cred, nil), 200, "", &l)
	return l.Rooms
}

// REST: who may create, see, close rooms and get recordings; bad input is
// refused with its code and changes nothing.
func TestRoomsREST(t *testing.T) {
	s := startServer(t, func(c *config.Config) { c.RoomMaxParticipants = 4 })
	member := s.token(s.acc, "alice", protocol.RoleMember)
	agent := s.token(s.acc, "bob", protocol.RoleAgent)
	owner := s.token(s.acc, "carol", protocol.RoleOwner)
	visitor := s.token(s.acc, "vic", protocol.RoleVisitor)
	other := s.token(s.accB, "eve", protocol.RoleOwner)

	s.want(s.do("POST", "/rooms", "", nil), 401, apperr.CodeUnauthenticated, nil)
	s.want(s.do("POST", "/rooms", visitor, nil), 403, apperr.CodeForbidden, nil)
	s.want(s.do("POST", "/rooms", member, `{"name": `), 400, apperr.CodeBadRequest, nil)
	s.want(s.do("POST", "/rooms", member, protocol.CreateRoom{MaxParticipants: 5}), 400, apperr.CodeBadRequest, nil)
	s.want(s.do("POST", "/rooms", member, protocol.CreateRoom{Name: strings.Repeat("x", 201)}), 400, apperr.CodeBadRequest, nil)
	if l := roomList(s, owner); len(l) != 0 {
		t.Fatalf("refused creates made rooms: %+v", l)
	}

	var rm, byKey protocol.Room
	s.want(s.do("POST", "/rooms", member, protocol.CreateRoom{Name: "Standup"}), 201, "", &rm)
	if rm.ID == "" || rm.Name != "Standup" || rm.MaxParticipants != 4 || rm.Participants == nil {
		t.Fatalf("room %+v", rm)
	}
	s.want(s.do("POST", "/rooms", s.key, protocol.CreateRoom{Invite: []string{"usr_x"}}), 201, "", &byKey)
	if l := roomList(s, agent); len(l) != 2 {
		t.Fatalf("agent lists %d rooms", len(l))
	}
	if l := roomList(s, visitor); len(l) != 0 {
		t.Fatalf("an uninvited visitor lists %+v", l)
	}
	if l := roomList(s, other); len(l) != 0 {
		t.Fatalf("another account lists %+v", l)
	}
	var got protocol.Room
	s.want(s.do("GET", "/rooms/"+rm.ID, agent, nil), 200, "", &got)
	if got.ID != rm.ID {
		t.Fatalf("get %+v", got)
	}
	s.want(s.do("GET", "/rooms/"+rm.ID, other, nil), 404, apperr.CodeNotFound, nil)
	s.want(s.do("GET", "/rooms/"+rm.ID, visitor, nil), 404, apperr.CodeNotFound, nil)
	s.want(s.do("GET", "/rooms/room_nope", owner, nil), 404, apperr.CodeNotFound, nil)

	// Closing: not another account, not a member who did not create it.
	s.want(s.do("DELETE", "/rooms/"+rm.ID, other, nil), 404, apperr.CodeNotFound, nil)
	s.want(s.do("DELETE", "/rooms/"+byKey.ID, member, nil), 403, apperr.CodeForbidden, nil)
	if l := roomList(s, owner); len(l) != 2 {
		t.Fatalf("refused closes closed rooms: %d left", len(l))
	}
	s.want(s.do("DELETE", "/rooms/"+byKey.ID, agent, nil), 204, "", nil)
	s.want(s.do("DELETE", "/rooms/"+byKey.ID, agent, nil), 404, apperr.CodeNotFound, nil)

	// Recording: owners and API keys; one at a time; listed and
	// downloadable by the account's owners only.
	s.want(s.do("POST", "/rooms/"+rm.ID+"/recording", member, nil), 403, apperr.CodeForbidden, nil)
	s.want(s.do("POST", "/rooms/"+rm.ID+"/recording", other, nil), 404, apperr.CodeNotFound, nil)
	s.want(s.do("DELETE", "/rooms/"+rm.ID+"/recording", owner, nil), 409, apperr.CodeConflict, nil)
	s.want(s.do("GET", "/recordings", agent, nil), 403, apperr.CodeForbidden, nil)
	var recs struct {
		Recordings []protocol.Recording `json:"recordings"`
	}
	s.want(s.do("GET", "/recordings", owner, nil), 200, "", &recs)
	if recs.Recordings == nil || len(recs.Recordings) != 0 {
		t.Fatalf("recordings %+v", recs.Recordings)
	}
	var rec protocol.Room
	s.want(s.do("POST", "/rooms/"+rm.ID+"/recording", owner, nil), 200, "", &rec)
	if !rec.Recording {
		t.Fatalf("room %+v", rec)
	}
	s.want(s.do("POST", "/rooms/"+rm.ID+"/recording", s.key, nil), 409, apperr.CodeConflict, nil)
	s.want(s.do("DELETE", "/rooms/"+rm.ID+"/recording", owner, nil), 200, "", &rec)
	if rec.Recording {
		t.Fatalf("room %+v", rec)
	}
	s.want(s.do("GET", "/recordings", owner, nil), 200, "", &recs)
	if len(recs.Recordings) != 1 || recs.Recordings[0].Room != rm.ID || recs.Recordings[0].EndedAt == nil {
		t.Fatalf("recordings %+v", recs.Recordings)
	}
	name := recs.Recordings[0].Name + ".json"
	if r := s.do("GET", "/recordings/"+name, owner, nil); r.status != 200 || !bytes.Contains(r.body, []byte(rm.ID)) {
		t.Fatalf("manifest %d %s", r.status, r.body)
	}
	s.want(s.do("GET", "/recordings/"+name, member, nil), 403, apperr.CodeForbidden, nil)
	s.want(s.do("GET", "/recordings/"+name, other, nil), 404, apperr.CodeNotFound, nil)
	s.want(s.do("GET", "/recordings/..%2F..%2Fparley.db", owner, nil), 404, apperr.CodeNotFound, nil)
	s.want(s.do("GET", "/recordings/.hidden.webm", owner, nil), 404, apperr.CodeNotFound, nil)

	var ch struct {
		Channels []protocol.Channel `json:"channels"`
	}
	s.want(s.do("GET", "/channels", visitor, nil), 200, "", &ch)
	if ch.Channels == nil || len(ch.Channels) != 0 {
		t.Fatalf("channels %+v", ch.Channels)
	}
}

// Without an SFU the routes say so.
func TestRoomsOff(t *testing.T) {
	s := startServer(t, func(c *config.Config) { c.SFUUDPAddr = "" })
	s.want(s.do("GET", "/rooms", s.key, nil), 503, rooms.CodeUnavailable, nil)
	c := s.dial(s.token(s.acc, "alice", protocol.RoleMember))
	wantCode(t, request(t, c, protocol.EvRoomJoin, protocol.RoomJoin{Room: "room_x"}, nil), apperr.CodeUnknownEvent)
}

// WebSocket: error codes of room requests, and the ones that need the SFU
// to admit participants.
func TestRoomsWebSocket(t *testing.T) {
	s := startServer(t, func(c *config.Config) { c.RoomMaxParticipants = 2 })
	alice := s.dial(s.token(s.acc, "alice", protocol.RoleMember))
	bob := s.dial(s.token(s.acc, "bob", protocol.RoleAgent))
	carol := s.dial(s.token(s.acc, "carol", protocol.RoleOwner))
	vic := s.dial(s.token(s.acc, "vic", protocol.RoleVisitor))
	eve := s.dial(s.token(s.accB, "eve", protocol.RoleOwner))
	var rm protocol.Room
	s.want(s.do("POST", "/rooms", s.key, protocol.CreateRoom{Name: "Team"}), 201, "", &rm)

	wantCode(t, request(t, alice, protocol.EvRoomJoin, protocol.RoomJoin{}, nil), apperr.CodeBadRequest)
	wantCode(t, request(t, alice, protocol.EvRoomJoin, json.RawMessage(`{"room": 5}`), nil), apperr.CodeBadRequest)
	wantCode(t, request(t, alice, protocol.EvRoomJoin, protocol.RoomJoin{Room: "room_nope"}, nil), apperr.CodeNotFound)
	wantCode(t, request(t, eve, protocol.EvRoomJoin, protocol.RoomJoin{Room: rm.ID}, nil), apperr.CodeNotFound)
	wantCode(t, request(t, vic, protocol.EvRoomJoin, protocol.RoomJoin{Room: rm.ID}, nil), apperr.CodeForbidden)
	// Invitations: not by a member who did not create the room, not empty; then the visitor may join.
	s.want(s.do("POST", "/rooms/"+rm.ID+"/invite", s.token(s.acc, "alice", protocol.RoleMember), map[string]any{"users": []string{vic.Connected().User.ID}}), 403, apperr.CodeForbidden, nil)
	s.want(s.do("POST", "/rooms/"+rm.ID+"/invite", s.key, map[string]any{"users": []string{}}), 400, apperr.CodeBadRequest, nil)
	s.want(s.do("POST", "/rooms/"+rm.ID+"/invite", s.token(s.accB, "eve", protocol.RoleOwner), map[string]any{"users": []string{"usr_x"}}), 404, apperr.CodeNotFound, nil)
	var inv protocol.Room
	s.want(s.do("POST", "/rooms/"+rm.ID+"/invite", s.token(s.acc, "bob", protocol.RoleAgent), map[string]any{"users": []string{vic.Connected().User.ID}}), 200, "", &inv)
	if len(inv.Invited) != 1 || inv.Invited[0] != vic.Connected().User.ID {
		t.Fatalf("invited %+v", inv.Invited)
	}
	wantCode(t, request(t, alice, protocol.EvRoomSignal, protocol.RoomSignal{Room: rm.ID, PC: "pub", Kind: "offer", SDP: "v=0"}, nil), rooms.CodeNotInRoom)
	wantCode(t, request(t, alice, protocol.EvRoomSignal, protocol.RoomSignal{Room: rm.ID, PC: "both", Kind: "offer", SDP: "v=0"}, nil), apperr.CodeBadRequest)
	wantCode(t, request(t, alice, protocol.EvRoomSubscribe, protocol.RoomSubscribe{Room: rm.ID, Track: "TR_x", Width: 100, Height: 100}, nil), rooms.CodeNotInRoom)
	wantCode(t, request(t, alice, protocol.EvRoomMute, protocol.RoomMute{Room: rm.ID, Track: "TR_x", Muted: true}, nil), rooms.CodeNotInRoom)
	wantCode(t, request(t, alice, protocol.EvRoomLeave, protocol.RoomRef{Room: rm.ID}, nil), rooms.CodeNotInRoom)
	wantCode(t, request(t, alice, "room:open", nil, nil), apperr.CodeUnknownEvent)
	wantCode(t, request(t, vic, protocol.EvChannelPublish, protocol.ChannelRef{Channel: "live"}, nil), apperr.CodeForbidden)
	wantCode(t, request(t, alice, protocol.EvChannelPublish, protocol.ChannelRef{Channel: "no/slashes"}, nil), apperr.CodeBadRequest)
	wantCode(t, request(t, alice, protocol.EvChannelLeave, protocol.ChannelRef{Channel: "live"}, nil), rooms.CodeNotInRoom)

	var ja protocol.RoomJoined
	err := request(t, alice, protocol.EvRoomJoin, protocol.RoomJoin{Room: rm.ID, Publish: true}, &ja)
	if err != nil || ja.ParticipantID == "" || ja.Room.ID != rm.ID {
		t.Fatalf("join: %+v %v", ja, err)
	}
	var jb protocol.RoomJoined
	if err := request(t, bob, protocol.EvRoomJoin, protocol.RoomJoin{Room: rm.ID, Publish: true}, &jb); err != nil {
		t.Fatal(err)
	}
	wantCode(t, request(t, carol, protocol.EvRoomJoin, protocol.RoomJoin{Room: rm.ID, Publish: true}, nil), rooms.CodeRoomFull)
	wantCode(t, request(t, vic, protocol.EvRoomJoin, protocol.RoomJoin{Room: rm.ID}, nil), rooms.CodeRoomFull) // invited, but full
	ev := nextEvent(t, alice, protocol.EvRoomParticipantJoined)
	var re protocol.RoomEvent
	json.Unmarshal(ev.Data, &re)
	if re.Room != rm.ID || re.Participant == nil || re.Participant.ID != jb.ParticipantID || re.Participant.UserID != bob.Connected().User.ID {
		t.Fatalf("participant_joined %s", ev.Data)
	}
	var g protocol.Room
	s.want(s.do("GET", "/rooms/"+rm.ID, s.key, nil), 200, "", &g)
	if len(g.Participants) != 2 {
		t.Fatalf("room %+v", g)
	}

	// Bob's connection drops: he is out, alice hears it, carol fits in.
	bob.Kill()
	ev = nextEvent(t, alice, protocol.EvRoomParticipantLeft)
	json.Unmarshal(ev.Data, &re)
	if re.Participant == nil || re.Participant.ID != jb.ParticipantID {
		t.Fatalf("participant_left %s", ev.Data)
	}
	if err := request(t, carol, protocol.EvRoomJoin, protocol.RoomJoin{Room: rm.ID, Publish: true}, nil); err != nil {
		t.Fatal(err)
	}

	// Channels: one broadcaster, viewers of any role, another account apart.
	var pub protocol.RoomJoined
	if err := request(t, alice, protocol.EvChannelPublish, protocol.ChannelRef{Channel: "live"}, &pub); err != nil {
		t.Fatal(err)
	}
	wantCode(t, request(t, carol, protocol.EvChannelPublish, protocol.ChannelRef{Channel: "live"}, nil), rooms.CodeChannelBusy)
	var w protocol.RoomJoined
	if err := request(t, vic, protocol.EvChannelSubscribe, protocol.ChannelRef{Channel: "live"}, &w); err != nil || w.Room.ID != pub.Room.ID {
		t.Fatalf("watch: %+v %v", w, err)
	}
	wantCode(t, request(t, vic, protocol.EvRoomSignal, protocol.RoomSignal{Room: pub.Room.ID, PC: "pub", Kind: "offer", SDP: "v=0"}, nil), apperr.CodeForbidden)
	var ew protocol.RoomJoined
	if err := request(t, eve, protocol.EvChannelPublish, protocol.ChannelRef{Channel: "live"}, &ew); err != nil || ew.Room.ID == pub.Room.ID {
		t.Fatalf("another account's channel of the same name: %+v %v", ew, err)
	}
	var ch struct {
		Channels []protocol.Channel `json:"channels"`
	}
	s.want(s.do("GET", "/channels", s.token(s.acc, "vic", protocol.RoleVisitor), nil), 200, "", &ch)
	if len(ch.Channels) != 1 || ch.Channels[0].Name != "live" || ch.Channels[0].Viewers != 1 {
		t.Fatalf("channels %+v", ch.Channels)
	}

	// Everyone inside sees a recording start and stop.
	s.want(s.do("POST", "/rooms/"+rm.ID+"/recording", s.key, nil), 200, "", nil)
	ev = nextEvent(t, alice, protocol.EvRoomRecording)
	json.Unmarshal(ev.Data, &re)
	if re.Room != rm.ID || re.Recording == nil || !*re.Recording {
		t.Fatalf("recording %s", ev.Data)
	}
	s.want(s.do("DELETE", "/rooms/"+rm.ID+"/recording", s.key, nil), 200, "", nil)
	ev = nextEvent(t, carol, protocol.EvRoomRecording)
	ev = nextEvent(t, carol, protocol.EvRoomRecording)
	re = protocol.RoomEvent{}
	json.Unmarshal(ev.Data, &re)
	if re.Recording == nil || *re.Recording {
		t.Fatalf("recording stopped %s", ev.Data)
	}

	// Closing the room tells those inside.
	s.want(s.do("DELETE", "/rooms/"+rm.ID, s.key, nil), 204, "", nil)
	ev = nextEvent(t, carol, protocol.EvRoomClosed)
	json.Unmarshal(ev.Data, &re)
	if re.Room != rm.ID || re.Reason != rooms.ReasonClosed {
		t.Fatalf("closed %s", ev.Data)
	}
	wantCode(t, request(t, carol, protocol.EvRoomSignal, protocol.RoomSignal{Room: rm.ID, PC: "pub", Kind: "offer", SDP: "v=0"}, nil), rooms.CodeNotInRoom)
}

func nextEvent(t *testing.T, c *client.Conn, name string) protocol.Envelope {
	t.Helper()
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("connection closed while waiting for %s", name)
			}
			if ev.Event == name {
				return ev
			}
		case <-timer.C:
			t.Fatalf("no %s within 5s", name)
		}
	}
}

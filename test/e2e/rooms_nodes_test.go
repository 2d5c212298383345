package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/rooms/roomstest"
	"github.com/parley-chat/parley/protocol"
)

// newRoomCluster is newCluster whose nodes announce their SFU on loopback
// and count a silent node dead after 3 s (the nodes read these from the
// environment).
func newRoomCluster(t *testing.T, n int) *cluster {
	t.Setenv("PARLEY_SFU_PUBLIC_IP", "127.0.0.1")
	t.Setenv("PARLEY_CLUSTER_TTL", "3s")
	return newCluster(t, n)
}

func rest(t *testing.T, method, url, tok string, body, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}

// A room made on node 0 is joined from node 0 and node 1 (two processes,
// each its SFU): media flows both ways through node 0's SFU, and node 1
// lists the room. Node 0 is killed (SIGKILL): once its lease runs out the
// participant on node 1 is told the room moved, its client joins again by
// itself, and the room is back on node 1 with its name.
func TestRoomJoinedFromTwoNodes(t *testing.T) {
	c := newRoomCluster(t, 2)
	n0, n1 := c.nodes[0], c.nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	aliceTok, bobTok := c.token("alice"), c.token("bob")
	var rm protocol.Room
	if st := rest(t, "POST", n0.url()+"/api/v1/rooms", aliceTok, protocol.CreateRoom{Name: "Standup"}, &rm); st != 201 {
		t.Fatalf("create: %d", st)
	}
	api := roomstest.LoopbackAPI(t)
	alice, bob := listen(t, n0, aliceTok), listen(t, n1, bobTok)
	ra, err := client.NewRooms(alice).Join(ctx, alice, rm.ID, client.RoomOptions{API: api, Tracks: []webrtc.TrackLocal{roomstest.Camera(t, "alice-cam", 1)}})
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	rb, err := client.NewRooms(bob).Join(ctx, bob, rm.ID, client.RoomOptions{API: api, Tracks: []webrtc.TrackLocal{roomstest.Camera(t, "bob-cam", 1)}})
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	roomstest.Receives(t, ctx, rb, "alice-cam", 10)
	roomstest.Receives(t, ctx, ra, "bob-cam", 10)
	var l struct {
		Rooms []protocol.Room `json:"rooms"`
	}
	if rest(t, "GET", n1.url()+"/api/v1/rooms", bobTok, nil, &l); len(l.Rooms) != 1 || l.Rooms[0].ID != rm.ID {
		t.Fatalf("node 1 lists %+v", l.Rooms)
	}

	n0.cmd.Process.Signal(syscall.SIGKILL)
	<-n0.exited
	select {
	case <-rb.Rejoined:
	case <-ctx.Done():
		t.Fatal("bob's client did not join the room again after its node died")
	}
	var back protocol.Room
	if st := rest(t, "GET", n1.url()+"/api/v1/rooms/"+rm.ID, bobTok, nil, &back); st != 200 || back.Name != "Standup" || len(back.Participants) != 1 {
		t.Fatalf("the room on node 1: %d %+v", st, back)
	}
	carolTok := c.token("carol")
	carol := listen(t, n1, carolTok)
	rc, err := client.NewRooms(carol).Join(ctx, carol, rm.ID, client.RoomOptions{API: api})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	roomstest.Receives(t, ctx, rc, "bob-cam", 10)
}

// A 1:1 call between users connected to two nodes: alice calls from node 0,
// bob is rung on node 1 and accepts there; their offer and answer reach
// each other; bob hangs up on node 1 and alice hears it.
func TestCallBetweenTwoNodes(t *testing.T) {
	c := newRoomCluster(t, 2)
	aliceTok, bobTok := c.token("alice"), c.token("bob")
	alice, bob := listen(t, c.nodes[0], aliceTok), listen(t, c.nodes[1], bobTok)
	// Bob's idle tab on node 0 makes him online there whether or not
	// presence counts every node (its own work); he answers on node 1.
	listen(t, c.nodes[0], bobTok)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var conv protocol.Conversation
	if err := alice.Request(ctx, protocol.EvCreate, protocol.CreateConversationRequest{Kind: protocol.KindDirect, Members: []string{"bob"}}, &conv); err != nil {
		t.Fatal(err)
	}
	var call protocol.Call
	if err := alice.Request(ctx, protocol.EvCallInvite, protocol.CallInvite{ConversationID: conv.ID, Media: "audio"}, &call); err != nil {
		t.Fatal(err)
	}
	if call.State != "ringing" {
		t.Fatalf("bob is connected to node 1; the call is %+v (presence across nodes?)", call)
	}
	next := func(c *client.Conn, name string) json.RawMessage {
		t.Helper()
		for {
			select {
			case ev := <-c.Events():
				if ev.Event == name {
					return ev.Data
				}
			case <-ctx.Done():
				t.Fatalf("no %s", name)
			}
		}
	}
	next(bob, protocol.EvCallIncoming)
	if err := bob.Request(ctx, protocol.EvCallAccept, protocol.CallRef{CallID: call.ID}, nil); err != nil {
		t.Fatalf("accept on node 1: %v", err)
	}
	next(alice, protocol.EvCallAccepted)
	offer := json.RawMessage(`{"type":"offer","sdp":"v=0"}`)
	if err := alice.Request(ctx, protocol.EvCallOffer, protocol.CallSignal{CallID: call.ID, Description: offer}, nil); err != nil {
		t.Fatal(err)
	}
	var sig protocol.CallSignal
	json.Unmarshal(next(bob, protocol.EvCallOffer), &sig)
	if sig.From != alice.Connected().User.ID {
		t.Fatalf("offer %+v", sig)
	}
	if err := bob.Request(ctx, protocol.EvCallAnswer, protocol.CallSignal{CallID: call.ID, Description: json.RawMessage(`{"type":"answer","sdp":"v=0"}`)}, nil); err != nil {
		t.Fatal(err)
	}
	next(alice, protocol.EvCallAnswer)
	if err := bob.Request(ctx, protocol.EvCallEnd, protocol.CallRef{CallID: call.ID}, nil); err != nil {
		t.Fatal(err)
	}
	var ended protocol.CallEnded
	json.Unmarshal(next(alice, protocol.EvCallEnded), &ended)
	if ended.Reason != protocol.OutcomeEnded {
		t.Fatalf("ended %+v", ended)
	}
}

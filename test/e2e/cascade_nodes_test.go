package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/rooms/roomstest"
	"github.com/parley-chat/parley/protocol"
)

// A broadcast with viewers on three nodes, cascaded: alice publishes on
// node 0; two viewers on each node watch. Every viewer decodes her camera
// (keyframes, the frames' payload); the viewers of nodes 1 and 2 get it
// from their own node's SFU (their connection's remote port is one of
// that process's UDP sockets, none of node 0's), and node 0 counts its own
// viewers only (an edge's viewers are not participants of the origin).
// Alice stops: every viewer hears room:participant_left; she publishes
// again and every viewer gets the new track. Node 0 is killed: the edge
// viewers hear room:closed (moved), their clients watch again by
// themselves, and get alice's broadcast once she publishes on node 1.
func TestBroadcastCascadedToThreeNodes(t *testing.T) {
	c := newRoomCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	api := roomstest.LoopbackAPI(t)
	aliceTok, bobTok := c.token("alice"), c.token("bob")

	alice := listen(t, c.nodes[0], aliceTok)
	aliceRooms := client.NewRooms(alice) // one reader of the connection's events
	pub, err := aliceRooms.Publish(ctx, alice, "live", client.RoomOptions{API: api, Tracks: []webrtc.TrackLocal{roomstest.Camera(t, "cam", 1)}})
	if err != nil {
		t.Fatal(err)
	}
	type viewer struct {
		node int
		r    *client.Room
	}
	var viewers []viewer
	for node := range c.nodes {
		for range 2 {
			conn := listen(t, c.nodes[node], bobTok)
			r, err := client.NewRooms(conn).Watch(ctx, conn, "live", client.RoomOptions{API: api})
			if err != nil {
				t.Fatalf("watch on node %d: %v", node, err)
			}
			t.Cleanup(func() { r.Close() })
			viewers = append(viewers, viewer{node, r})
		}
	}
	for _, v := range viewers {
		decodes(t, ctx, v.r, "cam", 50)
	}

	// Cascaded: each viewer's media comes from its own node's SFU.
	fromOwnNode := func(vs []viewer, nodes []int) {
		t.Helper()
		ports := map[int]map[int]bool{}
		for _, i := range nodes {
			ports[i] = udpPorts(t, c.nodes[i].cmd.Process.Pid)
		}
		for _, v := range vs {
			p := remotePort(t, v.r)
			for _, node := range nodes {
				if ports[node][p] != (node == v.node) {
					t.Errorf("a viewer on node %d gets its media from port %d; node %d's UDP ports are %v", v.node, p, node, ports[node])
				}
			}
		}
	}
	fromOwnNode(viewers, []int{0, 1, 2})
	if ch := channel(t, c.nodes[0].url(), aliceTok, "live"); !ch.Live || ch.Viewers != 2 {
		t.Errorf("the origin lists %+v: want live, with its own 2 viewers (the edges' are theirs)", ch)
	}

	// The broadcaster stops; the viewers stay, hear it, and get her next
	// broadcast.
	if err := pub.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	for _, v := range viewers {
		waitEvent(t, ctx, v.r, protocol.EvRoomParticipantLeft, "")
	}
	pub, err = aliceRooms.Publish(ctx, alice, "live", client.RoomOptions{API: api, Tracks: []webrtc.TrackLocal{roomstest.Camera(t, "cam2", 1)}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for _, v := range viewers {
		decodes(t, ctx, v.r, "cam2", 50)
	}

	// The origin dies: the edges' viewers are told, watch again, and get
	// the broadcast she starts on node 1.
	c.nodes[0].cmd.Process.Signal(syscall.SIGKILL)
	<-c.nodes[0].exited
	for _, v := range viewers[2:] {
		waitEvent(t, ctx, v.r, protocol.EvRoomClosed, protocol.RoomReasonMoved)
	}
	for _, v := range viewers[2:] {
		select {
		case <-v.r.Rejoined:
		case <-ctx.Done():
			t.Fatalf("a viewer on node %d did not watch again", v.node)
		}
	}
	alice = listen(t, c.nodes[1], aliceTok)
	pub, err = client.NewRooms(alice).Publish(ctx, alice, "live", client.RoomOptions{API: api, Tracks: []webrtc.TrackLocal{roomstest.Camera(t, "cam3", 1)}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for _, v := range viewers[2:] {
		decodes(t, ctx, v.r, "cam3", 50)
	}
	fromOwnNode(viewers[2:], []int{1, 2})
}

// decodes waits on r for the remote track id and reads n of its packets
// from its first keyframe on, each one of roomstest.Camera's frames.
func decodes(t *testing.T, ctx context.Context, r *client.Room, id string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		select {
		case tr := <-r.Tracks:
			if tr.ID() != id {
				continue
			}
			keyframe, got := false, 0
			for got < n {
				tr.SetReadDeadline(time.Now().Add(10 * time.Second))
				p, _, err := tr.ReadRTP()
				if err != nil {
					t.Fatalf("track %s: %v after %d packets (keyframe: %v)", id, err, got, keyframe)
				}
				if len(p.Payload) < 4 {
					t.Fatalf("track %s: payload %x", id, p.Payload)
				}
				k := len(p.Payload) - 4
				c := uint32(p.Payload[k])<<24 | uint32(p.Payload[k+1])<<16 | uint32(p.Payload[k+2])<<8 | uint32(p.Payload[k+3])
				isKey := bytes.Equal(p.Payload, roomstest.VP8Frame(true, c))
				if !isKey && !bytes.Equal(p.Payload, roomstest.VP8Frame(false, c)) {
					t.Fatalf("track %s: payload %x is none of the camera's frames", id, p.Payload)
				}
				if isKey && c%25 != 0 || !isKey && c%25 == 0 {
					t.Fatalf("track %s: frame %d keyframe %v", id, c, isKey)
				}
				keyframe = keyframe || isKey
				if keyframe {
					got++
				}
			}
			return
		case <-ctx.Done():
			t.Fatalf("no track %s", id)
		}
	}
}

// waitEvent waits for a room event on r (with reason, if given).
func waitEvent(t *testing.T, ctx context.Context, r *client.Room, event, reason string) {
	t.Helper()
	for {
		select {
		case ev := <-r.Events:
			var re protocol.RoomEvent
			json.Unmarshal(ev.Data, &re)
			if ev.Event == event && (reason == "" || re.Reason == reason) {
				return
			}
		case <-ctx.Done():
			t.Fatalf("no %s %s", event, reason)
		}
	}
}

// remotePort is the port of the server's end of r's sub connection.
func remotePort(t *testing.T, r *client.Room) int {
	t.Helper()
	for _, tr := range r.Sub.GetTransceivers() {
		if tr.Receiver() == nil || tr.Receiver().Transport() == nil {
			continue
		}
		pair, err := tr.Receiver().Transport().ICETransport().GetSelectedCandidatePair()
		if err == nil && pair != nil {
			return int(pair.Remote.Port)
		}
	}
	t.Fatal("no selected candidate pair")
	return 0
}

// channel is the channel named name as GET /api/v1/channels lists it.
func channel(t *testing.T, url, tok, name string) protocol.Channel {
	t.Helper()
	var l struct {
		Channels []protocol.Channel `json:"channels"`
	}
	if st := rest(t, "GET", url+"/api/v1/channels", tok, nil, &l); st != 200 {
		t.Fatalf("GET /api/v1/channels: %d", st)
	}
	for _, ch := range l.Channels {
		if ch.Name == name {
			return ch
		}
	}
	t.Fatalf("no channel %s in %+v", name, l.Channels)
	return protocol.Channel{}
}

// udpPorts are the local ports of the UDP sockets process pid holds
// (Linux: its fds' socket inodes in /proc/net/udp).
func udpPorts(t *testing.T, pid int) map[int]bool {
	t.Helper()
	fds, err := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	if err != nil || len(fds) == 0 {
		t.Fatalf("no /proc/%d/fd (the test reads which UDP ports each node holds; it needs Linux's /proc): %v", pid, err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil {
			if ino, ok := strings.CutPrefix(l, "socket:["); ok {
				inodes[strings.TrimSuffix(ino, "]")] = true
			}
		}
	}
	ports := map[int]bool{}
	for _, table := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || !inodes[fs[9]] {
				continue
			}
			_, hexPort, _ := strings.Cut(fs[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); err == nil {
				ports[int(p)] = true
			}
		}
		f.Close()
	}
	return ports
}

// A channel watched only through an edge: when its broadcaster stops, the
// origin's channel closes (nobody is left in it there); she starts again
// at once on the same node, and the edge's viewer gets the new broadcast
// (the edge's pull of the closed channel does not linger).
func TestBroadcastRestartedWithOnlyEdgeViewers(t *testing.T) {
	c := newRoomCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	api := roomstest.LoopbackAPI(t)
	aliceTok, bobTok := c.token("alice"), c.token("bob")
	alice := listen(t, c.nodes[0], aliceTok)
	aliceRooms := client.NewRooms(alice)
	pub, err := aliceRooms.Publish(ctx, alice, "solo", client.RoomOptions{API: api, Tracks: []webrtc.TrackLocal{roomstest.Camera(t, "cam", 1)}})
	if err != nil {
		t.Fatal(err)
	}
	bob := listen(t, c.nodes[1], bobTok)
	r, err := client.NewRooms(bob).Watch(ctx, bob, "solo", client.RoomOptions{API: api})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	decodes(t, ctx, r, "cam", 50)
	if err := pub.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	pub, err = aliceRooms.Publish(ctx, alice, "solo", client.RoomOptions{API: api, Tracks: []webrtc.TrackLocal{roomstest.Camera(t, "cam2", 1)}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	decodes(t, ctx, r, "cam2", 50)
}

//go:build linux && loadtest

// A measurement, not a test: built only with -tags loadtest (BENCHMARKS.md),
// so make test neither runs nor skips it.

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/rooms/roomstest"
)

// TestCascadeNodesLoad measures the broadcast cascade through real
// processes (BENCHMARKS.md, "Broadcast cascade (issue 11)"): three nodes
// built without the race detector, a broadcaster on node 0 sending one
// VP8 track (100 packets/s of 1,000 bytes), CASCADE_NODES_VIEWERS viewers
// on each node (all on node 0 with CASCADE_NODES_ORIGIN_ONLY=1). Over
// 10 s it counts the packets each node sends (its viewers' packets, read
// by them, plus one copy per edge on the origin) and the node's CPU time
// (/proc/PID/stat: the whole process, signalling and heartbeats too).
// Built only with -tags loadtest.
func TestCascadeNodesLoad(t *testing.T) {
	perNode := 20
	if v, err := strconv.Atoi(os.Getenv("CASCADE_NODES_VIEWERS")); err == nil && v > 0 {
		perNode = v
	}
	originOnly := os.Getenv("CASCADE_NODES_ORIGIN_ONLY") == "1"
	// Measured without the race detector (TestMain's binary has it).
	bin := filepath.Join(t.TempDir(), "parley")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/parley").CombinedOutput(); err != nil {
		t.Fatalf("building parley: %v\n%s", err, out)
	}
	raced := parleyBin
	parleyBin = bin
	t.Cleanup(func() { parleyBin = raced })

	c := newRoomCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	api := roomstest.LoopbackAPI(t)
	tok := c.token("alice")
	alice := listen(t, c.nodes[0], tok)
	cam, written := roomstest.Stream(t, "load", 1, 10*time.Millisecond, 50, 1000)
	if _, err := client.NewRooms(alice).Publish(ctx, alice, "load", client.RoomOptions{API: api, Tracks: []webrtc.TrackLocal{cam}}); err != nil {
		t.Fatal(err)
	}
	var got [3]atomic.Int64 // packets the viewers of each node read
	var ready sync.WaitGroup
	viewers := [3]int{}
	for i := range 3 * perNode {
		node := i % 3
		if originOnly {
			node = 0
		}
		viewers[node]++
		conn := listen(t, c.nodes[node], tok)
		r, err := client.NewRooms(conn).Watch(ctx, conn, "load", client.RoomOptions{API: api})
		if err != nil {
			t.Fatalf("watch on node %d: %v", node, err)
		}
		t.Cleanup(func() { r.Close() })
		ready.Add(1)
		go func() {
			var tr *webrtc.TrackRemote
			select {
			case tr = <-r.Tracks:
			case <-ctx.Done():
				ready.Done()
				return
			}
			first := true
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				got[node].Add(1)
				if first {
					first = false
					ready.Done()
				}
			}
		}()
	}
	ready.Wait()
	if ctx.Err() != nil {
		t.Fatal("not every viewer got the track")
	}
	time.Sleep(2 * time.Second)

	const window = 10 * time.Second
	var cpu0 [3]time.Duration
	var got0 [3]int64
	for i, n := range c.nodes {
		cpu0[i] = processCPU(t, n.cmd.Process.Pid)
		got0[i] = got[i].Load()
	}
	w0 := written.Load()
	time.Sleep(window)
	w := written.Load() - w0
	edges := 2
	if originOnly {
		edges = 0
	}
	var sent, cpu float64
	for i, n := range c.nodes {
		out := float64(got[i].Load() - got0[i])
		if i == 0 {
			out += float64(edges) * float64(w)
		}
		used := (processCPU(t, n.cmd.Process.Pid) - cpu0[i]).Seconds()
		sent, cpu = sent+out, cpu+used
		perCPU := "-"
		if out > 0 && used > 0 {
			perCPU = fmt.Sprintf("%.0f", out/used)
		}
		t.Logf("node %d: %d viewers, %.0f packets/s sent, %.2f CPU-s/s, %s packets per CPU-second",
			i, viewers[i], out/window.Seconds(), used/window.Seconds(), perCPU)
	}
	t.Logf("broadcaster: %.0f packets/s written; all nodes: %.0f packets per CPU-second", float64(w)/window.Seconds(), sent/cpu)
}

// processCPU is the user and system time process pid has used
// (/proc/PID/stat, in clock ticks of 1/100 s).
func processCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	fs := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from the 3rd (state) on
	utime, _ := strconv.ParseInt(fs[11], 10, 64)
	stime, _ := strconv.ParseInt(fs[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

package sfu

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// relayMsg travels between the SFU (this process) and its clients (a child
// process) as one JSON line.
type relayMsg struct {
	ID    string  `json:"id,omitempty"`
	Sig   *Signal `json:"sig,omitempty"`
	Ready bool    `json:"ready,omitempty"`
	Sent  uint64  `json:"sent,omitempty"`
	Recv  uint64  `json:"recv,omitempty"`
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkRelayThroughput measures the whole SFU — reading the publisher,
// forwarding, SRTP, RTCP, the estimator, garbage collection — per CPU
// second of this process, with one publisher and N subscribers running in a
// child process so that their CPU is not counted. It is one long run,
// whatever b.N:
//
//	go test -run '^$' -bench RelayThroughput -benchtime 1x -v ./internal/sfu/
//
// SFU_RELAY_SUBS (25), SFU_RELAY_PPS (800) and SFU_RELAY_SECONDS (5) set the
// load; SFU_RELAY_HEAPPROFILE=file writes a heap profile while media flows.
func BenchmarkRelayThroughput(b *testing.B) {
	t := b
	n := envInt("SFU_RELAY_SUBS", 25)
	pps := envInt("SFU_RELAY_PPS", 800)
	secs := envInt("SFU_RELAY_SECONDS", 5)
	deadline(t, time.Duration(secs+90)*time.Second)
	s := newTestSFU(t, Config{})

	cmd := exec.Command(os.Args[0], "-test.run=^$") // TestMain runs relayChild
	cmd.Env = append(os.Environ(), "SFU_RELAY_CHILD=1", "SFU_RELAY_SUBS="+strconv.Itoa(n), "SFU_RELAY_PPS="+strconv.Itoa(pps))
	cmd.Stderr = io.Discard
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wmu sync.Mutex
	enc := json.NewEncoder(stdin)
	send := func(m relayMsg) {
		wmu.Lock()
		defer wmu.Unlock()
		_ = enc.Encode(m)
	}
	parts := map[string]*Participant{}
	for i := -1; i < n; i++ {
		id := "pub"
		if i >= 0 {
			id = fmt.Sprint("sub", i)
		}
		p, err := s.Join("relay", ParticipantOptions{ID: id, CanPublish: i < 0, OnSignal: func(sig Signal) { send(relayMsg{ID: id, Sig: &sig}) }})
		if err != nil {
			t.Fatal(err)
		}
		parts[id] = p
	}
	ready := make(chan struct{})
	final := make(chan relayMsg, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m relayMsg
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue // the test framework's own output
			}
			switch {
			case m.Sig != nil:
				if err := parts[m.ID].HandleSignal(*m.Sig); err != nil {
					t.Errorf("%s: %v", m.ID, err)
				}
			case m.Ready:
				close(ready)
			case m.Sent > 0:
				final <- m
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the clients never got media")
	}
	time.Sleep(time.Second)
	cpu0, f0, t0 := processCPU(t), forwarded(s), time.Now()
	time.Sleep(time.Duration(secs) * time.Second)
	cpu1, f1, t1 := processCPU(t), forwarded(s), time.Now()
	heap := heapMB()
	if path := os.Getenv("SFU_RELAY_HEAPPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			_ = pprof.WriteHeapProfile(f)
			_ = f.Close()
		}
	}
	_ = stdin.Close()
	var m relayMsg
	select {
	case m = <-final:
	case <-time.After(30 * time.Second):
		t.Error("no statistics from the clients")
	}
	_ = cmd.Wait()
	fwd := float64(f1 - f0)
	cpu := (cpu1 - cpu0).Seconds()
	loss := 0.0
	if m.Sent > 0 {
		loss = 1 - float64(m.Recv)/float64(m.Sent*uint64(n))
	}
	t.Logf("1 publisher → %d subscribers at %d packets/s of 1100 bytes: %.0f forwarded/s, SFU CPU %.2f cores, %.0f forwarded per SFU CPU-second, loss %.2f%%, heap %s",
		n, pps, fwd/t1.Sub(t0).Seconds(), cpu/t1.Sub(t0).Seconds(), fwd/cpu, 100*loss, heap)
	b.ReportMetric(fwd/cpu, "forwards/cpu-s")
	b.ReportMetric(100*loss, "loss-%")
	for _, p := range parts {
		p.Leave()
	}
}

func heapMB() string {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return fmt.Sprintf("%.1f MB", float64(ms.HeapInuse)/(1<<20))
}

// forwarded counts the packets sent to subscribers.
func forwarded(s *SFU) uint64 { return s.Stats().Forwarded }

// relayChild is the client side of BenchmarkRelayThroughput, in its own
// process (TestMain runs it when SFU_RELAY_CHILD is set): one publisher
// sending synthetic VP8 at SFU_RELAY_PPS, and SFU_RELAY_SUBS subscribers
// counting what arrives.
func relayChild(t testing.TB) {
	n := envInt("SFU_RELAY_SUBS", 25)
	pps := envInt("SFU_RELAY_PPS", 800)
	var wmu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	send := func(m relayMsg) {
		wmu.Lock()
		defer wmu.Unlock()
		_ = enc.Encode(m)
	}
	clients := map[string]*testClient{}
	mk := func(id string) *testClient {
		c := newClient(t, id, clientOptions{})
		c.signal = func(sig Signal) error { send(relayMsg{ID: id, Sig: &sig}); return nil }
		clients[id] = c
		return c
	}
	pub := mk("pub")
	subs := make([]*testClient, n)
	for i := range subs {
		subs[i] = mk(fmt.Sprint("sub", i))
	}
	for _, c := range clients {
		c.start()
	}
	stop := make(chan struct{})
	go func() {
		dec := json.NewDecoder(os.Stdin)
		for {
			var m relayMsg
			if err := dec.Decode(&m); err != nil {
				close(stop)
				return
			}
			if c := clients[m.ID]; c != nil && m.Sig != nil {
				c.sigs <- *m.Sig
			}
		}
	}()
	track := vp8Track(t, "cam", "s", "")
	pub.publish(track)

	var recv atomic.Uint64
	var got atomic.Int32
	var wg sync.WaitGroup
	for _, c := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var tr = c.nextTrack(60 * time.Second)
			buf := make([]byte, 1500)
			first := true
			for {
				if _, _, err := tr.Read(buf); err != nil {
					return
				}
				if got.Load() == int32(n) {
					recv.Add(1)
				}
				if first {
					first = false
					if int(got.Add(1)) == n {
						send(relayMsg{Ready: true})
					}
				}
			}
		}()
	}
	payload := vp8(false, 'r', 0)
	payload = append(payload, make([]byte, 1100-len(payload))...)
	key := vp8(true, 'r', 0)
	key = append(key, make([]byte, 1100-len(key))...)
	tk := time.NewTicker(10 * time.Millisecond)
	var seq uint16
	var sent uint64
	for running := true; running; {
		select {
		case <-stop:
			running = false
		case <-tk.C:
			for range pps / 100 {
				seq++
				p := payload
				if seq%100 == 0 || got.Load() < int32(n) {
					p = key
				}
				if track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 900, Marker: true}, Payload: p}) == nil && got.Load() == int32(n) {
					sent++
				}
			}
		}
	}
	tk.Stop()
	time.Sleep(200 * time.Millisecond)
	send(relayMsg{Sent: sent, Recv: recv.Load()})
	for _, c := range clients {
		c.close()
	}
	wg.Wait()
}

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/protocol"
	"github.com/parley-chat/parley/protocol/wiretest"
)

// haproxyExample is the HAProxy configuration of docs/scaling.md ("Three
// nodes behind a load balancer"), made to run on loopback: its bind line
// listens on addr without TLS, its three servers are the nodes, and its
// maxconn fits the descriptors a test may open.
func haproxyExample(t *testing.T, addr string, nodes []*server) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/scaling.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(doc), "\n## Three nodes behind a load balancer\n")
	if !ok {
		t.Fatal(`docs/scaling.md has no section "Three nodes behind a load balancer"`)
	}
	_, cfg, ok := strings.Cut(sec, "```haproxy\n")
	if ok {
		cfg, _, ok = strings.Cut(cfg, "```")
	}
	if !ok {
		t.Fatal("the load-balancer section of docs/scaling.md has no ```haproxy block")
	}
	bind := regexp.MustCompile(`(?m)^(\s*)bind .*$`)
	if len(bind.FindAllString(cfg, -1)) != 1 {
		t.Fatalf("the example should have one bind line:\n%s", cfg)
	}
	cfg = bind.ReplaceAllString(cfg, "${1}bind "+addr)
	// HAProxy wants two descriptors per connection; this machine's limit
	// is lower than the example's maxconn needs.
	cfg = regexp.MustCompile(`(?m)^(\s*)maxconn \d+`).ReplaceAllString(cfg, "${1}maxconn 2000")
	server := regexp.MustCompile(`(?m)^(\s*server node(\d)) \S+`)
	if got := len(server.FindAllString(cfg, -1)); got != len(nodes) {
		t.Fatalf("the example has %d server lines, want %d", got, len(nodes))
	}
	cfg = server.ReplaceAllStringFunc(cfg, func(line string) string {
		m := server.FindStringSubmatch(line)
		return m[1] + " " + nodes[m[2][0]-'1'].addr
	})
	return cfg
}

// TestHAProxyExampleInFrontOfThreeNodes runs docs/scaling.md's HAProxy
// configuration in front of three nodes: clients connecting through it
// land on every node, a message reaches all of them, and when a node is
// killed with SIGKILL its clients come back through HAProxy on the others
// and get what was sent meanwhile, once.
func TestHAProxyExampleInFrontOfThreeNodes(t *testing.T) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Fatal("haproxy is not installed: run scripts/deps-lb.sh (or `make deps`)")
	}
	c := newCluster(t, 3)
	addr := freeAddr(t)
	cfgPath := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(haproxyExample(t, addr, c.nodes)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("haproxy", "-c", "-q", "-f", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	hp := exec.Command("haproxy", "-db", "-f", cfgPath) // -db: foreground
	hp.Stderr = &prefixWriter{t: t}
	if err := hp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hp.Process.Kill(); hp.Wait() })
	lbURL := "ws://" + addr + "/ws"
	waitUntil(t, "HAProxy sees three healthy nodes", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	time.Sleep(2 * time.Second) // rise 2 × inter 1s: every server up

	const n = 6
	names := make([]string, n)
	toks := make([]string, n)
	for i := range n {
		names[i] = "lb" + string(rune('a'+i))
		toks[i] = c.token(names[i])
		listen(t, c.nodes[0], toks[i]).Close()
	}
	owner := listen(t, c.nodes[0], toks[0])
	conv, err := owner.Create(context.Background(), protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "lb", Members: names[1:]})
	if err != nil {
		t.Fatal(err)
	}
	views := make([]*view, n)
	sessions := make([]*client.Session, n)
	for i := range n {
		views[i] = newView(t, conv.ID)
		sessions[i] = client.NewSession(lbURL, func(context.Context) (string, error) { return toks[i], nil }, client.SessionOptions{
			Cursors: map[string]int64{conv.ID: 0}, OnEvent: views[i].event,
			Dial: client.Options{NetDial: wiretest.Tap(t)},
		})
		t.Cleanup(sessions[i].Close)
		waitUntil(t, names[i]+" connects through HAProxy", func() bool { return sessions[i].Connects() == 1 })
	}
	// leastconn spread them: two on each node.
	perNode := make([]int, len(c.nodes))
	for i, s := range c.nodes {
		perNode[i] = connections(t, s)
	}
	for i, k := range perNode {
		if k == 0 {
			t.Fatalf("node %d has no connection through HAProxy (per node: %v)", i, perNode)
		}
	}

	sent := map[int64]string{}
	send := func(text string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		m, err := owner.Send(ctx, protocol.SendRequest{ConversationID: conv.ID, Text: text})
		if err != nil {
			t.Fatal(err)
		}
		sent[m.Seq] = m.ID
	}
	for i := range 20 {
		send("before " + string(rune('a'+i)))
	}
	killedAt := time.Now()
	c.kill(2)
	for i := range 20 {
		send("after " + string(rune('a'+i)))
	}
	waitUntil(t, "every session is connected again", func() bool {
		for _, s := range sessions {
			if s.Conn() == nil {
				return false
			}
		}
		return true
	})
	back := time.Since(killedAt)
	hist := serverHistory(t, owner, conv.ID)
	for i, v := range views {
		waitUntil(t, names[i]+" has every message", func() bool {
			got, _ := v.snapshot()
			return len(got) == len(hist)
		})
		got, _ := v.snapshot()
		for seq, id := range hist {
			if got[seq] != id {
				t.Fatalf("%s: seq %d is %q, want %q", names[i], seq, got[seq], id)
			}
		}
	}
	for seq, id := range sent {
		if hist[seq] != id {
			t.Fatalf("acknowledged seq %d is %q in the store, want %q", seq, hist[seq], id)
		}
	}
	moved := 0
	for _, s := range sessions {
		if s.Connects() > 1 {
			moved++
		}
	}
	if moved != perNode[2] {
		t.Errorf("%d sessions reconnected; the killed node had %d", moved, perNode[2])
	}
	t.Logf("connections per node %v; node 3 killed, its %d clients connected through HAProxy again within %s", perNode, moved, back.Round(time.Millisecond))
}

// connections is the node's count of open WebSockets (/healthz).
func connections(t *testing.T, s *server) int {
	t.Helper()
	resp, err := http.Get(s.url() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct{ Connections int }
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h.Connections
}

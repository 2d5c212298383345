package bench

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSentAt(t *testing.T) {
	now := time.Now()
	frame := []byte(`{"event":"chat:message","data":{"id":"msg_1","seq":3,"type":"text","text":"` + stampedText(now) + `"}}`)
	if !frameIs(frame, evMessagePrefix) || frameIs(frame, evConvPrefix) {
		t.Fatal("frameIs misclassified a chat:message frame")
	}
	got, ok := sentAt(frame)
	if !ok || got != now.UnixNano() {
		t.Fatalf("sentAt = %d, %v; want %d", got, ok, now.UnixNano())
	}
	if _, ok := sentAt([]byte(`{"event":"chat:message","data":{"text":"hello"}}`)); ok {
		t.Fatal("sentAt accepted a text without a stamp")
	}
	if !hasReplyID([]byte(`{"event":"chat:send","id":"r12","data":{"id":"msg_1"}}`)) ||
		hasReplyID([]byte(`{"event":"chat:message","data":{"id":"r1"}}`)) {
		t.Fatal("hasReplyID misclassified a frame")
	}
}

func TestSummarize(t *testing.T) {
	rs := []result{
		{Scenario: "fanout", Metrics: []metric{{Name: "deliveries/s", Value: 3}}},
		{Scenario: "fanout", Metrics: []metric{{Name: "deliveries/s", Value: 1}}},
		{Scenario: "fanout", Metrics: []metric{{Name: "deliveries/s", Value: 2}}},
	}
	s := summarize(rs)
	if len(s) != 1 || s[0].Median != 2 || s[0].Min != 1 || s[0].Max != 3 {
		t.Fatalf("summarize = %+v", s)
	}
	if p := pct([]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90); p != 9 {
		t.Fatalf("p90 = %d", p)
	}
}

// TestChatSmall builds the parley binary and runs every scenario at a tiny
// scale against it as a child process. It checks counts, not speed.
func TestChatSmall(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("the go command is needed on PATH to build parley for this test: install Go 1.26+")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "parley")
	build := exec.Command(goBin, "build", "-o", bin, "github.com/parley-chat/parley/cmd/parley")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, kind := range []string{"client", "raw"} {
		t.Run(kind, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Main([]string{"chat", "--server-bin", bin, "--conn", kind, "--json", "--quiet",
				"--idle-conns", "20", "--settle", "100ms",
				"--members", "20", "--messages", "50", "--window", "16",
				"--rate", "20", "--duration", "1s",
				"--durable-conns", "4", "--durable-window", "4", "--durable-duration", "1s",
			}, &stdout, &stderr)
			if err != nil {
				t.Fatalf("bench chat: %v\n%s", err, stderr.String())
			}
			var rep report
			if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
				t.Fatalf("decoding the JSON report: %v\n%s", err, stdout.String())
			}
			got := map[string]map[string]float64{}
			for _, r := range rep.Results {
				if r.Err != "" {
					t.Errorf("%s: %s", r.Scenario, r.Err)
				}
				got[r.Scenario] = map[string]float64{}
				for _, m := range r.Metrics {
					got[r.Scenario][m.Name] = m.Value
				}
			}
			check := func(scen, name string, ok func(v float64) bool) {
				t.Helper()
				v, have := got[scen][name]
				if !have || !ok(v) {
					t.Errorf("%s %q = %v (present %v)", scen, name, v, have)
				}
			}
			eq := func(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
			pos := func(v float64) bool { return v > 0 }
			check("idle", "connections", eq(20))
			check("idle", "server RSS after", pos)
			check("fanout", "messages acked", eq(50))
			check("fanout", "deliveries", eq(20*50))
			check("fanout", "deliveries/s", pos)
			check("fanout", "server CPU per million deliveries", func(v float64) bool { return v >= 0 })
			check("latency", "deliveries", eq(20*20))
			check("latency", "latency p99", pos)
			check("durable", "acked sends", pos)
			check("durable", "ack p99", pos)
			if !strings.Contains(stderr.String(), "machine:") {
				t.Errorf("no machine line in the report:\n%s", stderr.String())
			}
		})
	}
}

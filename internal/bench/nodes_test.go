package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// TestSeveralNodes: --url with several nodes measures them as one server:
// connections and /proc figures are summed, and a batch of connections is
// spread over the nodes in turn.
func TestSeveralNodes(t *testing.T) {
	var urls []string
	for _, n := range []int{2, 3} {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"status":"ok","connections":%d}`, n)
		}))
		t.Cleanup(s.Close)
		urls = append(urls, s.URL)
	}
	ctx := context.Background()
	pid := fmt.Sprint(os.Getpid())
	tg, err := remoteTargets(ctx, strings.Join(urls, ","), "s", "acc", "", pid+","+pid)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tg.healthz(ctx); err != nil || got != 5 {
		t.Fatalf("healthz of two nodes = %d, %v; want 5", got, err)
	}
	one, _ := readProcStat(os.Getpid())
	if both, ok := tg.stat(); !ok || both.RSSKiB < 2*one.RSSKiB*9/10 {
		t.Fatalf("stat of two nodes (one pid twice) = %+v, %v; one is %+v", both, ok, one)
	}
	if _, err := remoteTargets(ctx, strings.Join(urls, ","), "s", "acc", "", pid); err == nil {
		t.Fatal("one pid for two nodes was accepted")
	}

	var got []string
	e := &env{}
	for _, n := range tg.nodes() {
		url := n.wsURL
		e.dials = append(e.dials, func(context.Context, string, func([]byte)) (conn, error) {
			got = append(got, url)
			return nil, nil
		})
	}
	e.dial = e.dials[0]
	for i := range 4 {
		e.dialFor(i)(ctx, "", nil)
	}
	if got[0] != got[2] || got[1] != got[3] || got[0] == got[1] {
		t.Fatalf("connections went to %v; want the two nodes in turn", got)
	}
}

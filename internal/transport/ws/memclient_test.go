package ws_test

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	gws "github.com/gobwas/ws"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/transport/ws"
)

// The idle-memory benchmark runs its clients in a child process (this test
// binary again, with memClientEnv set), so the server's RSS is measured
// alone.
const memClientEnv = "PARLEY_WS_MEMCLIENT"

// memClientMain dials one connection per token line of the file named by
// memClientEnv's value "url|file", reads chat:connected on each, prints
// "ready" and holds them until stdin closes.
func memClientMain() {
	url, file, _ := strings.Cut(os.Getenv(memClientEnv), "|")
	b, err := os.ReadFile(file)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	var keep []any
	for _, tok := range strings.Fields(string(b)) {
		d := gws.Dialer{Header: gws.HandshakeHeaderHTTP(http.Header{"Authorization": {"Bearer " + tok}})}
		nc, br, _, err := d.Dial(ctxBG(), url)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		if br == nil {
			br = bufio.NewReaderSize(nc, 512)
		}
		if _, err := gws.ReadFrame(br); err != nil { // chat:connected
			fmt.Println("error:", err)
			os.Exit(1)
		}
		keep = append(keep, nc)
	}
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
	runtime.KeepAlive(keep)
}

// BenchmarkIdleConnMemory reports the server's memory per idle
// authenticated connection (2,000 of them, each its own user), from
// /proc/self/status VmRSS and from the Go heap. Run with -benchtime=1x.
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 2000
	s := newStack(b, ws.Config{ConnsPerIP: 0, ConnsPerAccount: 0}, chat.Config{})
	toks := make([]string, n)
	for i := range toks {
		toks[i] = s.token("idle" + strconv.Itoa(i))
	}
	file := filepath.Join(b.TempDir(), "tokens")
	os.WriteFile(file, []byte(strings.Join(toks, "\n")), 0o600)

	settle := func() (rss, heap uint64) {
		for range 3 {
			runtime.GC()
			debug.FreeOSMemory()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return vmRSS(b), ms.HeapInuse + ms.StackInuse
	}
	// Warm up the paths (SQLite caches, pools) with a few connections first.
	warm := startClients(b, s.url, toks[:50])
	warm()
	eventually(b, 10*time.Second, "warm-up connections closed", func() bool { return s.srv.Conns() == 0 })
	rss0, heap0 := settle()
	b.ResetTimer()
	stop := startClients(b, s.url, toks)
	eventually(b, 30*time.Second, "all connected", func() bool { return s.srv.Conns() == n })
	rss1, heap1 := settle()
	b.StopTimer()
	b.ReportMetric(float64(int64(rss1)-int64(rss0))/n, "rss-bytes/conn")
	b.ReportMetric(float64(int64(heap1)-int64(heap0))/n, "heap+stack-bytes/conn")
	b.Logf("%d idle connections: RSS %d → %d KiB, Go heap+stacks %d → %d KiB", n, rss0>>10, rss1>>10, heap0>>10, heap1>>10)
	stop()
	eventually(b, 30*time.Second, "all closed", func() bool { return s.srv.Conns() == 0 })
}

// startClients runs the child process holding one connection per token and
// returns a function that ends it.
func startClients(b *testing.B, url string, toks []string) func() {
	file := filepath.Join(b.TempDir(), "toks")
	os.WriteFile(file, []byte(strings.Join(toks, "\n")), 0o600)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), memClientEnv+"="+url+"|"+file)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		b.Fatalf("client process: %q", line)
	}
	return func() {
		in.Close()
		cmd.Wait()
	}
}

func vmRSS(b *testing.B) uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.ParseUint(strings.Fields(l)[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

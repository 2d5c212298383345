package loadtest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/app"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/config"
)

// A short load test against a whole server in this process: packets flow,
// none are lost on loopback, and the server's own CPU and memory are read.
func TestLoadtestAgainstAServer(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.TURNEnabled = false
	cfg.SFUUDPAddr = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	defer func() {
		cancel()
		<-done
	}()
	_, key, err := auth.CreateAccount(ctx, a.Store, "load", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, channels := range []bool{false, true} {
		r, err := Run(ctx, Config{URL: "http://" + ln.Addr().String(), APIKey: key, Rooms: 1, Publishers: 2, Subscribers: 2,
			Channels: channels, Duration: 1500 * time.Millisecond, Warmup: 1500 * time.Millisecond, VideoKbps: 300, PID: os.Getpid(), Loopback: true}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		// Rooms: 2 publishers each get the other's 2 tracks, 2 subscribers
		// get 4: 12. A channel has one broadcaster: 2 viewers get 2 each.
		want := 12
		if channels {
			want = 4
		}
		if r.Tracks != want || r.PacketsPerSec < 50 || r.LossPct > 1 || r.ServerCPU <= 0 || r.ServerRSSMiB <= 0 {
			t.Fatalf("channels=%v: %+v", channels, r)
		}
	}
}

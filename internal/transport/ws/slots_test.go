package ws_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/cluster"
	"github.com/parley-chat/parley/internal/transport/ws"
	"github.com/parley-chat/parley/protocol"
)

// Two nodes (two WebSocket servers on one store and bus) sharing
// cluster.Slots enforce one per-IP and one per-account cap between them:
// a connection refused on the second node while the first holds the
// account's only slot, accepted there once it is released.
func TestConnectionCapsAcrossNodes(t *testing.T) {
	slots := cluster.NewMemorySlots() // one state, as Redis is for every node
	cfg := ws.Config{ConnsPerAccount: 1, ConnsPerIP: 2, Slots: slots}
	s := newStack(t, cfg, chat.Config{})
	other := ws.New(cfg, s.auth, s.chat, s.bus, slog.New(slog.NewTextHandler(io.Discard, nil)))
	mux := http.NewServeMux()
	mux.Handle("/ws", other)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		other.Shutdown(ctx)
		hs.Close()
	})
	otherURL := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"

	a := s.dial("a", nil)
	_, err := client.Dial(ctxT(t), otherURL, s.token("b"), tapped(t, nil))
	if e := asError(t, err, apperr.CodeTooManyConns); e.CloseCode != protocol.CloseTooManyConns {
		t.Fatalf("account cap on the other node: close code %d", e.CloseCode)
	}
	a.Close()
	eventually(t, 3*time.Second, "slots freed", func() bool {
		n, _ := slots.Held(context.Background(), "acct:"+s.acct.ID)
		return n == 0
	})
	b, err := client.Dial(ctxT(t), otherURL, s.token("b"), tapped(t, nil))
	if err != nil {
		t.Fatalf("after the slot was freed: %v", err)
	}
	defer b.Close()
	// Every closed socket gave its IP slot back: only b holds one.
	if n, _ := slots.Held(context.Background(), "ip:127.0.0.1"); n != 1 {
		t.Fatalf("ip slots held: %d, want 1", n)
	}
}

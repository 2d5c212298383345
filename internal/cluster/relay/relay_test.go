package relay_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/bus/local"
	"github.com/parley-chat/parley/internal/cluster/relay"
)

func TestRequestReplyAndErrors(t *testing.T) {
	b := local.New()
	defer b.Close()
	a, o := relay.New(b, "a", nil), relay.New(b, "b", nil)
	defer a.Close()
	defer o.Close()
	o.Handle("echo", func(_ context.Context, from string, data json.RawMessage) (any, error) {
		var s string
		json.Unmarshal(data, &s)
		if s == "bad" {
			return nil, apperr.New(apperr.Conflict, "room_full", "full")
		}
		return from + ":" + s, nil
	})
	ctx := context.Background()
	var got string
	if err := a.Call(ctx, "b", "echo", "hi", &got); err != nil || got != "a:hi" {
		t.Fatalf("echo = %q %v", got, err)
	}
	err := a.Call(ctx, "b", "echo", "bad", nil)
	if e := apperr.As(err); e.Kind != apperr.Conflict || e.Code != "room_full" {
		t.Fatalf("error across nodes = %v", err)
	}
	if err := a.Call(ctx, "b", "nope", nil, nil); !apperr.Is(err, apperr.CodeUnknownEvent) {
		t.Fatalf("unknown kind = %v", err)
	}
	// Nobody listens on node c: the stable error, when the context ends.
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := a.Call(cctx, "c", "echo", "hi", nil); !apperr.Is(err, relay.CodeNodeUnavailable) {
		t.Fatalf("unanswered = %v", err)
	}
	heard := make(chan string, 1)
	o.Handle("note", func(_ context.Context, from string, _ json.RawMessage) (any, error) {
		heard <- from
		return nil, nil
	})
	if err := a.Notify("b", "note", nil); err != nil {
		t.Fatal(err)
	}
	if from := <-heard; from != "a" {
		t.Fatalf("notify from %q", from)
	}
}

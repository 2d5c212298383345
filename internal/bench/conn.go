package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/parley-chat/parley/protocol"
)

// conn is what the scenarios need of one WebSocket connection. Request is
// safe for concurrent use: concurrent callers pipeline their requests on the
// one socket, which is how the load side keeps a window of sends in flight.
type conn interface {
	// Request sends {event, id, data} and waits for the reply with the same
	// id. An "error" reply is returned as a *replyError.
	Request(ctx context.Context, event string, data any) (json.RawMessage, error)
	Close() error
}

// dialer opens an authenticated connection: it returns once the server has
// accepted the token (chat:connected). onFrame, if not nil, sees every text
// frame the server sends, raw, on the connection's reading goroutine; it must
// not keep b.
type dialer func(ctx context.Context, token string, onFrame func(b []byte)) (conn, error)

type replyError struct{ e protocol.Error }

func (e *replyError) Error() string { return e.e.Code + ": " + e.e.Message }

// --- cheap frame inspection (no JSON decoding on the delivery path) ---

var (
	evMessagePrefix = []byte(`"event":"` + protocol.EvMessage + `"`)
	evConvPrefix    = []byte(`"event":"` + protocol.EvConversation + `"`)
	textKey         = []byte(`"text":"`)
)

// frameEvent reports whether frame b is the event whose `"event":"…"` marker
// is ev. The envelope's event field comes before data in what the server
// writes, and no payload of ours has an "event" key, so the first
// occurrence decides.
func frameIs(b, marker []byte) bool {
	i := bytes.Index(b, []byte(`"event":"`))
	return i >= 0 && bytes.HasPrefix(b[i:], marker)
}

// sentAt extracts the unix-nanosecond send time that the latency scenario
// puts at the start of the message text ("<nanos> …").
func sentAt(b []byte) (int64, bool) {
	i := bytes.Index(b, textKey)
	if i < 0 {
		return 0, false
	}
	b = b[i+len(textKey):]
	var n int64
	j := 0
	for ; j < len(b) && j < 19 && b[j] >= '0' && b[j] <= '9'; j++ {
		n = n*10 + int64(b[j]-'0')
	}
	return n, j >= 18
}

// stampedText is a message text carrying its send time.
func stampedText(t time.Time) string {
	return strconv.FormatInt(t.UnixNano(), 10) + " latency probe"
}

// pipeline calls send from `window` goroutines until n calls were made (or
// ctx ends), so that up to window requests are in flight at once. It
// returns how many succeeded and the first error.
func pipeline(ctx context.Context, window, n int, send func(ctx context.Context, i int) error) (int, error) {
	if window < 1 {
		window = 1
	}
	next := make(chan int, window)
	type outcome struct {
		ok  int
		err error
	}
	res := make(chan outcome, window)
	for w := 0; w < window; w++ {
		go func() {
			var o outcome
			for i := range next {
				if err := send(ctx, i); err != nil {
					if o.err == nil {
						o.err = err
					}
					continue
				}
				o.ok++
			}
			res <- o
		}()
	}
feed:
	for i := 0; n < 0 || i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	ok, firstErr := 0, error(nil)
	for w := 0; w < window; w++ {
		o := <-res
		ok += o.ok
		if firstErr == nil {
			firstErr = o.err
		}
	}
	return ok, firstErr
}

// errString keeps error messages short in reports.
func errString(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

var errClosed = errors.New("connection closed")

func wrapDial(i int, err error) error { return fmt.Errorf("connection %d: %w", i, err) }

func protocolError(code, msg string) protocol.Error { return protocol.Error{Code: code, Message: msg} }

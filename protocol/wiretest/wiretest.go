// Package wiretest holds the server to its documented protocol in tests:
// Validator checks a frame against protocol.JSONSchema (docs/protocol.json)
// and Tap wraps a test client's connection so that every frame the server
// sends is checked, failing the test on the first one the document does not
// describe.
package wiretest

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/parley-chat/parley/protocol"
)

// Validator checks server frames against the protocol document.
type Validator struct {
	envelope   *jsonschema.Schema
	events     map[string]*jsonschema.Schema // data of pushed events, by event
	replies    map[string]*jsonschema.Schema // data of replies, by request event
	replyEvent map[string]string             // request event → reply event, where they differ
	errorData  *jsonschema.Schema
}

// Load compiles a protocol document (normally protocol.JSONSchema).
func Load(doc []byte) (*Validator, error) {
	parsed, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("protocol.json: %w", err)
	}
	var index struct {
		Events   map[string]json.RawMessage `json:"events"`
		Requests map[string]struct {
			ReplyEvent string `json:"replyEvent"`
		} `json:"requests"`
	}
	if err := json.Unmarshal(doc, &index); err != nil {
		return nil, fmt.Errorf("protocol.json: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	const url = "protocol.json"
	if err := c.AddResource(url, parsed); err != nil {
		return nil, err
	}
	v := &Validator{events: map[string]*jsonschema.Schema{}, replies: map[string]*jsonschema.Schema{}, replyEvent: map[string]string{}}
	compile := func(ptr string) (*jsonschema.Schema, error) {
		s, err := c.Compile(url + "#" + ptr)
		if err != nil {
			return nil, fmt.Errorf("protocol.json#%s: %w", ptr, err)
		}
		return s, nil
	}
	if v.envelope, err = compile("/$defs/Envelope"); err != nil {
		return nil, err
	}
	if v.errorData, err = compile("/$defs/Error"); err != nil {
		return nil, err
	}
	for name := range index.Events {
		if v.events[name], err = compile("/events/" + name + "/data"); err != nil {
			return nil, err
		}
	}
	for name, r := range index.Requests {
		if v.replies[name], err = compile("/requests/" + name + "/reply"); err != nil {
			return nil, err
		}
		if r.ReplyEvent != "" {
			v.replyEvent[name] = r.ReplyEvent
		}
	}
	return v, nil
}

var shared = sync.OnceValues(func() (*Validator, error) { return Load(protocol.JSONSchema) })

// Default is the Validator of the embedded protocol.JSONSchema.
func Default() *Validator {
	v, err := shared()
	if err != nil {
		panic("wiretest: " + err.Error())
	}
	return v
}

// Events lists the events the document describes as pushed by the server.
func (v *Validator) Events() []string { return sortedKeys(v.events) }

// Requests lists the request events the document describes.
func (v *Validator) Requests() []string { return sortedKeys(v.replies) }

func sortedKeys[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Check validates one frame the server sent. request is the event of the
// request it answers (by its id), "" for a pushed event or a reply to an
// id the client never sent. The error names the event and, for each
// mismatch, the JSON pointer into the frame.
func (v *Validator) Check(frame []byte, request string) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(frame))
	if err != nil {
		return fmt.Errorf("not JSON: %v: %s", err, clip(frame))
	}
	return v.check(doc, frame, request)
}

// check is Check of a frame already parsed (doc) once.
func (v *Validator) check(doc any, frame []byte, request string) error {
	if err := v.envelope.Validate(doc); err != nil {
		return fmt.Errorf("envelope does not match protocol.json#/$defs/Envelope:%s\nframe: %s", mismatches(err, ""), clip(frame))
	}
	env := doc.(map[string]any) // the envelope schema says it is an object
	event, _ := env["event"].(string)
	id, hasID := env["id"].(string)
	var schema *jsonschema.Schema
	var where string
	switch {
	case event == protocol.EvError:
		schema, where = v.errorData, "#/$defs/Error"
	case hasID:
		if request == "" {
			return fmt.Errorf("%s: a reply with id %q to no request the client sent\nframe: %s", event, id, clip(frame))
		}
		want := request
		if e := v.replyEvent[request]; e != "" {
			want = e
		}
		if event != want {
			return fmt.Errorf("reply to %s is %s, want %s or error\nframe: %s", request, event, want, clip(frame))
		}
		if schema = v.replies[request]; schema == nil {
			return fmt.Errorf("request %s is not in protocol.json#/requests\nframe: %s", request, clip(frame))
		}
		where = "#/requests/" + request + "/reply"
	default:
		if schema = v.events[event]; schema == nil {
			return fmt.Errorf("event %s is not in protocol.json#/events\nframe: %s", event, clip(frame))
		}
		where = "#/events/" + event + "/data"
	}
	data, ok := env["data"]
	if !ok {
		data = map[string]any{} // data may be omitted when empty
	}
	if err := schema.Validate(data); err != nil {
		what := event
		if hasID {
			what += " (reply to " + request + ")"
		}
		return fmt.Errorf("%s does not match protocol.json%s:%s\nframe: %s", what, where, mismatches(err, "/data"), clip(frame))
	}
	return nil
}

// mismatches lists the innermost failures as "at POINTER: why", the
// pointer relative to the frame.
func mismatches(err error, prefix string) string {
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return " " + err.Error()
	}
	var sb strings.Builder
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			ptr := prefix
			for _, tok := range e.InstanceLocation {
				ptr += "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(tok)
			}
			if ptr == "" {
				ptr = "/"
			}
			msg := e.Error()
			if i := strings.LastIndex(msg, "': "); i >= 0 { // "… at '/x': why": keep why
				msg = msg[i+3:]
			}
			fmt.Fprintf(&sb, "\n  at %s: %s", ptr, msg)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return sb.String()
}

func clip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// Tap returns a dial function (for client.Options.NetDial or a
// gobwas/ws Dialer's NetDial) whose connections check every frame the
// server sends, failing t on a mismatch. It follows the ids of the
// requests written through the connection to know what each reply answers.
func Tap(t testing.TB) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return TapWith(t, nil)
}

// TapWith is Tap around another dial function (nil: a plain net.Dialer).
func TapWith(t testing.TB, dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	t.Helper()
	v := Default()
	st := &tapState{t: t}
	t.Cleanup(st.finish) // registered first, so it runs after the connections' own cleanups
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &tapConn{Conn: nc, v: v, st: st, pending: map[string][]string{}, in: frames{server: true}}, nil
	}
}

// tapState reports failures while the test runs and drops them afterwards
// (a connection may still be read while the test's cleanups run).
type tapState struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (s *tapState) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done {
		s.t.Errorf("server frame against docs/protocol.json: %v", err)
	}
}

func (s *tapState) finish() {
	s.mu.Lock()
	s.done = true
	s.mu.Unlock()
}

type tapConn struct {
	net.Conn
	v  *Validator
	st *tapState

	mu      sync.Mutex
	pending map[string][]string // request id → events of requests in flight with it
	in, out frames
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.in.feed(p[:n], c.server)
	}
	return n, err
}

func (c *tapConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.out.feed(p, c.client) // before the bytes leave: the reply cannot come first
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// client notes the id and event of a request (under c.mu).
func (c *tapConn) client(payload []byte) {
	var env struct {
		Event string `json:"event"`
		ID    string `json:"id"`
	}
	if json.Unmarshal(payload, &env) == nil && env.ID != "" {
		c.pending[env.ID] = append(c.pending[env.ID], env.Event)
	}
}

func (c *tapConn) server(payload []byte) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		c.st.fail(fmt.Errorf("not JSON: %v: %s", err, clip(payload)))
		return
	}
	var request string
	if env, ok := doc.(map[string]any); ok {
		if id, ok := env["id"].(string); ok && id != "" {
			c.mu.Lock()
			if q := c.pending[id]; len(q) > 0 {
				request = q[0]
				if len(q) == 1 {
					delete(c.pending, id)
				} else {
					c.pending[id] = q[1:]
				}
			}
			c.mu.Unlock()
		}
	}
	if err := c.v.check(doc, payload, request); err != nil {
		c.st.fail(err)
	}
}

// frames splits one direction of a WebSocket stream into messages: it
// skips the HTTP handshake, unmasks, joins fragments and drops control
// frames.
type frames struct {
	server  bool // the server's side: frames follow only a 101 answer
	started bool
	off     bool // not a WebSocket stream (a refused upgrade)
	buf     []byte
	frag    []byte
	inFrag  bool
}

func (f *frames) feed(b []byte, deliver func([]byte)) {
	if f.off {
		return
	}
	f.buf = append(f.buf, b...)
	if !f.started {
		i := bytes.Index(f.buf, []byte("\r\n\r\n"))
		if i < 0 {
			return
		}
		if f.server && !bytes.HasPrefix(f.buf, []byte("HTTP/1.1 101")) {
			f.off, f.buf = true, nil
			return
		}
		f.started = true
		f.buf = f.buf[i+4:]
	}
	for {
		if len(f.buf) < 2 {
			break
		}
		b0, b1 := f.buf[0], f.buf[1]
		fin, op, masked := b0&0x80 != 0, b0&0x0f, b1&0x80 != 0
		n, hdr := uint64(b1&0x7f), 2
		switch n {
		case 126:
			if len(f.buf) < 4 {
				return
			}
			n, hdr = uint64(binary.BigEndian.Uint16(f.buf[2:])), 4
		case 127:
			if len(f.buf) < 10 {
				return
			}
			n, hdr = binary.BigEndian.Uint64(f.buf[2:]), 10
		}
		var mask []byte
		if masked {
			if len(f.buf) < hdr+4 {
				return
			}
			mask, hdr = f.buf[hdr:hdr+4], hdr+4
		}
		if uint64(len(f.buf)-hdr) < n {
			return
		}
		payload := append([]byte(nil), f.buf[hdr:hdr+int(n)]...)
		for i := range payload {
			if masked {
				payload[i] ^= mask[i%4]
			}
		}
		f.buf = append(f.buf[:0], f.buf[hdr+int(n):]...)
		switch {
		case op >= 8: // control
		case op == 0:
			f.frag = append(f.frag, payload...)
			if fin && f.inFrag {
				f.inFrag = false
				deliver(f.frag)
				f.frag = nil
			}
		case fin:
			deliver(payload)
		default:
			f.frag, f.inFrag = payload, true
		}
	}
}

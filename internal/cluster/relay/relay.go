// Package relay is node-to-node request and reply over the bus: each node
// listens on its own topic ("node:<id>"); a request names a kind, handled
// by what the receiving node registered for it, and its reply (a result or
// an apperr error with its kind and code) comes back on the asker's topic.
// A node that does not answer within the timeout (dead, or its bus link
// down) gives the stable error CodeNodeUnavailable.
package relay

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/ids"
)

// CodeNodeUnavailable: the node that owns what was asked for did not answer.
const CodeNodeUnavailable = "node_unavailable"

// DefaultTimeout bounds a request whose context has no deadline.
const DefaultTimeout = 5 * time.Second

// Handler answers one request from node from; its error reaches the asker
// with its apperr kind and code.
type Handler func(ctx context.Context, from string, data json.RawMessage) (any, error)

// Request is a connection's WebSocket request run on another node (a
// room's or a call's): the caller's identity, its connection id (unique
// across nodes), the event and its data.
type Request struct {
	ID    auth.Identity   `json:"id"`
	Conn  string          `json:"conn"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// DecodeRequest reads a Request a Handler got; only users' requests are
// forwarded.
func DecodeRequest(data json.RawMessage) (Request, error) {
	var q Request
	if err := json.Unmarshal(data, &q); err != nil {
		return q, apperr.Invalidf("forwarded request: %v", err)
	}
	if q.ID.UserID == "" {
		return q, apperr.Forbiddenf("only users' requests are forwarded")
	}
	return q, nil
}

// Decoder decodes a request's data as the WebSocket transport does: a
// malformed one is apperr.Invalid.
func Decoder(raw json.RawMessage) func(any) error {
	return func(v any) error {
		if len(raw) == 0 || string(raw) == "null" {
			return nil
		}
		if err := json.Unmarshal(raw, v); err != nil {
			return apperr.Invalidf("data: %v", err)
		}
		return nil
	}
}

// Relay is one node's end. It is safe for concurrent use.
type Relay struct {
	bus  bus.Bus
	node string
	log  *slog.Logger
	stop func()

	mu       sync.Mutex
	handlers map[string]Handler
	pending  map[string]chan frame
}

type frame struct {
	ID     string          `json:"id"`
	From   string          `json:"from"`
	Kind   string          `json:"kind,omitempty"`
	Reply  bool            `json:"reply,omitempty"`
	OneWay bool            `json:"one_way,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
	Err    *wireErr        `json:"err,omitempty"`
}

type wireErr struct {
	Kind    apperr.Kind `json:"kind"`
	Code    string      `json:"code"`
	Message string      `json:"message"`
}

// Topic is the bus topic node listens on.
func Topic(node string) string { return "node:" + node }

const eventName = "relay"

// New listens on node's topic. Close stops.
func New(b bus.Bus, node string, log *slog.Logger) *Relay {
	if log == nil {
		log = slog.Default()
	}
	r := &Relay{bus: b, node: node, log: log, handlers: map[string]Handler{}, pending: map[string]chan frame{}}
	r.stop = b.Subscribe(Topic(node), r.receive)
	return r
}

// Node is this node's id.
func (r *Relay) Node() string { return r.node }

// Close stops listening; pending requests time out.
func (r *Relay) Close() { r.stop() }

// Handle registers h for requests of kind.
func (r *Relay) Handle(kind string, h Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handlers[kind] = h
}

// Call asks node to run kind with req and decodes its answer into out (nil:
// drop it). Without a deadline on ctx it waits DefaultTimeout.
func (r *Relay) Call(ctx context.Context, node, kind string, req, out any) error {
	data, err := json.Marshal(req)
	if err != nil {
		return apperr.Wrap("relay.Call", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	f := frame{ID: ids.New("rq"), From: r.node, Kind: kind, Data: data}
	ch := make(chan frame, 1)
	r.mu.Lock()
	r.pending[f.ID] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.pending, f.ID)
		r.mu.Unlock()
	}()
	if err := r.send(node, f); err != nil {
		return unavailable(node)
	}
	select {
	case rep := <-ch:
		if rep.Err != nil {
			return &apperr.Error{Kind: rep.Err.Kind, Code: rep.Err.Code, Message: rep.Err.Message}
		}
		if out != nil && len(rep.Data) > 0 {
			if err := json.Unmarshal(rep.Data, out); err != nil {
				return apperr.Wrap("relay.Call", err)
			}
		}
		return nil
	case <-ctx.Done():
		return unavailable(node)
	}
}

// Notify tells node of something without waiting for an answer.
func (r *Relay) Notify(node, kind string, req any) error {
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	return r.send(node, frame{ID: ids.New("rq"), From: r.node, Kind: kind, OneWay: true, Data: data})
}

func unavailable(node string) error {
	return apperr.New(apperr.Unavailable, CodeNodeUnavailable, "node %s did not answer", node)
}

func (r *Relay) send(node string, f frame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return r.bus.Publish(Topic(node), bus.Event{Name: eventName, Data: b})
}

func (r *Relay) receive(_ string, ev bus.Event) {
	if ev.Name != eventName {
		return // a bus.Gap: lost requests time out at their askers
	}
	var f frame
	if err := json.Unmarshal(ev.Data, &f); err != nil {
		r.log.Warn("relay: bad frame", "err", err)
		return
	}
	if f.Reply {
		r.mu.Lock()
		ch := r.pending[f.ID]
		r.mu.Unlock()
		if ch != nil {
			select {
			case ch <- f:
			default:
			}
		}
		return
	}
	r.mu.Lock()
	h := r.handlers[f.Kind]
	r.mu.Unlock()
	go r.serve(h, f) // handlers may block; the bus's dispatcher must not
}

func (r *Relay) serve(h Handler, f frame) {
	rep := frame{ID: f.ID, From: r.node, Reply: true}
	var res any
	var err error
	if h == nil {
		err = apperr.New(apperr.Invalid, apperr.CodeUnknownEvent, "node %s does not handle %q", r.node, f.Kind)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
		res, err = h(ctx, f.From, f.Data)
		cancel()
	}
	if f.OneWay {
		if err != nil {
			r.log.Warn("relay: notification failed", "kind", f.Kind, "from", f.From, "err", err)
		}
		return
	}
	if err != nil {
		e := apperr.As(err)
		if e.Kind == apperr.Internal {
			r.log.Error("relay: request failed", "kind", f.Kind, "from", f.From, "err", err)
		}
		rep.Err = &wireErr{Kind: e.Kind, Code: e.Code, Message: e.Message}
	} else if rep.Data, err = json.Marshal(res); err != nil {
		rep.Err = &wireErr{Kind: apperr.Internal, Code: apperr.CodeInternal, Message: "internal error"}
	}
	if err := r.send(f.From, rep); err != nil {
		r.log.Warn("relay: reply not sent", "to", f.From, "err", err)
	}
}

package calls

// Calls across nodes. A call lives on the node of the device that made it
// (its state, timers and records); the directory (Config.Directory) names
// that node under the key "call:<id>". A call:* request for a call of
// another node (the callee accepting on another node, either party's
// offer, answer, ICE, hang-up or rejoin) is forwarded to it over the relay
// and run there with the device's identity and connection id; events reach
// devices through the bus as on one node. When a device that reached a
// call through another node disconnects, its node tells the call's node
// (calls:gone), which gives it ReconnectGrace to rejoin as on one node.

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/cluster"
	"github.com/parley-chat/parley/internal/cluster/relay"
)

const (
	kindDo   = "calls:do"
	kindGone = "calls:gone"
)

func callKey(id string) string { return "call:" + id }

func (s *Service) clustered() bool { return s.cfg.Directory != nil && s.cfg.Relay != nil }

// dispatchNodes runs a request where its call lives.
func (s *Service) dispatchNodes(ctx context.Context, id auth.Identity, conn, event string, decode func(any) error) (any, error) {
	var raw json.RawMessage
	if err := decode(&raw); err != nil {
		return nil, err
	}
	var head struct {
		CallID string `json:"call_id"`
	}
	_ = json.Unmarshal(raw, &head)
	here := func() (any, error) { return s.dispatch(ctx, id, conn, event, relay.Decoder(raw)) }
	if head.CallID == "" || s.local(head.CallID) {
		return here()
	}
	e, alive, ok, err := s.cfg.Directory.Lookup(ctx, callKey(head.CallID))
	if err != nil {
		return nil, apperr.New(apperr.Unavailable, relay.CodeNodeUnavailable, "the call directory did not answer: %v", err)
	}
	if !ok || !alive || e.Node == s.cfg.Directory.Node() {
		return here() // not_in_call: a call whose node died ended with it
	}
	var out json.RawMessage
	if err := s.cfg.Relay.Call(ctx, e.Node, kindDo, relay.Request{ID: id, Conn: conn, Event: event, Data: raw}, &out); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.remote[conn] == nil {
		s.remote[conn] = map[string]bool{}
	}
	s.remote[conn][e.Node] = true
	s.mu.Unlock()
	return out, nil
}

func (s *Service) local(callID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[callID] != nil
}

// own names this node as the call's in the directory.
func (s *Service) own(ctx context.Context, id string) error {
	_, _, err := s.cfg.Directory.Own(ctx, cluster.Entry{Key: callKey(id), Room: id})
	return err
}

// drop takes a call that ended (or never rang) out of the directory.
func (s *Service) drop(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), relay.DefaultTimeout)
	defer cancel()
	if err := s.cfg.Directory.Drop(ctx, callKey(id), id); err != nil {
		s.log.Warn("calls: directory", "call", id, "err", err)
	}
}

func (s *Service) startNodes() {
	s.cfg.Relay.Handle(kindDo, func(ctx context.Context, from string, data json.RawMessage) (any, error) {
		f, err := relay.DecodeRequest(data)
		if err != nil {
			return nil, err
		}
		res, err := s.dispatch(ctx, f.ID, f.Conn, f.Event, relay.Decoder(f.Data))
		s.mu.Lock()
		if s.byConn[f.Conn] != nil { // a party now: watched for its node's death
			s.connNode[f.Conn] = from
		}
		s.mu.Unlock()
		return res, err
	})
	s.cfg.Relay.Handle(kindGone, func(_ context.Context, _ string, data json.RawMessage) (any, error) {
		var conn string
		json.Unmarshal(data, &conn)
		s.disconnectedHere(conn)
		return nil, nil
	})
	s.stopChecks = cluster.Every(s.cfg.CheckInterval, func() { s.CheckNodes(context.Background()) })
}

// CheckNodes treats the devices of a dead node in this node's calls as
// disconnected (they have ReconnectGrace to rejoin through another node).
// It runs every CheckInterval.
func (s *Service) CheckNodes(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, relay.DefaultTimeout)
	defer cancel()
	s.mu.Lock()
	var nodes []string
	for conn, n := range s.connNode {
		if s.byConn[conn] == nil {
			delete(s.connNode, conn) // no longer in a call
		} else if !slices.Contains(nodes, n) {
			nodes = append(nodes, n)
		}
	}
	s.mu.Unlock()
	alive, err := s.cfg.Directory.Alive(ctx, nodes...)
	if err != nil {
		return
	}
	for i, n := range nodes {
		if alive[i] {
			continue
		}
		s.mu.Lock()
		var gone []string
		for conn, cn := range s.connNode {
			if cn == n {
				gone = append(gone, conn)
				delete(s.connNode, conn)
			}
		}
		s.mu.Unlock()
		for _, conn := range gone {
			s.disconnectedHere(conn)
		}
	}
}

// disconnectedRemote tells the nodes of calls this connection reached
// through this node that it closed.
func (s *Service) disconnectedRemote(conn string) {
	s.mu.Lock()
	nodes := s.remote[conn]
	delete(s.remote, conn)
	s.mu.Unlock()
	for n := range nodes {
		s.cfg.Relay.Notify(n, kindGone, conn)
	}
}

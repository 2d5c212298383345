package ws

import (
	"net"
	"time"
)

// NewBenchConn registers a connection backed by nc in the hub under topics,
// as an authenticated connection would be (benchmarks of the fan-out path).
func (s *Server) NewBenchConn(nc net.Conn, topics []string) {
	c := &conn{srv: s, nc: nc, authed: true}
	s.hub.register(c, topics)
}

// DiscardConn is a net.Conn whose writes succeed at once.
type DiscardConn struct{ net.Conn }

func (DiscardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (DiscardConn) Close() error                     { return nil }
func (DiscardConn) SetWriteDeadline(time.Time) error { return nil }
func (DiscardConn) SetReadDeadline(time.Time) error  { return nil }
func (DiscardConn) SetDeadline(time.Time) error      { return nil }

// TopicConns counts the connections subscribed to a bus topic (tests wait
// for a new connection to be registered, which follows chat:connected).
func (s *Server) TopicConns(topic string) int {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	if t := s.hub.topics[topic]; t != nil {
		return len(t.conns)
	}
	return 0
}

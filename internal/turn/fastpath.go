package turn

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"

	pturn "github.com/pion/turn/v5"
)

// Datagrams from peers on a bound channel are most of what a TURN server
// relays. pion turns each one into ChannelData in a freshly allocated
// buffer, under a lock, after formatting a debug line; here the relay
// socket does it in place and writes it to the client itself. Everything
// else (no channel yet, Data indications, clients over TCP) still goes
// through pion.

// fastRelays knows the relay socket of every UDP allocation, so that
// pion's channel events can reach it.
type fastRelays struct {
	toClients net.PacketConn // the server socket UDP clients talk to
	mu        sync.Mutex
	byRelay   map[string]*relayConn // relay address (as pion reports it) → socket
}

func newFastRelays(server net.PacketConn) *fastRelays {
	return &fastRelays{toClients: server, byRelay: make(map[string]*relayConn)}
}

// generator wraps pion's relay address generator so that UDP relay
// sockets are relayConns.
func (f *fastRelays) generator(g pturn.RelayAddressGenerator) pturn.RelayAddressGenerator {
	return &fastGenerator{RelayAddressGenerator: g, f: f}
}

type fastGenerator struct {
	pturn.RelayAddressGenerator
	f *fastRelays
}

func (g *fastGenerator) AllocatePacketConn(c pturn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	conn, addr, err := g.RelayAddressGenerator.AllocatePacketConn(c)
	if err != nil {
		return conn, addr, err
	}
	r := &relayConn{PacketConn: conn, f: g.f, key: addr.String(), channels: make(map[netip.AddrPort]uint16)}
	g.f.mu.Lock()
	g.f.byRelay[r.key] = r
	g.f.mu.Unlock()
	return r, addr, nil
}

// channelCreated and channelDeleted follow pion's channel bindings. Only a
// client on the UDP socket is served here (a TCP client's frames go on its
// own connection, through pion).
func (f *fastRelays) channelCreated(client net.Addr, protocol string, relay, peer net.Addr, number uint16) {
	if protocol != "UDP" {
		return
	}
	if r := f.relay(relay); r != nil {
		r.mu.Lock()
		r.client = client
		r.channels[addrPort(peer)] = number
		r.mu.Unlock()
	}
}

func (f *fastRelays) channelDeleted(relay, peer net.Addr) {
	if r := f.relay(relay); r != nil {
		r.mu.Lock()
		delete(r.channels, addrPort(peer))
		r.mu.Unlock()
	}
}

func (f *fastRelays) relay(addr net.Addr) *relayConn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byRelay[addr.String()]
}

// relayConn is an allocation's relay socket. pion's read loop for the
// allocation is its only reader.
type relayConn struct {
	net.PacketConn
	f   *fastRelays
	key string

	mu       sync.RWMutex
	client   net.Addr
	channels map[netip.AddrPort]uint16 // peer → channel number

	frame []byte // the reader's ChannelData buffer
}

// ReadFrom hands pion only what the fast path does not send itself.
func (r *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, from, err := r.PacketConn.ReadFrom(p)
		if err != nil || !r.forward(p[:n], from) {
			return n, from, err
		}
	}
}

// forward sends data from a peer with a bound channel to the client as
// ChannelData (RFC 8656 §12.4), padded to 4 bytes as pion does.
func (r *relayConn) forward(data []byte, from net.Addr) bool {
	r.mu.RLock()
	number, ok := r.channels[addrPort(from)]
	client := r.client
	r.mu.RUnlock()
	if !ok {
		return false
	}
	size := (4 + len(data) + 3) &^ 3
	if cap(r.frame) < size {
		r.frame = make([]byte, size, max(size, 2048))
	}
	f := r.frame[:size]
	binary.BigEndian.PutUint16(f[0:], number)
	binary.BigEndian.PutUint16(f[2:], uint16(len(data)))
	copy(f[4:], data)
	clear(f[4+len(data):])
	_, _ = r.f.toClients.WriteTo(f, client) // a lost datagram, as when pion writes it
	return true
}

func (r *relayConn) Close() error {
	r.f.mu.Lock()
	if r.f.byRelay[r.key] == r {
		delete(r.f.byRelay, r.key)
	}
	r.f.mu.Unlock()
	return r.PacketConn.Close()
}

// addrPort is a UDP address as a comparable key (IPv4 unmapped).
func addrPort(a net.Addr) netip.AddrPort {
	u, ok := a.(*net.UDPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := u.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

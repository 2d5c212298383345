package turn

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"

	pturn "github.com/pion/turn/v5"
)

// ChannelData on a bound channel is most of what a TURN server relays,
// both ways. pion handles each datagram with a fresh buffer, a Request
// struct, lookups under locks and a formatted debug line; here it is
// relayed in place, from the socket that read it:
//
//   - client → peer: the server socket's reader (pion's read loop, through
//     serverConn) writes the payload to the peer from the relay socket;
//   - peer → client: the relay socket's reader (pion's loop for the
//     allocation, through relayConn) frames it as ChannelData in a reused
//     buffer and writes it to the client from the server socket.
//
// Everything else (allocations, permissions, channel binds, refreshes,
// Send and Data indications, datagrams with no channel, clients over TCP)
// still goes through pion. The channel table follows pion's
// OnChannelCreated and OnChannelDeleted events.

// fastRelays knows the relay socket of every UDP allocation by its relay
// address (for pion's channel events) and by its client (for the client's
// ChannelData).
type fastRelays struct {
	server   *net.UDPConn // the socket UDP clients talk to
	mu       sync.RWMutex
	byRelay  map[string]*relayConn         // relay address (as pion reports it) → socket
	byClient map[netip.AddrPort]*relayConn // client → its allocation's socket
}

func newFastRelays(server *net.UDPConn) *fastRelays {
	return &fastRelays{server: server, byRelay: make(map[string]*relayConn), byClient: make(map[netip.AddrPort]*relayConn)}
}

// serverConn is the server socket as pion's read loop sees it: ChannelData
// the fast path relays never reaches pion.
func (f *fastRelays) serverConn() net.PacketConn { return &serverConn{UDPConn: f.server, f: f} }

type serverConn struct {
	*net.UDPConn
	f *fastRelays
}

func (c *serverConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, from, err := c.UDPConn.ReadFromUDPAddrPort(p)
		if err != nil {
			return n, nil, err
		}
		if !c.f.toPeer(p[:n], from) {
			return n, net.UDPAddrFromAddrPort(from), nil
		}
	}
}

// toPeer relays a client's ChannelData (RFC 8656 §12.4) on a bound channel
// to its peer. Anything else, including a malformed frame, is pion's to
// answer.
func (f *fastRelays) toPeer(b []byte, from netip.AddrPort) bool {
	if len(b) < 4 || b[0]&0xC0 != 0x40 { // not ChannelData: STUN starts with 0b00
		return false
	}
	f.mu.RLock()
	r := f.byClient[unmap(from)]
	f.mu.RUnlock()
	if r == nil {
		return false
	}
	number, size := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
	if 4+size > len(b) {
		return false
	}
	r.mu.RLock()
	peer, ok := r.peers[number]
	r.mu.RUnlock()
	if !ok {
		return false
	}
	_, _ = r.UDPConn.WriteToUDPAddrPort(b[4:4+size], peer) // a lost datagram, as when pion writes it
	return true
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
	udp, ok := conn.(*net.UDPConn)
	if !ok { // not a kernel socket (pion's virtual network): pion does it all
		return conn, addr, nil
	}
	r := newRelayConn(g.f, udp, addr.String())
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
	f.mu.Lock()
	r := f.byRelay[relay.String()]
	if r != nil {
		r.mu.Lock()
		r.client = addrPort(client)
		r.channels[addrPort(peer)] = number
		r.peers[number] = addrPort(peer)
		r.mu.Unlock()
		f.byClient[r.client] = r
	}
	f.mu.Unlock()
}

func (f *fastRelays) channelDeleted(relay, peer net.Addr) {
	f.mu.RLock()
	r := f.byRelay[relay.String()]
	f.mu.RUnlock()
	if r != nil {
		r.mu.Lock()
		p := addrPort(peer)
		if number, ok := r.channels[p]; ok {
			delete(r.channels, p)
			delete(r.peers, number)
		}
		r.mu.Unlock()
	}
}

// relayConn is an allocation's relay socket. pion's read loop for the
// allocation is its only reader.
type relayConn struct {
	*net.UDPConn
	f   *fastRelays
	key string

	mu       sync.RWMutex
	client   netip.AddrPort
	channels map[netip.AddrPort]uint16 // peer → channel number
	peers    map[uint16]netip.AddrPort // channel number → peer

	frame []byte // the reader's ChannelData buffer
}

func newRelayConn(f *fastRelays, udp *net.UDPConn, key string) *relayConn {
	return &relayConn{UDPConn: udp, f: f, key: key,
		channels: make(map[netip.AddrPort]uint16), peers: make(map[uint16]netip.AddrPort)}
}

// ReadFrom hands pion only what the fast path does not send itself.
func (r *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, from, err := r.UDPConn.ReadFromUDPAddrPort(p)
		if err != nil {
			return n, nil, err
		}
		if !r.toClient(p[:n], unmap(from)) {
			return n, net.UDPAddrFromAddrPort(from), nil
		}
	}
}

// toClient sends data from a peer with a bound channel to the client as
// ChannelData, padded to 4 bytes as pion does.
func (r *relayConn) toClient(data []byte, from netip.AddrPort) bool {
	r.mu.RLock()
	number, ok := r.channels[from]
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
	_, _ = r.f.server.WriteToUDPAddrPort(f, client) // a lost datagram, as when pion writes it
	return true
}

func (r *relayConn) Close() error {
	r.f.mu.Lock()
	if r.f.byRelay[r.key] == r {
		delete(r.f.byRelay, r.key)
	}
	r.mu.RLock()
	if r.f.byClient[r.client] == r {
		delete(r.f.byClient, r.client)
	}
	r.mu.RUnlock()
	r.f.mu.Unlock()
	return r.UDPConn.Close()
}

// addrPort is a UDP address as a comparable key (IPv4 unmapped).
func addrPort(a net.Addr) netip.AddrPort {
	u, ok := a.(*net.UDPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	return unmap(u.AddrPort())
}

func unmap(ap netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) }

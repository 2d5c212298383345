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
// relayed in place, by whoever read it:
//
//   - client → peer: the server socket's reader writes the payload to the
//     peer from the allocation's relay socket (toPeer);
//   - peer → client: the relay socket's reader frames it as ChannelData
//     and writes it to the client from the server socket (toClient).
//
// Everything else (allocations, permissions, channel binds, refreshes,
// Send and Data indications, datagrams with no channel, clients over TCP)
// still goes through pion. The channel table follows pion's
// OnChannelCreated and OnChannelDeleted events.
//
// Who reads the sockets: on Linux, one event loop for all of them
// (evloop_linux.go); elsewhere, pion's goroutines through the wrappers
// below.

// sendFunc writes one datagram from a socket; a failure is a lost
// datagram, as when pion writes it.
type sendFunc func(b []byte, to netip.AddrPort)

// fastRelays knows every UDP allocation's relay by its relay address (for
// pion's channel events) and by its client (for the client's ChannelData).
type fastRelays struct {
	toClients sendFunc // from the server socket
	// refuse answers a request before pion does (refuse.go): it returns
	// the response, or nil to leave the request to pion.
	refuse func(b []byte) []byte

	mu       sync.RWMutex
	byRelay  map[string]*relay         // relay address (as pion reports it) →
	byClient map[netip.AddrPort]*relay // client →
}

func newFastRelays() *fastRelays {
	return &fastRelays{byRelay: make(map[string]*relay), byClient: make(map[netip.AddrPort]*relay)}
}

// relay is one UDP allocation's channel table and relay socket.
type relay struct {
	f    *fastRelays
	key  string
	send sendFunc // from the relay socket

	mu       sync.RWMutex
	client   netip.AddrPort
	channels map[netip.AddrPort]uint16 // peer → channel number
	peers    map[uint16]netip.AddrPort // channel number → peer

	frame []byte // the relay socket reader's ChannelData buffer
}

func (f *fastRelays) add(key string, send sendFunc) *relay {
	r := &relay{f: f, key: key, send: send,
		channels: make(map[netip.AddrPort]uint16), peers: make(map[uint16]netip.AddrPort)}
	f.mu.Lock()
	f.byRelay[key] = r
	f.mu.Unlock()
	return r
}

// forget drops the relay when its socket closes.
func (r *relay) forget() {
	f := r.f
	f.mu.Lock()
	if f.byRelay[r.key] == r {
		delete(f.byRelay, r.key)
	}
	r.mu.RLock()
	if f.byClient[r.client] == r {
		delete(f.byClient, r.client)
	}
	r.mu.RUnlock()
	f.mu.Unlock()
}

// channelCreated and channelDeleted follow pion's channel bindings. Only a
// client on the UDP socket is served here (a TCP client's frames go on its
// own connection, through pion).
func (f *fastRelays) channelCreated(client net.Addr, protocol string, relayAddr, peer net.Addr, number uint16) {
	if protocol != "UDP" {
		return
	}
	f.mu.Lock()
	if r := f.byRelay[relayAddr.String()]; r != nil {
		r.mu.Lock()
		r.client = addrPort(client)
		r.channels[addrPort(peer)] = number
		r.peers[number] = addrPort(peer)
		r.mu.Unlock()
		f.byClient[r.client] = r
	}
	f.mu.Unlock()
}

func (f *fastRelays) channelDeleted(relayAddr, peer net.Addr) {
	f.mu.RLock()
	r := f.byRelay[relayAddr.String()]
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

// toPeer relays a client's ChannelData (RFC 8656 §12.4) on a bound channel
// to its peer. Anything else, including a malformed frame, is pion's to
// answer.
func (f *fastRelays) toPeer(b []byte, from netip.AddrPort) bool {
	if len(b) < 4 || b[0]&0xC0 != 0x40 { // not ChannelData: STUN starts with 0b00
		return false
	}
	f.mu.RLock()
	r := f.byClient[from]
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
	r.send(b[4:4+size], peer)
	return true
}

// fromClient handles what a client sends to the server socket that pion
// need not see: ChannelData on a bound channel, and the requests refused
// before pion. It reports whether it did.
func (f *fastRelays) fromClient(b []byte, from netip.AddrPort) bool {
	if f.toPeer(b, from) {
		return true
	}
	if f.refuse != nil && len(b) > 0 && b[0]&0xC0 == 0 {
		if resp := f.refuse(b); resp != nil {
			f.toClients(resp, from)
			return true
		}
	}
	return false
}

// toClient sends data from a peer with a bound channel to the client as
// ChannelData, padded to 4 bytes as pion does. Only the relay socket's
// reader calls it.
func (r *relay) toClient(data []byte, from netip.AddrPort) bool {
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
	r.f.toClients(f, client)
	return true
}

// The portable readers: pion's own goroutines read through these.

// serverConn is the server socket as pion's read loop sees it: ChannelData
// the fast path relays, and requests refused before pion, never reach it.
type serverConn struct {
	*net.UDPConn
	f *fastRelays
}

func (f *fastRelays) pollServer(udp *net.UDPConn) net.PacketConn {
	f.toClients = func(b []byte, to netip.AddrPort) { _, _ = udp.WriteToUDPAddrPort(b, to) }
	return &serverConn{UDPConn: udp, f: f}
}

func (c *serverConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, from, err := c.UDPConn.ReadFromUDPAddrPort(p)
		if err != nil {
			return n, nil, err
		}
		if !c.f.fromClient(p[:n], unmap(from)) {
			return n, net.UDPAddrFromAddrPort(from), nil
		}
	}
}

// relayConn is an allocation's relay socket as pion's read loop for the
// allocation (its only reader) sees it.
type relayConn struct {
	*net.UDPConn
	r *relay
}

func (f *fastRelays) pollRelay(udp *net.UDPConn, key string) *relayConn {
	return &relayConn{UDPConn: udp, r: f.add(key, func(b []byte, to netip.AddrPort) { _, _ = udp.WriteToUDPAddrPort(b, to) })}
}

func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, from, err := c.UDPConn.ReadFromUDPAddrPort(p)
		if err != nil {
			return n, nil, err
		}
		if !c.r.toClient(p[:n], unmap(from)) {
			return n, net.UDPAddrFromAddrPort(from), nil
		}
	}
}

func (c *relayConn) Close() error {
	c.r.forget()
	return c.UDPConn.Close()
}

// generator wraps pion's relay address generator so that UDP relay
// sockets take the fast path: adopt turns each kernel socket into the
// PacketConn pion will use.
type fastGenerator struct {
	pturn.RelayAddressGenerator
	adopt func(udp *net.UDPConn, key string) (net.PacketConn, error)
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
	pc, err := g.adopt(udp, addr.String())
	if err != nil {
		udp.Close()
		return nil, nil, err
	}
	return pc, addr, nil
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

// pollGenerator wraps g so that pion's goroutine for each allocation
// relays through the fast path.
func (f *fastRelays) pollGenerator(g pturn.RelayAddressGenerator) pturn.RelayAddressGenerator {
	return &fastGenerator{RelayAddressGenerator: g, adopt: func(udp *net.UDPConn, key string) (net.PacketConn, error) {
		return f.pollRelay(udp, key), nil
	}}
}

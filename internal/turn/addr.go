package turn

import (
	"fmt"
	"net"
	"net/netip"
)

// relayPlan is where relay sockets are bound and the relay address clients
// are told. They must agree: a peer sends to the advertised address, and
// only a socket bound there (or behind a NAT forwarding to it) receives.
type relayPlan struct {
	advertised netip.Addr
	bind       netip.Addr // unspecified: all of the host's addresses
	nat        bool       // advertised is not the host's: a NAT forwards to bind
}

// planRelay decides the relay addresses from the listen IP (unspecified when
// listening on all addresses), the configured public IP ("" = none) and the
// host's addresses:
//
//   - no public IP: the listen IP if it is a specific one, else the host's
//     first non-loopback IPv4 (127.0.0.1 if it has none); relays are bound
//     to it;
//   - a public IP the host has: relays are bound to it, and a specific
//     listen IP must be that address (the operator kept TURN to it);
//   - a public IP the host does not have: the host is behind a NAT that
//     forwards it (a cloud VM's public address); relays are bound to the
//     listen IP, all addresses if it is unspecified.
func planRelay(listen netip.Addr, public string, host []netip.Addr) (relayPlan, error) {
	has := func(a netip.Addr) bool {
		for _, h := range host {
			if h == a {
				return true
			}
		}
		return a.IsLoopback()
	}
	if public == "" {
		if !listen.IsUnspecified() {
			return relayPlan{advertised: listen, bind: listen}, nil
		}
		a := netip.AddrFrom4([4]byte{127, 0, 0, 1})
		for _, h := range host {
			if h.Is4() && !h.IsLoopback() {
				a = h
				break
			}
		}
		return relayPlan{advertised: a, bind: a}, nil
	}
	p, err := netip.ParseAddr(public)
	if err != nil || !p.Unmap().Is4() {
		return relayPlan{}, fmt.Errorf("turn: public IP %q is not an IPv4 address (the relays are IPv4)", public)
	}
	p = p.Unmap()
	switch {
	case !has(p):
		return relayPlan{advertised: p, bind: listen, nat: true}, nil
	case listen.IsUnspecified() || listen == p:
		return relayPlan{advertised: p, bind: p}, nil
	default:
		return relayPlan{}, fmt.Errorf("turn: public IP %s is an address of this host other than the listen address %s: "+
			"relays bound there would not get what peers send to %s; leave the public IP empty, or listen on it", p, listen, p)
	}
}

// listenIP is the IPv4 address of host ("" = all addresses), resolved.
func listenIP(host string) (netip.Addr, error) {
	if host == "" {
		return netip.IPv4Unspecified(), nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.IsUnspecified() {
			return netip.IPv4Unspecified(), nil
		}
		if a = a.Unmap(); !a.Is4() {
			return netip.Addr{}, fmt.Errorf("turn: listen address %s is not IPv4 (the TURN sockets are IPv4)", host)
		}
		return a, nil
	}
	u, err := net.ResolveUDPAddr("udp4", net.JoinHostPort(host, "0"))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("turn: listen address %q: %w", host, err)
	}
	return u.AddrPort().Addr().Unmap(), nil
}

// hostAddrs are this machine's interface addresses, IPv4 unmapped.
func hostAddrs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

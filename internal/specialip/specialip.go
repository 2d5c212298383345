// Package specialip tells a public unicast address from the special-purpose
// ones, for the servers Parley reaches at an address someone else gave it:
// a TURN relay's peer, a Web Push endpoint. Reaching a special-purpose
// address on someone's word is how a server is made to call into the
// network it runs in.
package specialip

import (
	"net"
	"net/netip"
)

// Blocks are every block of IANA's IPv4 and IPv6 Special-Purpose Address
// Registries (RFC 6890) and the multicast ranges. All are refused, the
// "globally reachable" ones included: anycast services, AS112 DNS sinks,
// AMT relays and identifier prefixes are not where a caller or a push
// service is, and the translation prefixes (64:ff9b::/96, 6to4, Teredo,
// IPv4-mapped) carry an IPv4 address inside that could reach a refused
// one. The blocks marked Local (loopback, private-use, shared,
// link-local, unique-local) are allowed on request, for tests and for
// peers inside one network.
//
// From iana.org/assignments/iana-ipv4-special-registry and
// iana-ipv6-special-registry (as of 2025), and the multicast registries.
var Blocks = []Block{
	// IPv4
	{"0.0.0.0/8", `"This network"`, "RFC 791 §3.2", false},
	{"0.0.0.0/32", `"This host on this network"`, "RFC 1122 §3.2.1.3", false},
	{"10.0.0.0/8", "Private-Use", "RFC 1918", true},
	{"100.64.0.0/10", "Shared Address Space", "RFC 6598", true},
	{"127.0.0.0/8", "Loopback", "RFC 1122 §3.2.1.3", true},
	{"169.254.0.0/16", "Link Local", "RFC 3927", true},
	{"172.16.0.0/12", "Private-Use", "RFC 1918", true},
	{"192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890 §2.1", false},
	{"192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", false},
	{"192.0.0.8/32", "IPv4 dummy address", "RFC 7600", false},
	{"192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", false},
	{"192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", false},
	{"192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 §2.2", false},
	{"192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 §2.2", false},
	{"192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", false},
	{"192.31.196.0/24", "AS112-v4", "RFC 7535", false},
	{"192.52.193.0/24", "AMT", "RFC 7450", false},
	{"192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", false},
	{"192.88.99.2/32", "6a44-relay anycast address", "RFC 6751", false},
	{"192.168.0.0/16", "Private-Use", "RFC 1918", true},
	{"192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", false},
	{"198.18.0.0/15", "Benchmarking", "RFC 2544", false},
	{"198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", false},
	{"203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", false},
	{"224.0.0.0/4", "Multicast", "RFC 5771", false},
	{"240.0.0.0/4", "Reserved", "RFC 1112 §4", false},
	{"255.255.255.255/32", "Limited Broadcast", "RFC 8190, RFC 919 §7", false},
	// IPv6
	{"::1/128", "Loopback Address", "RFC 4291", true},
	{"::/128", "Unspecified Address", "RFC 4291", false},
	{"::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", false},
	{"64:ff9b::/96", "IPv4-IPv6 Translat.", "RFC 6052", false},
	{"64:ff9b:1::/48", "IPv4-IPv6 Translat.", "RFC 8215", false},
	{"100::/64", "Discard-Only Address Block", "RFC 6666", false},
	{"100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", false},
	{"2001::/23", "IETF Protocol Assignments", "RFC 2928", false},
	{"2001::/32", "TEREDO", "RFC 4380, RFC 8190", false},
	{"2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", false},
	{"2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", false},
	{"2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", false},
	{"2001:2::/48", "Benchmarking", "RFC 5180, RFC Errata 1752", false},
	{"2001:3::/32", "AMT", "RFC 7450", false},
	{"2001:4:112::/48", "AS112-v6", "RFC 7535", false},
	{"2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", false},
	{"2001:20::/28", "ORCHIDv2", "RFC 7343", false},
	{"2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", false},
	{"2001:db8::/32", "Documentation", "RFC 3849", false},
	{"2002::/16", "6to4", "RFC 3056", false},
	{"2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", false},
	{"3fff::/20", "Documentation", "RFC 9637", false},
	{"5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", false},
	{"fc00::/7", "Unique-Local", "RFC 4193, RFC 8190", true},
	{"fe80::/10", "Link-Local Unicast", "RFC 4291", true},
	{"ff00::/8", "Multicast", "RFC 4291 §2.7", false},
}

// Block is one registry entry.
type Block struct {
	Prefix, Name, RFC string
	Local             bool // a local network's: allowed when local addresses are
}

var prefixes = func() []netip.Prefix {
	out := make([]netip.Prefix, len(Blocks))
	for i, b := range Blocks {
		out[i] = netip.MustParsePrefix(b.Prefix)
	}
	return out
}()

// Allowed says whether a may be reached: it is in no block, or only in
// local ones and allowLocal is set.
func Allowed(a netip.Addr, allowLocal bool) bool {
	if !a.IsValid() {
		return false
	}
	for i, p := range prefixes {
		if p.Contains(a) && !(allowLocal && Blocks[i].Local) {
			return false
		}
	}
	return true
}

// AllowedIP is Allowed for a net.IP, whose IPv4 addresses come as 4 bytes
// (pion's IPv4 XOR-PEER-ADDRESS) or 16 (net.ParseIP): both are IPv4. An
// IPv6 address ::ffff:a.b.c.d is judged as the IPv4 it names.
func AllowedIP(ip net.IP, allowLocal bool) bool {
	a, ok := netip.AddrFromSlice(ip)
	return ok && Allowed(a.Unmap(), allowLocal)
}

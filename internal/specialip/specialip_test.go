package specialip

import (
	"net"
	"net/netip"
	"testing"
)

// Every block of the special-purpose registries is refused (its first and
// last address), the local ones allowed only when asked.
func TestSpecialPurposeBlocksAreRefused(t *testing.T) {
	for _, b := range Blocks {
		p := netip.MustParsePrefix(b.Prefix)
		for _, a := range []netip.Addr{p.Addr(), lastAddr(p)} {
			if Allowed(a, false) {
				t.Errorf("%s (%s, %s) is allowed", a, b.Name, b.RFC)
			}
			if got := Allowed(a, true); got != (b.Local && !inNonLocalBlock(a)) {
				t.Errorf("%s (%s) with private peers allowed: %v, want %v", a, b.Name, got, b.Local)
			}
		}
	}
}

// inNonLocalBlock: a local block may hold a smaller block that is not
// (none does today; the check keeps the table test honest if one comes).
func inNonLocalBlock(a netip.Addr) bool {
	for _, b := range Blocks {
		if !b.Local && netip.MustParsePrefix(b.Prefix).Contains(a) {
			return true
		}
	}
	return false
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func TestPeerFilter(t *testing.T) {
	for _, c := range []struct {
		ip           string
		strict, open bool // allowed without and with AllowPrivatePeers
	}{
		// the ranges the old filter let through
		{"100.64.0.1", false, true}, {"100.127.255.254", false, true},
		{"0.1.2.3", false, false}, {"192.0.0.170", false, false}, {"192.0.0.10", false, false},
		{"198.18.0.1", false, false}, {"198.19.255.255", false, false}, {"240.0.0.1", false, false},
		{"255.255.255.254", false, false}, {"192.0.2.1", false, false}, {"198.51.100.1", false, false},
		{"203.0.113.7", false, false}, {"192.88.99.1", false, false}, {"192.31.196.1", false, false},
		{"64:ff9b::a00:1", false, false}, {"64:ff9b:1::1", false, false}, {"100::1", false, false},
		{"2001::1", false, false}, {"2001:2::1", false, false}, {"2001:db8::1", false, false},
		{"2002:a00:1::1", false, false}, {"3fff::1", false, false}, {"5f00::1", false, false},
		{"::ffff:10.0.0.1", false, true}, // pion gives an IPv4 peer in this form too: judged as 10.0.0.1
		// the ones it caught
		{"127.0.0.1", false, true}, {"10.1.2.3", false, true}, {"172.31.255.255", false, true},
		{"192.168.1.1", false, true}, {"169.254.169.254", false, true}, {"::1", false, true},
		{"fd00::1", false, true}, {"fe80::1", false, true}, {"0.0.0.0", false, false}, {"::", false, false},
		{"224.0.0.1", false, false}, {"239.255.255.250", false, false}, {"ff02::1", false, false},
		// callers
		{"8.8.8.8", true, true}, {"100.63.255.255", true, true}, {"100.128.0.0", true, true},
		{"198.17.255.255", true, true}, {"198.20.0.0", true, true}, {"223.255.255.255", true, true},
		{"192.0.1.255", true, true}, {"2a00:1450:4001:80b::200e", true, true}, {"2001:4860:4860::8888", true, true},
	} {
		ip := net.ParseIP(c.ip)
		if ip == nil {
			t.Fatalf("bad test address %q", c.ip)
		}
		if got := AllowedIP(ip, false); got != c.strict {
			t.Errorf("%s: allowed=%v, want %v", c.ip, got, c.strict)
		}
		if got := AllowedIP(ip, true); got != c.open {
			t.Errorf("%s with private peers allowed: allowed=%v, want %v", c.ip, got, c.open)
		}
		if v4 := ip.To4(); v4 != nil && AllowedIP(v4, false) != c.strict {
			t.Errorf("%s in its 4-byte form is judged otherwise", c.ip)
		}
	}
}

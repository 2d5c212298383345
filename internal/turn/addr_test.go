package turn

import (
	"net/netip"
	"strings"
	"testing"
)

// The relay address clients are told and the one relay sockets are bound
// to agree, or the host is behind a NAT (and says so), or the start fails.
func TestPlanRelay(t *testing.T) {
	a := netip.MustParseAddr
	all := netip.IPv4Unspecified()
	host := []netip.Addr{a("127.0.0.1"), a("::1"), a("10.0.0.5"), a("fe80::1"), a("192.168.7.2")}
	for _, c := range []struct {
		name       string
		listen     netip.Addr
		public     string
		host       []netip.Addr
		advertised netip.Addr
		bind       netip.Addr
		nat        bool
		err        string
	}{
		{"a specific listen IP is the default public IP", a("127.0.0.1"), "", host, a("127.0.0.1"), a("127.0.0.1"), false, ""},
		{"another specific listen IP", a("192.168.7.2"), "", host, a("192.168.7.2"), a("192.168.7.2"), false, ""},
		{"listening on all: the first non-loopback IPv4", all, "", host, a("10.0.0.5"), a("10.0.0.5"), false, ""},
		{"listening on all, no interface but loopback", all, "", []netip.Addr{a("127.0.0.1")}, a("127.0.0.1"), a("127.0.0.1"), false, ""},
		{"a public IP of the host, listening on all", all, "192.168.7.2", host, a("192.168.7.2"), a("192.168.7.2"), false, ""},
		{"a public IP equal to the listen IP", a("10.0.0.5"), "10.0.0.5", host, a("10.0.0.5"), a("10.0.0.5"), false, ""},
		{"loopback is always the host's", all, "127.0.0.1", nil, a("127.0.0.1"), a("127.0.0.1"), false, ""},
		{"NAT, listening on one address", a("10.0.0.5"), "198.51.100.7", host, a("198.51.100.7"), a("10.0.0.5"), true, ""},
		{"NAT, listening on all", all, "198.51.100.7", host, a("198.51.100.7"), all, true, ""},
		{"a public IP of the host other than the listen IP", a("127.0.0.1"), "10.0.0.5", host, netip.Addr{}, netip.Addr{}, false, "other than the listen address"},
		{"an IPv6 public IP", all, "2001:db8::1", host, netip.Addr{}, netip.Addr{}, false, "not an IPv4 address"},
		{"not an IP", all, "turn.example.com", host, netip.Addr{}, netip.Addr{}, false, "not an IPv4 address"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := planRelay(c.listen, c.public, c.host)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %+v, %v; want an error saying %q", p, err, c.err)
				}
				return
			}
			if err != nil || p.advertised != c.advertised || p.bind != c.bind || p.nat != c.nat {
				t.Fatalf("got %+v, %v; want advertised %s bound %s nat %v", p, err, c.advertised, c.bind, c.nat)
			}
		})
	}
}

func TestListenIP(t *testing.T) {
	for host, want := range map[string]string{"": "0.0.0.0", "0.0.0.0": "0.0.0.0", "::": "0.0.0.0", "127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1"} {
		got, err := listenIP(host)
		if err != nil || got.String() != want {
			t.Errorf("listenIP(%q) = %s, %v; want %s", host, got, err, want)
		}
	}
	if _, err := listenIP("::1"); err == nil {
		t.Error("an IPv6 listen address must be refused: the sockets are IPv4")
	}
}

package push

import "testing"

// An endpoint is dialled only at a public address: every special-purpose
// block is refused (the old filter let 100.64.0.0/10, 0.0.0.0/8,
// 198.18.0.0/15, 240.0.0.0/4, NAT64 and 6to4 through), the local ones
// allowed with AllowPrivate.
func TestCheckAddrRefusesSpecialPurposeAddresses(t *testing.T) {
	for _, c := range []struct {
		addr          string
		strict, local bool // allowed without and with AllowPrivate
	}{
		{"100.64.0.1:443", false, true},
		{"0.1.2.3:443", false, false},
		{"192.0.0.170:443", false, false},
		{"198.18.0.1:443", false, false},
		{"240.0.0.1:443", false, false},
		{"[64:ff9b::a00:1]:443", false, false},
		{"[2002:a00:1::1]:443", false, false},
		{"127.0.0.1:443", false, true},
		{"10.0.0.1:443", false, true},
		{"[fd00::1]:443", false, true},
		{"169.254.169.254:80", false, true},
		{"8.8.8.8:443", true, true},
		{"[2a00:1450:4001:80b::200e]:443", true, true},
	} {
		for _, allow := range []bool{false, true} {
			s := &Service{cfg: Config{AllowPrivate: allow}}
			want := c.strict
			if allow {
				want = c.local
			}
			if err := s.checkAddr("tcp", c.addr, nil); (err == nil) != want {
				t.Errorf("%s (AllowPrivate %v): %v, want allowed=%v", c.addr, allow, err, want)
			}
		}
	}
}

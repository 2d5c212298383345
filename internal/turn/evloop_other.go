//go:build !linux

package turn

import (
	"net"

	pturn "github.com/pion/turn/v5"
)

// attachFast, without Linux's epoll: pion's goroutines read the sockets
// and relay through the fast path themselves.
func attachFast(f *fastRelays, udp *net.UDPConn, g pturn.RelayAddressGenerator) (net.PacketConn, pturn.RelayAddressGenerator, func() error, error) {
	return f.pollServer(udp), f.pollGenerator(g), func() error { return nil }, nil
}

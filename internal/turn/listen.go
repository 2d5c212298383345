package turn

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// socketBuffer is the send and receive buffer asked for each UDP socket:
// a flood of small packets overflows the default (~200 KiB) in
// milliseconds, and a dropped datagram is a lost media packet.
const socketBuffer = 4 << 20

// listenUDP opens n UDP sockets on one address with SO_REUSEPORT, so the
// kernel spreads clients over them and each has its own reader goroutine.
func listenUDP(addr string, n int) ([]*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if n > 1 {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}
			// Best effort: the kernel caps them at net.core.[rw]mem_max.
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, socketBuffer)
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, socketBuffer)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	var out []*net.UDPConn
	for i := 0; i < n; i++ {
		a := addr
		if i > 0 { // the others join the port the first one got
			a = out[0].LocalAddr().String()
		}
		pc, err := lc.ListenPacket(context.Background(), "udp4", a)
		if err != nil {
			for _, c := range out {
				c.Close()
			}
			return nil, fmt.Errorf("turn: udp %s: %w", a, err)
		}
		out = append(out, pc.(*net.UDPConn))
	}
	return out, nil
}

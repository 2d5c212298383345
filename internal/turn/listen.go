package turn

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// socketBuffer is the send and receive buffer asked for the UDP socket: a
// flood of small packets overflows the default (~200 KiB) in milliseconds,
// and a dropped datagram is a lost media packet.
const socketBuffer = 4 << 20

// listenUDP opens the UDP socket with large buffers (best effort: the
// kernel caps them at net.core.rmem_max and wmem_max).
func listenUDP(addr string) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, socketBuffer)
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, socketBuffer)
		})
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("turn: udp %s: %w", addr, err)
	}
	return pc.(*net.UDPConn), nil
}

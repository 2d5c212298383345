package turn

import (
	"context"
	"fmt"
	"net"
	"strconv"
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

// listenBoth opens UDP and TCP on the same port. With port 0 the kernel
// picks the UDP port, which TCP may already be using: then it tries again.
func listenBoth(addr, bindHost string) (*net.UDPConn, net.Listener, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("turn: listen %q: %w", addr, err)
	}
	tries := 1
	if port == "0" {
		tries = 20
	}
	for i := 0; ; i++ {
		udp, err := listenUDP(addr)
		if err != nil {
			return nil, nil, err
		}
		tcpAddr := net.JoinHostPort(bindHost, strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port))
		tcp, err := net.Listen("tcp", tcpAddr)
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if i+1 >= tries {
			return nil, nil, fmt.Errorf("turn: tcp %s: %w", tcpAddr, err)
		}
	}
}

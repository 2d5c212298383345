//go:build linux && (amd64 || arm64)

package sfu

import (
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr on 64-bit Linux.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// batchSys holds the sendmmsg vectors, built once over batchConn's buffers.
type batchSys struct {
	rc    syscall.RawConn
	v6    bool // the socket is AF_INET6 (IPv4 peers as v4-mapped addresses)
	hdrs  [batchSize]mmsghdr
	iovs  [batchSize]unix.Iovec
	names [batchSize]unix.RawSockaddrInet6 // large enough for either family
}

func (s *batchSys) init(c *batchConn) {
	rc, err := c.conn.SyscallConn()
	if err != nil {
		return
	}
	s.rc = rc
	if a, ok := c.conn.LocalAddr().(*net.UDPAddr); ok {
		s.v6 = a.IP.To4() == nil
	}
	for i := range s.hdrs {
		s.iovs[i].Base = &c.bufs[i][0]
		s.hdrs[i].hdr.Iov = &s.iovs[i]
		s.hdrs[i].hdr.SetIovlen(1)
		s.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&s.names[i]))
	}
}

func (s *batchSys) send(c *batchConn) {
	if s.rc == nil {
		c.sendEach(0)
		return
	}
	for i := 0; i < c.n; i++ {
		s.iovs[i].SetLen(c.lens[i])
		a := c.addrs[i]
		if s.v6 {
			n := &s.names[i]
			n.Family = unix.AF_INET6
			n.Port = htons(a.Port())
			n.Flowinfo, n.Scope_id = 0, 0
			n.Addr = a.Addr().As16()
			s.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet6
		} else {
			n := (*unix.RawSockaddrInet4)(unsafe.Pointer(&s.names[i]))
			n.Family = unix.AF_INET
			n.Port = htons(a.Port())
			n.Addr = a.Addr().Unmap().As4()
			n.Zero = [8]uint8{}
			s.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet4
		}
	}
	for from := 0; from < c.n; {
		var sent int
		var errno syscall.Errno
		err := s.rc.Write(func(fd uintptr) bool {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[from])), uintptr(c.n-from), 0, 0, 0)
			if e == unix.EAGAIN {
				return false // wait until the socket is writable
			}
			sent, errno = int(r), e
			return true
		})
		switch {
		case err != nil:
			return // the socket is closed
		case errno != 0:
			from++ // this datagram failed: drop it, send the rest
		default:
			from += sent
		}
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

//go:build linux

package turn

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
	"unsafe"

	pturn "github.com/pion/turn/v5"
	"golang.org/x/sys/unix"
)

// The event loop reads every IPv4 UDP socket of the TURN server (the one
// clients talk to and every relay socket) from one goroutine waiting in
// epoll_wait, as coturn does. Left to Go's netpoller, each relay socket has
// its own reader goroutine (pion's), woken, with a thread, for nearly every
// datagram when traffic is paced; here one wake-up serves every socket
// that became ready meanwhile, and recvmmsg takes what has queued on one
// in a single call. The sockets are taken away from the netpoller (their
// descriptor is duplicated and the net.UDPConn closed) so that it does
// not wake for them as well. What the fast path does not relay itself is
// queued for pion's goroutine, which reads it through the evSock.

// batch is how many datagrams one recvmmsg may return.
const batch = 32

// relayBuffer is the receive buffer asked for each relay socket (the
// kernel caps it at net.core.rmem_max; the default is ~200 KiB).
const relayBuffer = 1 << 20

type evLoop struct {
	epfd, wake int

	mu    sync.RWMutex
	socks map[int32]*evSock

	done chan struct{}

	// The loop's receive buffers, reused for every call.
	msgs  [batch]mmsghdr
	iovs  [batch]unix.Iovec
	names [batch]unix.RawSockaddrInet4
	bufs  [batch][2048]byte
	to    unix.RawSockaddrInet4 // the fast path's destination
}

// mmsghdr is struct mmsghdr (the padding after Len is Go's, as C's).
type mmsghdr struct {
	Hdr unix.Msghdr
	Len uint32
}

// attachFast puts the fast path on the server socket and on the relay
// sockets g makes: it returns what pion should read the server socket
// through, the relay generator to give pion, and how to stop. Without
// epoll (a sandbox that forbids it), pion's goroutines relay instead; an
// error means the socket could not be taken over and is gone.
func attachFast(f *fastRelays, udp *net.UDPConn, g pturn.RelayAddressGenerator) (net.PacketConn, pturn.RelayAddressGenerator, func() error, error) {
	l, err := newEvLoop()
	if err != nil {
		return f.pollServer(udp), f.pollGenerator(g), func() error { return nil }, nil
	}
	server, err := l.adopt(udp, f.fromClient, nil)
	if err != nil {
		l.Close()
		return nil, nil, nil, err
	}
	// Both sends use the loop's scratch address: only the loop relays.
	f.toClients = func(b []byte, to netip.AddrPort) { server.sendTo(b, to, &l.to) }
	gen := &fastGenerator{RelayAddressGenerator: g, adopt: func(udp *net.UDPConn, key string) (net.PacketConn, error) {
		// One loop serves every socket: a relay socket must hold what
		// arrives while the loop is busy with the others.
		_ = udp.SetReadBuffer(relayBuffer)
		var s *evSock
		r := f.add(key, func(b []byte, to netip.AddrPort) { s.sendTo(b, to, &l.to) })
		s, err := l.adopt(udp, r.toClient, r.forget)
		if errors.Is(err, errNotIPv4) { // an IPv6 allocation: pion relays it all
			r.forget()
			return udp, nil
		}
		if err != nil {
			r.forget()
			return nil, err
		}
		return s, nil
	}}
	return server, gen, l.Close, nil
}

func newEvLoop() (*evLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	l := &evLoop{epfd: epfd, wake: wake, socks: make(map[int32]*evSock), done: make(chan struct{})}
	for i := range l.msgs {
		l.iovs[i].Base = &l.bufs[i][0]
		l.iovs[i].SetLen(len(l.bufs[i]))
		l.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&l.names[i]))
		l.msgs[i].Hdr.Iov = &l.iovs[i]
		l.msgs[i].Hdr.SetIovlen(1)
	}
	go l.run()
	return l, nil
}

var errNotIPv4 = errors.New("turn: not an IPv4 socket")

// adopt takes udp's socket into the loop: udp is closed, and the returned
// evSock is the same socket. handle relays what it can; onClose runs when
// the evSock closes.
func (l *evLoop) adopt(udp *net.UDPConn, handle func([]byte, netip.AddrPort) bool, onClose func()) (*evSock, error) {
	rc, err := udp.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		if sa, err := unix.Getsockname(int(s)); err != nil {
			derr = err
		} else if _, ok := sa.(*unix.SockaddrInet4); !ok {
			derr = errNotIPv4
		} else {
			fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
		}
	}); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	s := &evSock{loop: l, fd: fd, local: udp.LocalAddr(), handle: handle, onClose: onClose,
		slow: make(chan datagram, 256), closed: make(chan struct{})}
	udp.Close() // the duplicate keeps the socket; the netpoller forgets it
	l.mu.Lock()
	l.socks[int32(fd)] = s
	l.mu.Unlock()
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
		s.Close()
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return s, nil
}

func (l *evLoop) run() {
	defer close(l.done)
	events := make([]unix.EpollEvent, 64)
	for {
		n, err := unix.EpollWait(l.epfd, events, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd == int32(l.wake) {
				return
			}
			l.mu.RLock()
			s := l.socks[ev.Fd]
			l.mu.RUnlock()
			if s != nil {
				l.drain(s)
			}
		}
	}
}

// drain reads what has queued on s, up to a batch (level-triggered epoll
// comes back for the rest), and relays or queues each datagram.
func (l *evLoop) drain(s *evSock) {
	for i := range l.msgs {
		l.msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
		l.msgs[i].Hdr.Flags = 0
	}
	s.mu.RLock()
	if s.fd < 0 {
		s.mu.RUnlock()
		return
	}
	r, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&l.msgs[0])), batch, unix.MSG_DONTWAIT, 0, 0)
	s.mu.RUnlock()
	if errno != 0 {
		return
	}
	for i := range int(r) {
		m := &l.msgs[i]
		if m.Hdr.Flags&unix.MSG_TRUNC != 0 {
			continue // larger than any TURN datagram: dropped, as pion does
		}
		port := (*[2]byte)(unsafe.Pointer(&l.names[i].Port)) // network byte order
		b, from := l.bufs[i][:m.Len], netip.AddrPortFrom(netip.AddrFrom4(l.names[i].Addr), uint16(port[0])<<8|uint16(port[1]))
		if !s.handle(b, from) {
			s.queue(b, from)
		}
	}
}

// Close stops the loop. The sockets are closed by their owners (pion).
func (l *evLoop) Close() error {
	var one [8]byte
	one[0] = 1
	unix.Write(l.wake, one[:])
	<-l.done
	unix.Close(l.wake)
	return unix.Close(l.epfd)
}

// evSock is a socket the loop reads, as a net.PacketConn for pion: reads
// return what the fast path left, and writes go straight to the socket.
type evSock struct {
	loop    *evLoop
	local   net.Addr
	handle  func([]byte, netip.AddrPort) bool
	onClose func()

	mu sync.RWMutex // read-held around every use of fd; Close write-holds it
	fd int          // -1 once closed

	slow   chan datagram
	closed chan struct{}
	once   sync.Once

	dlMu     sync.Mutex
	deadline time.Time
}

type datagram struct {
	b    []byte
	from *net.UDPAddr
}

// queue hands a datagram to pion's reader, or drops it if the reader is
// that far behind (a lost datagram, as a full socket buffer would make).
func (s *evSock) queue(b []byte, from netip.AddrPort) {
	select {
	case s.slow <- datagram{b: append([]byte(nil), b...), from: net.UDPAddrFromAddrPort(from)}:
	default:
	}
}

// sendTo writes one datagram without blocking; sa is the caller's scratch
// space for the address (the loop's, or a fresh one).
func (s *evSock) sendTo(b []byte, to netip.AddrPort, sa *unix.RawSockaddrInet4) {
	if !to.Addr().Is4() || len(b) == 0 {
		return
	}
	sa.Family = unix.AF_INET
	port := (*[2]byte)(unsafe.Pointer(&sa.Port)) // network byte order
	port[0], port[1] = byte(to.Port()>>8), byte(to.Port())
	sa.Addr = to.Addr().As4()
	s.mu.RLock()
	if s.fd >= 0 {
		unix.RawSyscall6(unix.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
			unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(sa)), unix.SizeofSockaddrInet4)
	}
	s.mu.RUnlock()
}

func (s *evSock) ReadFrom(p []byte) (int, net.Addr, error) {
	s.dlMu.Lock()
	dl := s.deadline
	s.dlMu.Unlock()
	var expired <-chan time.Time
	if !dl.IsZero() {
		t := time.NewTimer(time.Until(dl))
		defer t.Stop()
		expired = t.C
	}
	select {
	case d := <-s.slow:
		return copy(p, d.b), d.from, nil
	case <-s.closed:
		return 0, nil, net.ErrClosed
	case <-expired:
		return 0, nil, os.ErrDeadlineExceeded
	}
}

// WriteTo is pion's writing (answers, Data indications): not on the
// loop's goroutine, so with its own address space.
func (s *evSock) WriteTo(p []byte, addr net.Addr) (int, error) {
	select {
	case <-s.closed:
		return 0, net.ErrClosed
	default:
	}
	to := addrPort(addr)
	if !to.Addr().Is4() {
		return 0, &net.AddrError{Err: "not an IPv4 UDP address", Addr: addr.String()}
	}
	s.sendTo(p, to, new(unix.RawSockaddrInet4))
	return len(p), nil
}

func (s *evSock) Close() error {
	s.once.Do(func() {
		close(s.closed)
		l := s.loop
		l.mu.Lock()
		s.mu.Lock()
		if l.socks[int32(s.fd)] == s {
			delete(l.socks, int32(s.fd))
		}
		unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, s.fd, nil)
		unix.Close(s.fd)
		s.fd = -1
		s.mu.Unlock()
		l.mu.Unlock()
		if s.onClose != nil {
			s.onClose()
		}
	})
	return nil
}

func (s *evSock) LocalAddr() net.Addr { return s.local }

func (s *evSock) SetReadDeadline(t time.Time) error {
	s.dlMu.Lock()
	s.deadline = t
	s.dlMu.Unlock()
	return nil
}

// SetWriteDeadline is a no-op: writes never block (a full socket buffer
// drops the datagram).
func (s *evSock) SetWriteDeadline(time.Time) error { return nil }

func (s *evSock) SetDeadline(t time.Time) error { return s.SetReadDeadline(t) }

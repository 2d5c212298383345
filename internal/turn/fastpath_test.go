package turn

import (
	"bytes"
	"net"
	"testing"
	"time"
)

func udp4(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.UDPConn)
}

func readWithin(t *testing.T, c net.PacketConn, buf []byte) (int, net.Addr) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	return n, from
}

// fastSetup is the fast path on a server socket, with a way to make relay
// sockets, in one of the two ways it runs: pion's goroutines reading
// ("poll"), or the event loop ("loop", where the OS has one).
type fastSetup struct {
	f      *fastRelays
	server net.PacketConn // what pion reads
	addr   net.Addr       // the server socket's address
	relay  func(key string) net.PacketConn
}

func eachFlavor(t *testing.T, test func(t *testing.T, s fastSetup)) {
	for _, flavor := range []string{"poll", "loop"} {
		t.Run(flavor, func(t *testing.T) {
			f, udp := newFastRelays(), udp4(t)
			s := fastSetup{f: f, addr: udp.LocalAddr()}
			var gen *fastGenerator
			if flavor == "poll" {
				s.server, gen = f.pollServer(udp), f.pollGenerator(nil).(*fastGenerator)
			} else {
				server, g, stop, err := attachFast(f, udp, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { server.Close(); stop() })
				s.server, gen = server, g.(*fastGenerator)
			}
			s.relay = func(key string) net.PacketConn {
				pc, err := gen.adopt(udp4(t), key)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { pc.Close() })
				return pc
			}
			test(t, s)
		})
	}
}

// pionReads is pion's read loop on c: what reaches it, until c closes.
func pionReads(c net.PacketConn) <-chan []byte {
	got := make(chan []byte, 8)
	go func() {
		buf := make([]byte, 1600)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				close(got)
				return
			}
			got <- append([]byte(nil), buf[:n]...)
		}
	}()
	return got
}

func within(t *testing.T, got <-chan []byte) []byte {
	t.Helper()
	select {
	case b := <-got:
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("nothing reached pion")
		return nil
	}
}

// A peer's datagram on a bound channel goes to the client as ChannelData,
// padded to 4 bytes; without a channel (or after it is deleted) it goes to
// pion's read loop instead.
func TestFastPathFramesChannelData(t *testing.T) {
	eachFlavor(t, func(t *testing.T, s fastSetup) {
		client, peer, stranger := udp4(t), udp4(t), udp4(t)
		relayAddr := &net.UDPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 50000} // what pion advertises
		r := s.relay(relayAddr.String())
		s.f.channelCreated(client.LocalAddr(), "TCP", relayAddr, peer.LocalAddr(), 0x4001)
		if len(s.f.byClient) != 0 {
			t.Fatal("a TCP client's channel must stay with pion")
		}
		s.f.channelCreated(client.LocalAddr(), "UDP", relayAddr, peer.LocalAddr(), 0x4001)
		got := pionReads(r)

		buf := make([]byte, 2048)
		for _, size := range []int{1, 4, 5, 1199} {
			data := bytes.Repeat([]byte{byte(size)}, size)
			peer.WriteTo(data, r.LocalAddr())
			n, from := readWithin(t, client, buf)
			want := append([]byte{0x40, 0x01, byte(size >> 8), byte(size)}, data...)
			for len(want)%4 != 0 {
				want = append(want, 0)
			}
			if from.String() != s.addr.String() || !bytes.Equal(buf[:n], want) {
				t.Fatalf("size %d: the client got % x from %s", size, buf[:min(n, 12)], from)
			}
		}

		stranger.WriteTo([]byte("no channel"), r.LocalAddr())
		if b := within(t, got); string(b) != "no channel" {
			t.Fatalf("pion got %q", b)
		}
		s.f.channelDeleted(relayAddr, peer.LocalAddr())
		peer.WriteTo([]byte("channel gone"), r.LocalAddr())
		if b := within(t, got); string(b) != "channel gone" {
			t.Fatalf("pion got %q", b)
		}
		r.Close()
		if _, open := <-got; open || len(s.f.byRelay) != 0 || len(s.f.byClient) != 0 {
			t.Fatal("closing must end the read loop and forget the socket")
		}
	})
}

// A client's ChannelData on a bound channel goes to the peer from the
// relay socket; STUN, an unbound channel, a stranger, or a frame shorter
// than its length field go to pion's read loop untouched.
func TestFastPathRelaysClientChannelData(t *testing.T) {
	eachFlavor(t, func(t *testing.T, s fastSetup) {
		client, peer, stranger := udp4(t), udp4(t), udp4(t)
		relayAddr := &net.UDPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 50000}
		r := s.relay(relayAddr.String())
		s.f.channelCreated(client.LocalAddr(), "UDP", relayAddr, peer.LocalAddr(), 0x4001)
		got := pionReads(s.server)

		buf := make([]byte, 2048)
		client.WriteTo([]byte{0x40, 0x01, 0, 5, 'h', 'e', 'l', 'l', 'o', 0, 0, 0}, s.addr)
		n, from := readWithin(t, peer, buf)
		if string(buf[:n]) != "hello" || from.(*net.UDPAddr).Port != r.LocalAddr().(*net.UDPAddr).Port {
			t.Fatalf("the peer got %q from %s", buf[:n], from)
		}
		for _, pion := range [][]byte{
			{0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42}, // STUN
			{0x40, 0x02, 0, 1, 'x', 0, 0, 0},           // unbound channel
			{0x40, 0x01, 0, 9, 'x', 0, 0, 0},           // longer than the datagram
		} {
			client.WriteTo(pion, s.addr)
			if b := within(t, got); !bytes.Equal(b, pion) {
				t.Fatalf("pion got % x, want % x", b, pion)
			}
		}
		stranger.WriteTo([]byte{0x40, 0x01, 0, 1, 'x', 0, 0, 0}, s.addr)
		if b := within(t, got); b[4] != 'x' {
			t.Fatalf("pion got % x", b)
		}
		s.f.channelDeleted(relayAddr, peer.LocalAddr())
		client.WriteTo([]byte{0x40, 0x01, 0, 1, 'y', 0, 0, 0}, s.addr)
		if b := within(t, got); b[4] != 'y' {
			t.Fatalf("after the channel is deleted pion got % x", b)
		}
		r.Close()
		if len(s.f.byClient) != 0 {
			t.Fatal("closing the relay must forget its client")
		}
		s.server.Close()
		if _, open := <-got; open {
			t.Fatal("closing the socket must end the read loop")
		}
	})
}

package turn

import (
	"bytes"
	"net"
	"testing"
	"time"
)

func udp4(t *testing.T) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
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

// A peer's datagram on a bound channel goes to the client as ChannelData,
// padded to 4 bytes; without a channel (or after it is deleted) it goes to
// pion's read loop instead.
func TestFastPathFramesChannelData(t *testing.T) {
	server, client, peer, stranger := udp4(t), udp4(t), udp4(t), udp4(t)
	f := newFastRelays(server.(*net.UDPConn))
	relayAddr := &net.UDPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 50000} // what pion advertises
	r := newRelayConn(f, udp4(t).(*net.UDPConn), relayAddr.String())
	f.byRelay[r.key] = r

	f.channelCreated(client.LocalAddr(), "TCP", relayAddr, peer.LocalAddr(), 0x4001)
	if len(r.channels) != 0 {
		t.Fatal("a TCP client's channel must stay with pion")
	}
	f.channelCreated(client.LocalAddr(), "UDP", relayAddr, peer.LocalAddr(), 0x4001)

	got := make(chan []byte, 4)
	go func() { // pion's read loop
		buf := make([]byte, 1600)
		for {
			n, _, err := r.ReadFrom(buf)
			if err != nil {
				close(got)
				return
			}
			got <- append([]byte(nil), buf[:n]...)
		}
	}()
	buf := make([]byte, 2048)
	for _, size := range []int{1, 4, 5, 1199} {
		data := bytes.Repeat([]byte{byte(size)}, size)
		peer.WriteTo(data, r.LocalAddr())
		n, from := readWithin(t, client, buf)
		want := append([]byte{0x40, 0x01, byte(size >> 8), byte(size)}, data...)
		for len(want)%4 != 0 {
			want = append(want, 0)
		}
		if from.String() != server.LocalAddr().String() || !bytes.Equal(buf[:n], want) {
			t.Fatalf("size %d: the client got % x from %s", size, buf[:min(n, 12)], from)
		}
	}

	stranger.WriteTo([]byte("no channel"), r.LocalAddr())
	if b := <-got; string(b) != "no channel" {
		t.Fatalf("pion got %q", b)
	}
	f.channelDeleted(relayAddr, peer.LocalAddr())
	peer.WriteTo([]byte("channel gone"), r.LocalAddr())
	if b := <-got; string(b) != "channel gone" {
		t.Fatalf("pion got %q", b)
	}
	r.Close()
	if _, open := <-got; open || len(f.byRelay) != 0 {
		t.Fatal("closing must end the read loop and forget the socket")
	}
}

// A client's ChannelData on a bound channel goes to the peer from the
// relay socket; STUN, an unbound channel, a stranger, or a frame shorter
// than its length field go to pion's read loop untouched.
func TestFastPathRelaysClientChannelData(t *testing.T) {
	server, client, peer, stranger := udp4(t), udp4(t), udp4(t), udp4(t)
	f := newFastRelays(server.(*net.UDPConn))
	relayAddr := &net.UDPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 50000}
	r := newRelayConn(f, udp4(t).(*net.UDPConn), relayAddr.String())
	f.byRelay[r.key] = r
	f.channelCreated(client.LocalAddr(), "UDP", relayAddr, peer.LocalAddr(), 0x4001)
	sc := f.serverConn()

	got := make(chan []byte, 8)
	go func() { // pion's read loop
		buf := make([]byte, 1600)
		for {
			n, _, err := sc.ReadFrom(buf)
			if err != nil {
				close(got)
				return
			}
			got <- append([]byte(nil), buf[:n]...)
		}
	}()
	buf := make([]byte, 2048)
	client.WriteTo([]byte{0x40, 0x01, 0, 5, 'h', 'e', 'l', 'l', 'o', 0, 0, 0}, server.LocalAddr())
	n, from := readWithin(t, peer, buf)
	if string(buf[:n]) != "hello" || from.String() != r.LocalAddr().String() {
		t.Fatalf("the peer got %q from %s", buf[:n], from)
	}
	for _, pion := range [][]byte{
		{0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42}, // STUN
		{0x40, 0x02, 0, 1, 'x', 0, 0, 0},           // unbound channel
		{0x40, 0x01, 0, 9, 'x', 0, 0, 0},           // longer than the datagram
	} {
		client.WriteTo(pion, server.LocalAddr())
		if b := <-got; !bytes.Equal(b, pion) {
			t.Fatalf("pion got % x, want % x", b, pion)
		}
	}
	stranger.WriteTo([]byte{0x40, 0x01, 0, 1, 'x', 0, 0, 0}, server.LocalAddr())
	if b := <-got; b[4] != 'x' {
		t.Fatalf("pion got % x", b)
	}
	f.channelDeleted(relayAddr, peer.LocalAddr())
	client.WriteTo([]byte{0x40, 0x01, 0, 1, 'y', 0, 0, 0}, server.LocalAddr())
	if b := <-got; b[4] != 'y' {
		t.Fatalf("after the channel is deleted pion got % x", b)
	}
	r.Close()
	if len(f.byClient) != 0 {
		t.Fatal("closing the relay must forget its client")
	}
	server.Close()
	if _, open := <-got; open {
		t.Fatal("closing the socket must end the read loop")
	}
}

package turn

import (
	"bytes"
	"net"
	"net/netip"
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
	f := newFastRelays(server)
	relayAddr := &net.UDPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 50000} // what pion advertises
	r := &relayConn{PacketConn: udp4(t), f: f, key: relayAddr.String(), channels: map[netip.AddrPort]uint16{}}
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

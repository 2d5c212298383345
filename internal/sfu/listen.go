package sfu

import (
	"errors"
	"fmt"
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// listener is the SFU's UDP side: one socket, or one per interface address
// on the same port when Config.UDPAddr has no host. With a socket bound to
// the unspecified address the kernel picks the source address of replies,
// which need not be the ICE candidate the peer checked (pion warns about
// it); a socket per address keeps each candidate's traffic on its address.
type listener struct {
	mux   ice.UDPMux
	conns batchGroup
	addr  *net.UDPAddr
}

func listen(cfg Config) (*listener, error) {
	ua, err := net.ResolveUDPAddr("udp", cfg.UDPAddr)
	if err != nil {
		return nil, err
	}
	if ua.IP != nil && !ua.IP.IsUnspecified() {
		conn, err := net.ListenUDP("udp", ua)
		if err != nil {
			return nil, err
		}
		bc := newBatchConn(conn)
		return &listener{
			mux: webrtc.NewICEUDPMux(pionLogs{cfg.Logger}.NewLogger("udpmux"), bc.packetConn()), conns: batchGroup{bc},
			addr: conn.LocalAddr().(*net.UDPAddr),
		}, nil
	}
	ips, err := interfaceIPs(ua.IP)
	if err != nil {
		return nil, err
	}
	l := &listener{addr: &net.UDPAddr{IP: ua.IP, Port: ua.Port}}
	var muxes []ice.UDPMux
	for _, ip := range ips {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: l.addr.Port})
		if err != nil {
			for _, m := range muxes {
				_ = m.Close()
			}
			return nil, fmt.Errorf("sfu: listen on %s port %d: %w", ip, l.addr.Port, err)
		}
		if l.addr.Port == 0 { // the first socket picks the port the others share
			l.addr.Port = conn.LocalAddr().(*net.UDPAddr).Port
		}
		bc := newBatchConn(conn)
		l.conns = append(l.conns, bc)
		muxes = append(muxes, webrtc.NewICEUDPMux(pionLogs{cfg.Logger}.NewLogger("udpmux"), bc.packetConn()))
	}
	l.mux = ice.NewMultiUDPMuxDefault(muxes...)
	return l, nil
}

// interfaceIPs lists the addresses of the interfaces that are up, loopback
// included, link-local excluded; only IPv4 ones if want is 0.0.0.0.
func interfaceIPs(want net.IP) ([]net.IP, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	only4 := want != nil && want.To4() != nil
	var ips []net.IP
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok || n.IP.IsLinkLocalUnicast() || n.IP.IsMulticast() || (only4 && n.IP.To4() == nil) {
				continue
			}
			ips = append(ips, n.IP)
		}
	}
	if len(ips) == 0 {
		return nil, errors.New("sfu: no interface address to listen on")
	}
	return ips, nil
}

// batchGroup is every socket of the SFU: a fan-out holds them all, since a
// subscriber's packets leave by whichever its ICE pair uses.
type batchGroup []*batchConn

func (g batchGroup) hold() {
	for _, c := range g {
		c.hold()
	}
}

func (g batchGroup) release() {
	for _, c := range g {
		c.release()
	}
}

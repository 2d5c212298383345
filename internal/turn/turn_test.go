package turn_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	pturn "github.com/pion/turn/v5"
	"go.uber.org/goleak"

	"github.com/parley-chat/parley/internal/turn"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const secret = "shared-secret-for-tests-0123456789"

func start(t *testing.T, cfg turn.Config) *turn.Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	cfg.Secret = secret
	s, err := turn.Start(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// serverAddr is the host:port of the TURN URL of a transport (udp, tcp, or
// tls for turns:).
func serverAddr(t *testing.T, s *turn.Server, transport string) string {
	t.Helper()
	scheme := "turn:"
	if transport == "tls" {
		scheme, transport = "turns:", "tcp"
	}
	for _, ice := range s.Credentials("x", time.Now()) {
		for _, u := range ice.URLs {
			if strings.HasPrefix(u, scheme) && strings.HasSuffix(u, "?transport="+transport) {
				return strings.TrimSuffix(strings.TrimPrefix(u, scheme), "?transport="+transport)
			}
		}
	}
	t.Fatalf("no turn: URL for %s", transport)
	return ""
}

// client connects a pion TURN client over transport with credentials.
func client(t *testing.T, s *turn.Server, transport, username, password string) *pturn.Client {
	t.Helper()
	addr := serverAddr(t, s, transport)
	var conn net.PacketConn
	if transport == "tcp" || transport == "tls" {
		var c net.Conn
		var err error
		if transport == "tls" {
			c, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test's own certificate
		} else {
			c, err = net.Dial("tcp", addr)
		}
		if err != nil {
			t.Fatal(err)
		}
		conn = pturn.NewSTUNConn(c)
	} else {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	}
	cl, err := pturn.NewClient(&pturn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: username, Password: password, Realm: "parley", RTO: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(); conn.Close() })
	return cl
}

// allocate allocates a relay and closes it when the test ends (before its
// client: cleanups run last first).
func allocate(t *testing.T, cl *pturn.Client) (net.PacketConn, error) {
	t.Helper()
	rc, err := cl.Allocate()
	if err == nil {
		t.Cleanup(func() { rc.Close() })
	}
	return rc, err
}

func creds(s *turn.Server, user string) (string, string) {
	ice := s.Credentials(user, time.Now())[1]
	return ice.Username, ice.Credential
}

// relay checks that data goes through an allocation to a peer and back.
func relay(t *testing.T, relayConn net.PacketConn) {
	t.Helper()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	msg := []byte("hello through the relay")
	if _, err := relayConn.WriteTo(msg, peer.LocalAddr()); err != nil {
		t.Fatalf("write to peer: %v", err)
	}
	buf := make([]byte, 1500)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := peer.ReadFrom(buf)
	if err != nil || !bytes.Equal(buf[:n], msg) {
		t.Fatalf("the peer got %q, %v", buf[:n], err)
	}
	if from.String() != relayConn.LocalAddr().String() {
		t.Fatalf("the peer heard from %s, want the relay %s", from, relayConn.LocalAddr())
	}
	if _, err := peer.WriteTo([]byte("and back"), from); err != nil {
		t.Fatal(err)
	}
	relayConn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err = relayConn.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "and back" {
		t.Fatalf("the client got %q, %v", buf[:n], err)
	}
}

func TestRelaysOverUDPAndTCP(t *testing.T) {
	cert, key := selfSigned(t)
	s := start(t, turn.Config{AllowPrivatePeers: true, TLSListen: "127.0.0.1:0", CertFile: cert, KeyFile: key})
	for _, transport := range []string{"udp", "tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			u, p := creds(s, "alice")
			cl := client(t, s, transport, u, p)
			// STUN: the server tells the client its address.
			mapped, err := cl.SendBindingRequest()
			if err != nil || !strings.HasPrefix(mapped.String(), "127.0.0.1:") {
				t.Fatalf("binding: %v %v", mapped, err)
			}
			rc, err := cl.Allocate()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if !strings.HasPrefix(rc.LocalAddr().String(), "127.0.0.1:") {
				t.Fatalf("relay address %s", rc.LocalAddr())
			}
			relay(t, rc)
		})
	}
}

func TestCredentials(t *testing.T) {
	s := start(t, turn.Config{AllowPrivatePeers: true})
	good, pw := creds(s, "bob")
	if !strings.HasSuffix(good, ":bob") {
		t.Fatalf("username %q, want EXPIRY:bob", good)
	}
	// The TURN REST scheme, so an external coturn with the same secret agrees.
	want, wantPW := turn.RESTCredential(secret, "bob", time.Unix(mustInt(t, strings.Split(good, ":")[0]), 0))
	if good != want || pw != wantPW {
		t.Fatalf("credential %s/%s, want %s/%s", good, pw, want, wantPW)
	}
	expired, expiredPW := turn.RESTCredential(secret, "bob", time.Now().Add(-time.Minute))
	var otherSecret [2]string
	otherSecret[0], otherSecret[1] = turn.RESTCredential("another secret", "bob", time.Now().Add(time.Hour))
	for name, c := range map[string][2]string{
		"expired":        {expired, expiredPW},
		"wrong HMAC":     {good, base64Of("not the password")},
		"another secret": otherSecret,
		"no expiry":      {"bob", pw},
	} {
		t.Run(name, func(t *testing.T) {
			cl := client(t, s, "udp", c[0], c[1])
			if _, err := allocate(t, cl); err == nil {
				t.Fatal("allocated with bad credentials")
			}
		})
	}
	if s.Allocations() != 0 {
		t.Fatalf("%d allocations after refusals", s.Allocations())
	}
}

func TestQuotaPerUser(t *testing.T) {
	s := start(t, turn.Config{AllowPrivatePeers: true, AllocationsPerUser: 2})
	var conns []net.PacketConn
	for i := 0; i < 2; i++ {
		u, p := creds(s, "carol")
		rc, err := allocate(t, client(t, s, "udp", u, p))
		if err != nil {
			t.Fatalf("allocation %d: %v", i+1, err)
		}
		conns = append(conns, rc)
	}
	u, p := creds(s, "carol")
	_, err := allocate(t, client(t, s, "udp", u, p))
	if err == nil || !strings.Contains(err.Error(), "486") {
		t.Fatalf("a third allocation: %v, want 486 Allocation Quota Reached", err)
	}
	// Another user is not affected; a freed allocation can be reused.
	u2, p2 := creds(s, "dave")
	if _, err := allocate(t, client(t, s, "udp", u2, p2)); err != nil {
		t.Fatal(err)
	}
	conns[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		u, p := creds(s, "carol")
		if _, err := allocate(t, client(t, s, "udp", u, p)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a freed allocation was not counted back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Peers in the special-purpose registries are refused with 403 Forbidden,
// to CreatePermission and to ChannelBind alike (pion answers the latter
// 401, a wrong password to the client), over UDP and TCP; a public peer
// is allowed. The client checks each answer's MESSAGE-INTEGRITY.
func TestSpecialPurposePeersAreRefusedWith403(t *testing.T) {
	cert, key := selfSigned(t)
	s := start(t, turn.Config{TLSListen: "127.0.0.1:0", CertFile: cert, KeyFile: key})
	forbidden := []string{"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0",
		"0.1.2.3", "100.64.0.1", "192.0.0.10", "198.18.0.1", "203.0.113.7", "240.0.0.1", "255.255.255.255", "224.0.0.1"}
	for _, transport := range []string{"udp", "tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			u, p := creds(s, "eve")
			cl := client(t, s, transport, u, p)
			if _, err := allocate(t, cl); err != nil {
				t.Fatal(err)
			}
			for i, ip := range forbidden {
				peer := &net.UDPAddr{IP: net.ParseIP(ip).To4(), Port: 9}
				var te *stun.TurnError
				if err := cl.CreatePermission(peer); !errors.As(err, &te) || te.ErrorCodeAttr.Code != stun.CodeForbidden {
					t.Errorf("CreatePermission %s: %v, want 403 Forbidden", ip, err)
				}
				if code := channelBind(t, cl, s, transport, u, p, peer, 0x4001+uint16(i)); code != stun.CodeForbidden {
					t.Errorf("ChannelBind %s: %d, want 403 Forbidden", ip, code)
				}
			}
			public := &net.UDPAddr{IP: net.IPv4(8, 8, 8, 8), Port: 9} // a permission only: nothing is sent
			if err := cl.CreatePermission(public); err != nil {
				t.Fatalf("CreatePermission for a public peer: %v", err)
			}
			if code := channelBind(t, cl, s, transport, u, p, public, 0x5000); code != 0 {
				t.Fatalf("ChannelBind for a public peer: %d", code)
			}
		})
	}
}

// channelBind asks for channel number to peer on cl's allocation and
// returns the error code of the answer (0 for success).
func channelBind(t *testing.T, cl *pturn.Client, s *turn.Server, transport, username, password string, peer *net.UDPAddr, number uint16) stun.ErrorCode {
	t.Helper()
	server, err := net.ResolveUDPAddr("udp", serverAddr(t, s, transport))
	if err != nil {
		t.Fatal(err)
	}
	ask := func(setters ...stun.Setter) *stun.Message {
		msg := stun.MustBuild(append([]stun.Setter{stun.TransactionID, stun.NewType(stun.MethodChannelBind, stun.ClassRequest),
			peerAddress{IP: peer.IP, Port: peer.Port}}, setters...)...)
		res, err := cl.PerformTransaction(msg, server, false)
		if err != nil {
			t.Fatalf("ChannelBind: %v", err)
		}
		return res.Msg
	}
	var nonce stun.Nonce
	if err := nonce.GetFrom(ask()); err != nil { // unauthenticated: 401 with a nonce
		t.Fatalf("no nonce: %v", err)
	}
	res := ask(stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{byte(number >> 8), byte(number), 0, 0}},
		stun.NewUsername(username), stun.NewRealm("parley"), nonce,
		stun.NewLongTermIntegrity(username, "parley", password), stun.Fingerprint)
	if res.Type.Class == stun.ClassSuccessResponse {
		return 0
	}
	if err := stun.Fingerprint.Check(res); err != nil {
		t.Fatalf("the answer's FINGERPRINT: %v", err)
	}
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(res); err != nil {
		t.Fatalf("an error response without a code: %v", res)
	}
	return code.Code
}

// peerAddress is an XOR-PEER-ADDRESS attribute.
type peerAddress stun.XORMappedAddress

func (a peerAddress) AddTo(m *stun.Message) error {
	return stun.XORMappedAddress(a).AddToAs(m, stun.AttrXORPeerAddress)
}

func mustInt(t *testing.T, s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func base64Of(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// Datagrams of every length mod 4 go both ways through a channel (pion's
// client binds one after its first send) and arrive whole, from the peer.
func TestRelaysABurstThroughAChannel(t *testing.T) {
	s := start(t, turn.Config{AllowPrivatePeers: true})
	u, p := creds(s, "alice")
	rc, err := allocate(t, client(t, s, "udp", u, p))
	if err != nil {
		t.Fatal(err)
	}
	relay(t, rc) // permission, and the channel bind it starts
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	rc.WriteTo([]byte("hello"), peer.LocalAddr())
	buf := make([]byte, 1600)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := peer.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the client's channel bind completes
	for i := 1; i <= 200; i++ {
		data := bytes.Repeat([]byte{byte(i)}, i*6)
		if _, err := peer.WriteTo(data, rc.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		rc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := rc.ReadFrom(buf)
		if err != nil || !bytes.Equal(buf[:n], data) || from.String() != peer.LocalAddr().String() {
			t.Fatalf("datagram %d (%d bytes): got %d bytes from %v, %v", i, len(data), n, from, err)
		}
	}
	for i := 1; i <= 200; i++ { // and back, client to peer
		data := bytes.Repeat([]byte{byte(i)}, i*6)
		if _, err := rc.WriteTo(data, peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := peer.ReadFrom(buf)
		if err != nil || !bytes.Equal(buf[:n], data) || from.String() != rc.LocalAddr().String() {
			t.Fatalf("datagram %d to the peer (%d bytes): got %d bytes from %v, %v", i, len(data), n, from, err)
		}
	}
}

// syncLog is a log the server writes while the test reads it.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Listening on one address without a public IP, the relay address clients
// are given is that address, where the relay sockets are bound: a peer's
// datagram to it reaches the client. (It was the host's first non-loopback
// IPv4, where nothing listened.)
func TestRelayAddressIsTheListenAddress(t *testing.T) {
	var log syncLog
	s, err := turn.Start(turn.Config{Listen: "127.0.0.1:0", Secret: secret, AllowPrivatePeers: true},
		slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, p := creds(s, "alice")
	rc, err := allocate(t, client(t, s, "udp", u, p))
	if err != nil {
		t.Fatal(err)
	}
	if ip := rc.LocalAddr().(*net.UDPAddr).IP.String(); ip != "127.0.0.1" {
		t.Fatalf("the relay address is %s, want the listen address 127.0.0.1", rc.LocalAddr())
	}
	relay(t, rc)
	if !strings.Contains(log.String(), "advertised=127.0.0.1 bound=127.0.0.1") {
		t.Fatalf("the start log does not say where relays are: %s", log.String())
	}
}

// A public IP the host does not have is a NAT's: the relay address given is
// that IP, the relays are bound to the listen address, and the start log
// says so. A public IP the host has on another interface than the one it
// listens on cannot work and fails the start.
func TestPublicIPBehindNAT(t *testing.T) {
	var log syncLog
	// The client reaches the server on loopback (Host): the NAT is pretend.
	s, err := turn.Start(turn.Config{Listen: "127.0.0.1:0", PublicIP: "198.51.100.7", Host: "127.0.0.1", Secret: secret, AllowPrivatePeers: true},
		slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, p := creds(s, "alice")
	rc, err := allocate(t, client(t, s, "udp", u, p))
	if err != nil {
		t.Fatal(err)
	}
	if ip := rc.LocalAddr().(*net.UDPAddr).IP.String(); ip != "198.51.100.7" {
		t.Fatalf("the relay address is %s, want the public IP", rc.LocalAddr())
	}
	out := log.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "NAT") ||
		!strings.Contains(out, "public_ip=198.51.100.7") || !strings.Contains(out, "relays_bound_to=127.0.0.1") {
		t.Fatalf("the start log does not say the relays are behind a NAT: %s", out)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, for turns:.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

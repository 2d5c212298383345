// Package turn is Parley's embedded TURN and STUN server (pion/turn), so
// calls connect through NATs and firewalls without installing coturn.
//
// Credentials follow the TURN REST API scheme that coturn's
// static-auth-secret uses: username "EXPIRY:USER" (EXPIRY in unix seconds),
// password base64(HMAC-SHA1(secret, username)). The server mints them per
// connection; an external coturn configured with the same secret accepts
// them as well. Each user may hold a bounded number of allocations, and
// relays to peers in IANA's special-purpose address blocks (loopback,
// private, link-local, shared, reserved ...: package specialip) are
// refused with 403 Forbidden, the local ones unless configured, so the
// relay is no way into the operator's network.
package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST API scheme is HMAC-SHA1
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	pturn "github.com/pion/turn/v5"

	"github.com/parley-chat/parley/internal/specialip"
	"github.com/parley-chat/parley/protocol"
)

// Config configures the TURN server. Zero values take the defaults in brackets.
type Config struct {
	// Listen is the UDP and TCP address, host:port [":3478"]. Port 0 picks a
	// free one (tests); the advertised URLs use the port actually bound.
	Listen string
	// TLSListen is the TLS (turns:) address, used when CertFile is set [":5349"].
	TLSListen string
	// CertFile and KeyFile enable turns: with this certificate.
	CertFile, KeyFile string
	// PublicIP is the relay address given to clients: the address peers
	// reach this machine at ["" = Listen's IP if it is a specific one, else
	// the first non-loopback IPv4, else 127.0.0.1]. Relay sockets are bound
	// to it; an address the host does not have is a NAT's, and the relays
	// are bound to Listen's IP (addr.go).
	PublicIP string
	// Host is the name or address in the advertised URLs ["" = PublicIP].
	Host string
	// RelayPortMin and RelayPortMax bound the relay ports [49152, 65535].
	RelayPortMin, RelayPortMax int
	// Realm is the TURN realm ["parley"].
	Realm string
	// Secret is the TURN REST shared secret (coturn's static-auth-secret).
	Secret string
	// CredentialTTL is how long a minted credential works [12h].
	CredentialTTL time.Duration
	// AllocationsPerUser bounds one user's open allocations [10].
	AllocationsPerUser int
	// AllowPrivatePeers lets relays reach loopback, private-use, shared
	// (100.64/10), link-local and unique-local addresses (tests, or calls
	// inside one network); the other special-purpose blocks stay refused [false].
	AllowPrivatePeers bool
}

func (c *Config) defaults() {
	if c.Listen == "" {
		c.Listen = ":3478"
	}
	if c.TLSListen == "" {
		c.TLSListen = ":5349"
	}
	if c.RelayPortMin == 0 {
		c.RelayPortMin = 49152
	}
	if c.RelayPortMax == 0 {
		c.RelayPortMax = 65535
	}
	if c.Realm == "" {
		c.Realm = "parley"
	}
	if c.CredentialTTL <= 0 {
		c.CredentialTTL = 12 * time.Hour
	}
	if c.AllocationsPerUser <= 0 {
		c.AllocationsPerUser = 10
	}
}

// Server is a running TURN server.
type Server struct {
	cfg    Config
	log    *slog.Logger
	srv    *pturn.Server
	closer []func() error
	urls   []string // turn: and turns: URLs, without credentials
	stun   string

	mu    sync.Mutex
	count map[string]int // user → open allocations
}

// Start listens and serves.
func Start(cfg Config, log *slog.Logger) (*Server, error) {
	cfg.defaults()
	if cfg.Secret == "" {
		return nil, errors.New("turn: a shared secret is required")
	}
	if cfg.RelayPortMin < 1 || cfg.RelayPortMax > 65535 || cfg.RelayPortMin > cfg.RelayPortMax {
		return nil, fmt.Errorf("turn: relay ports %d-%d are not a range", cfg.RelayPortMin, cfg.RelayPortMax)
	}
	s := &Server{cfg: cfg, log: log, count: make(map[string]int)}
	bindHost, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("turn: listen %q: %w", cfg.Listen, err)
	}
	listen, err := listenIP(bindHost)
	if err != nil {
		return nil, err
	}
	plan, err := planRelay(listen, cfg.PublicIP, hostAddrs())
	if err != nil {
		return nil, err
	}
	if plan.nat {
		log.Warn("turn: the public IP is not one of this host's addresses: relaying through a NAT, "+
			"which must forward it to this host (UDP relay ports included), or every relayed packet is lost",
			"public_ip", plan.advertised, "relays_bound_to", plan.bind,
			"relay_ports", fmt.Sprintf("%d-%d", cfg.RelayPortMin, cfg.RelayPortMax))
	} else {
		log.Info("turn relay address", "advertised", plan.advertised, "bound", plan.bind)
	}
	relayIP := net.IP(plan.advertised.AsSlice())
	gen := func() pturn.RelayAddressGenerator {
		return &pturn.RelayAddressGeneratorPortRange{RelayAddress: relayIP, Address: plan.bind.String(),
			MinPort: uint16(cfg.RelayPortMin), MaxPort: uint16(cfg.RelayPortMax)}
	}
	perm := s.permission
	ref := &refuser{allowed: func(peer net.IP) bool { return s.permission(nil, peer) }, key: s.key}

	// One UDP socket: pion keeps allocations (and RFC 5766 reservation
	// tokens) per socket, so several sockets sharing the port by
	// SO_REUSEPORT would split one client's allocations between them.
	udp, tcp, err := listenBoth(cfg.Listen, listen.String())
	if err != nil {
		return nil, err
	}
	s.closer = append(s.closer, udp.Close, tcp.Close)
	port := udp.LocalAddr().(*net.UDPAddr).Port
	fast := newFastRelays()
	fast.refuse = ref.answer
	serverConn, fastGen, stopFast, err := attachFast(fast, udp, gen())
	if err != nil {
		s.closeAll()
		return nil, fmt.Errorf("turn: udp %s: %w", cfg.Listen, err)
	}
	s.closer = append(s.closer, stopFast)
	pcs := []pturn.PacketConnConfig{{PacketConn: serverConn, RelayAddressGenerator: fastGen, PermissionHandler: perm}}
	lcs := []pturn.ListenerConfig{{Listener: &refusingListener{Listener: tcp, r: ref}, RelayAddressGenerator: gen(), PermissionHandler: perm}}
	host := cfg.Host
	if host == "" {
		host = relayIP.String()
	}
	hp := net.JoinHostPort(host, strconv.Itoa(port))
	s.stun = "stun:" + hp
	s.urls = []string{"turn:" + hp + "?transport=udp", "turn:" + hp + "?transport=tcp"}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			s.closeAll()
			return nil, fmt.Errorf("turn: certificate: %w", err)
		}
		tl, err := tls.Listen("tcp", cfg.TLSListen, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		if err != nil {
			s.closeAll()
			return nil, fmt.Errorf("turn: tls: %w", err)
		}
		s.closer = append(s.closer, tl.Close)
		lcs = append(lcs, pturn.ListenerConfig{Listener: &refusingListener{Listener: tl, r: ref}, RelayAddressGenerator: gen(), PermissionHandler: perm})
		_, tport, _ := net.SplitHostPort(tl.Addr().String())
		s.urls = append(s.urls, "turns:"+net.JoinHostPort(host, tport)+"?transport=tcp")
	}
	s.srv, err = pturn.NewServer(pturn.ServerConfig{
		Realm:             cfg.Realm,
		AuthHandler:       s.auth,
		QuotaHandler:      s.quota,
		PacketConnConfigs: pcs,
		ListenerConfigs:   lcs,
		EventHandler: pturn.EventHandler{
			OnAllocationCreated: func(_, _ net.Addr, _, user, _ string, _ net.Addr, _ int) { s.adjust(user, +1) },
			OnAllocationDeleted: func(_, _ net.Addr, _, user, _ string) { s.adjust(user, -1) },
			OnChannelCreated: func(client, _ net.Addr, protocol, _, _ string, relay, peer net.Addr, number uint16) {
				fast.channelCreated(client, protocol, relay, peer, number)
			},
			OnChannelDeleted: func(_, _ net.Addr, _, _, _ string, relay, peer net.Addr, _ uint16) { fast.channelDeleted(relay, peer) },
		},
	})
	if err != nil {
		s.closeAll()
		return nil, fmt.Errorf("turn: %w", err)
	}
	return s, nil
}

// Credentials mints a TURN REST credential for user, valid for the
// configured lifetime, with the URLs to use it on.
func (s *Server) Credentials(user string, now time.Time) []protocol.ICEServer {
	username, password := RESTCredential(s.cfg.Secret, user, now.Add(s.cfg.CredentialTTL))
	return []protocol.ICEServer{{URLs: []string{s.stun}}, {URLs: s.urls, Username: username, Credential: password}}
}

// URLs are the turn: and turns: URLs this server answers on, and its stun: URL.
func (s *Server) URLs() (turn []string, stun string) { return s.urls, s.stun }

// RESTCredential returns the username and password of the TURN REST API
// scheme for user, expiring at exp.
func RESTCredential(secret, user string, exp time.Time) (username, password string) {
	username = strconv.FormatInt(exp.Unix(), 10) + ":" + user
	return username, restPassword(secret, username)
}

func restPassword(secret, username string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// auth checks a TURN REST username: not expired, and the key is derived
// from the password the secret gives it (a wrong one fails the message
// integrity check). The user part becomes the allocation's user id.
func (s *Server) auth(ra *pturn.RequestAttributes) (string, []byte, bool) {
	exp, user, ok := splitUsername(ra.Username)
	if !ok || time.Now().Unix() > exp {
		return "", nil, false
	}
	return user, pturn.GenerateAuthKey(ra.Username, ra.Realm, restPassword(s.cfg.Secret, ra.Username)), true
}

// key is auth for the requests answered before pion (refuse.go).
func (s *Server) key(username, realm string) ([]byte, bool) {
	_, key, ok := s.auth(&pturn.RequestAttributes{Username: username, Realm: realm})
	return key, ok
}

func splitUsername(u string) (exp int64, user string, ok bool) {
	ts, user, found := strings.Cut(u, ":")
	if !found || user == "" {
		return 0, "", false
	}
	exp, err := strconv.ParseInt(ts, 10, 64)
	return exp, user, err == nil
}

// quota refuses a new allocation (486) when the user holds the maximum.
// It gets the user id auth returned (the part after the expiry).
func (s *Server) quota(user, _ string, _ net.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count[user] < s.cfg.AllocationsPerUser
}

func (s *Server) adjust(user string, d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.count[user] += d; s.count[user] <= 0 {
		delete(s.count, user)
	}
}

// permission is pion's check of a peer (package specialip); the refuser has
// answered the authenticated requests it refuses already.
func (s *Server) permission(_ net.Addr, peer net.IP) bool {
	return specialip.AllowedIP(peer, s.cfg.AllowPrivatePeers)
}

// Allocations is the number of open allocations.
func (s *Server) Allocations() int { return s.srv.AllocationCount() }

// Close stops serving and closes every allocation.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.closeAll()
	return err
}

func (s *Server) closeAll() {
	for _, c := range s.closer {
		c()
	}
	s.closer = nil
}

// ICE hands clients their ICE servers: the embedded server's (if it runs)
// and any external TURN URLs (a coturn with the same secret), all with one
// credential minted for the user.
type ICE struct {
	Server   *Server  // nil when the embedded server does not run
	Secret   string   // the TURN REST shared secret
	External []string // more turn:/turns:/stun: URLs
	TTL      time.Duration
}

// For mints the ICE servers for a user.
func (i *ICE) For(user string, now time.Time) []protocol.ICEServer {
	if i == nil {
		return nil
	}
	var out []protocol.ICEServer
	var turnURLs []string
	if i.Server != nil {
		t, stun := i.Server.URLs()
		out = append(out, protocol.ICEServer{URLs: []string{stun}})
		turnURLs = append(turnURLs, t...)
	}
	var stuns []string
	for _, u := range i.External {
		if strings.HasPrefix(u, "stun:") {
			stuns = append(stuns, u)
		} else {
			turnURLs = append(turnURLs, u)
		}
	}
	if len(stuns) > 0 {
		out = append(out, protocol.ICEServer{URLs: stuns})
	}
	if len(turnURLs) > 0 {
		username, password := RESTCredential(i.Secret, user, now.Add(i.TTL))
		out = append(out, protocol.ICEServer{URLs: turnURLs, Username: username, Credential: password})
	}
	return out
}

package e2e

import (
	"context"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// coturn's own client, turnutils_uclient (Debian's coturn package, which
// `make deps` installs), relays through the embedded TURN server started as
// an operator would: --turn-listen on one address, no --turn-public-ip.
// Pairs of clients allocate, bind channels to each other's relay address
// and send; what each sends must come back through the relays. (The relay
// address given was the host's first non-loopback IPv4 while the relays
// listened on 127.0.0.1: every packet was lost.)
func TestCoturnClientRelaysThroughEmbeddedTURN(t *testing.T) {
	uclient, err := exec.LookPath("turnutils_uclient")
	if err != nil {
		t.Fatal("turnutils_uclient is missing: install coturn (apt-get install coturn), or run make deps")
	}
	const secret = "e2e-turn-secret-0123456789"
	port := freeUDPAndTCPPort(t)
	start(t, t.TempDir(), "--turn-listen", "127.0.0.1:"+port, "--turn-secret", secret, "--turn-allow-private-peers")
	for _, transport := range []struct{ name, flag string }{{"udp", ""}, {"tcp", "-t"}} {
		t.Run(transport.name, func(t *testing.T) {
			args := []string{"-y", "-m", "2", "-n", "100", "-l", "200", "-z", "5", "-W", secret, "-u", "e2e", "-p", port}
			if transport.flag != "" {
				args = append(args, transport.flag)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a guard against a hang only
			defer cancel()
			out, err := exec.CommandContext(ctx, uclient, append(args, "127.0.0.1")...).CombinedOutput()
			if err != nil {
				t.Fatalf("turnutils_uclient: %v\n%s", err, out)
			}
			sent, recv, lost, ok := uclientFigures(string(out))
			if !ok {
				t.Fatalf("turnutils_uclient printed no figures:\n%s", out)
			}
			t.Logf("turnutils_uclient %v: sent %d, received %d, lost %d", args, sent, recv, lost)
			// Loopback loses nothing; a datagram in a hundred is the margin
			// for a machine under load. The bug lost them all.
			if sent == 0 || recv == 0 || lost*100 > sent {
				t.Fatalf("sent %d, received %d, lost %d through the relays:\n%s", sent, recv, lost, out)
			}
		})
	}
}

// turnutils_uclient asking for a channel to a special-purpose peer is told
// 403 Forbidden, as coturn tells it, not 401 (a wrong password to it).
func TestCoturnClientIsRefusedSpecialPurposePeersWith403(t *testing.T) {
	uclient, err := exec.LookPath("turnutils_uclient")
	if err != nil {
		t.Fatal("turnutils_uclient is missing: install coturn (apt-get install coturn), or run make deps")
	}
	const secret = "e2e-turn-secret-0123456789"
	port := freeUDPAndTCPPort(t)
	start(t, t.TempDir(), "--turn-listen", "127.0.0.1:"+port, "--turn-secret", secret)
	for i, peer := range []string{"10.0.0.1", "100.64.0.1", "198.18.0.1"} {
		for _, transport := range []string{"", "-t"} {
			// A user each: a refused client leaves its allocations to expire,
			// and a user holds ten at most.
			user := "e2e-" + strconv.Itoa(i) + transport
			args := []string{"-c", "-e", peer, "-r", "9", "-n", "1", "-m", "1", "-W", secret, "-u", user, "-p", port}
			if transport != "" {
				args = append(args, transport)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a guard against a hang only
			out, _ := exec.CommandContext(ctx, uclient, append(args, "127.0.0.1")...).CombinedOutput()
			cancel()
			if !strings.Contains(string(out), "channel bind: error 403") || strings.Contains(string(out), "error 401") {
				t.Errorf("turnutils_uclient %v: want channel bind: error 403, got:\n%s", args, out)
			}
		}
	}
}

var (
	uclientTotals = regexp.MustCompile(`tot_send_msgs=(\d+), tot_recv_msgs=(\d+)`)
	uclientLost   = regexp.MustCompile(`Total lost packets (\d+) \(`)
)

// uclientFigures are the totals turnutils_uclient prints last.
func uclientFigures(out string) (sent, recv, lost int, ok bool) {
	totals, losts := uclientTotals.FindAllStringSubmatch(out, -1), uclientLost.FindAllStringSubmatch(out, -1)
	if len(totals) == 0 || len(losts) == 0 {
		return 0, 0, 0, false
	}
	last := totals[len(totals)-1]
	sent, _ = strconv.Atoi(last[1])
	recv, _ = strconv.Atoi(last[2])
	lost, _ = strconv.Atoi(losts[len(losts)-1][1])
	return sent, recv, lost, true
}

// freeUDPAndTCPPort is a loopback port free for both UDP and TCP now.
func freeUDPAndTCPPort(t *testing.T) string {
	t.Helper()
	for range 50 {
		u, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := strconv.Itoa(u.LocalAddr().(*net.UDPAddr).Port)
		l, err := net.Listen("tcp4", "127.0.0.1:"+port)
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return ""
}

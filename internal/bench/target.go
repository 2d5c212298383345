package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/parley-chat/parley/internal/app"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/config"
	"github.com/parley-chat/parley/protocol"
)

// target is the server under test: a child process this tool started, an
// already running server, or (for profiling only) one in this process.
type target struct {
	base      string // http://127.0.0.1:PORT
	wsURL     string // ws://127.0.0.1:PORT/ws
	secret    []byte
	accountID string
	apiKey    string    // "" when unknown: groups are then created over WebSocket
	pid       int       // 0: CPU and RSS are not measured
	mode      string    // "spawned", "remote", "in-process"
	more      []*target // the other nodes of a cluster measured together (remote only)

	cmd     *exec.Cmd
	exited  chan error
	dataDir string
	logPath string
	stop    func() error // in-process
}

// serverFlags are the settings the benchmark runs the server with: no
// per-IP/per-account connection caps, since one loopback address carries
// every simulated user, and no effective request budget unless
// withBudget, when the default budgets apply (the abuse scenario).
func serverFlags(addr, dataDir, secret string, withBudget bool) []string {
	f := []string{
		"--addr", addr, "--data-dir", dataDir, "--secret", secret,
		"--conns-per-ip", "0", "--conns-per-account", "0",
		"--log-level", "warn", "--turn-listen", "127.0.0.1:0", "--sfu-udp-addr", "127.0.0.1:0", // no port clash with other servers
	}
	if !withBudget {
		f = append(f, "--messages-per-second", "1000000", "--messages-burst", "1000000", "--account-budget-per-second", "0")
	}
	return f
}

// raiseNoFile lifts this process's soft RLIMIT_NOFILE to the hard limit;
// a spawned server inherits it.
func raiseNoFile() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			return 0, err
		}
	}
	return r.Cur, nil
}

// prepareDataDir creates a fresh data directory holding one account and its
// API key, as `parley account create` would.
func prepareDataDir(ctx context.Context) (dir, accountID, apiKey string, err error) {
	dir, err = os.MkdirTemp("", "parley-bench-")
	if err != nil {
		return "", "", "", err
	}
	cfg := config.Default()
	cfg.DataDir = dir
	st, err := app.OpenStore(ctx, cfg)
	if err != nil {
		os.RemoveAll(dir)
		return "", "", "", err
	}
	acc, key, err := auth.CreateAccount(ctx, st, "bench", time.Now())
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", "", "", err
	}
	return dir, acc.ID, key, nil
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// spawnServer starts `BIN serve …` (or `BIN bench server …` with
// profileDir, which can profile on SIGUSR1/SIGUSR2) on a free loopback port.
func spawnServer(ctx context.Context, bin, profileDir string, withBudget bool, log io.Writer) (*target, error) {
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		bin = exe
	}
	if _, err := raiseNoFile(); err != nil {
		fmt.Fprintln(log, "bench: could not raise RLIMIT_NOFILE:", err)
	}
	dir, acct, key, err := prepareDataDir(ctx)
	if err != nil {
		return nil, fmt.Errorf("preparing data directory: %w", err)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	secret := auth.NewSecret(32)
	args := []string{"serve"}
	if profileDir != "" {
		args = []string{"bench", "server", "--profile-dir", profileDir}
	}
	args = append(args, serverFlags(addr, dir, secret, withBudget)...)
	t := &target{
		base: "http://" + addr, wsURL: "ws://" + addr + "/ws", secret: []byte(secret),
		accountID: acct, apiKey: key, mode: "spawned", dataDir: dir,
		logPath: filepath.Join(dir, "server.log"), exited: make(chan error, 1),
	}
	lf, err := os.Create(t.logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	t.cmd = exec.Command(bin, args...)
	t.cmd.Stdout, t.cmd.Stderr = lf, lf
	t.cmd.Env = cleanEnv()
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := t.cmd.Start(); err != nil {
		lf.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	go func() { t.exited <- t.cmd.Wait(); lf.Close() }()
	t.pid = t.cmd.Process.Pid
	if err := t.waitHealthy(ctx, 30*time.Second); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// cleanEnv drops PARLEY_* variables so that only the flags configure the
// spawned server.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARLEY_") {
			env = append(env, kv)
		}
	}
	return env
}

// remoteTarget measures a server someone else started.
func remoteTarget(ctx context.Context, rawURL, secret, account, apiKey string, pid int) (*target, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url must be http://host:port, not %q", rawURL)
	}
	if !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("--url %s is not a loopback address: this tool only talks to loopback", rawURL)
	}
	ws := "ws://"
	if u.Scheme == "https" {
		ws = "wss://"
	}
	t := &target{
		base: strings.TrimRight(u.Scheme+"://"+u.Host, "/"), wsURL: ws + u.Host + "/ws",
		secret: []byte(secret), accountID: account, apiKey: apiKey, pid: pid, mode: "remote",
	}
	if err := t.waitHealthy(ctx, 10*time.Second); err != nil {
		return nil, err
	}
	return t, nil
}

// remoteTargets is remoteTarget for a comma-separated list of nodes of
// one cluster (one secret and account); pids, if given, has one per node.
func remoteTargets(ctx context.Context, urls, secret, account, apiKey, pids string) (*target, error) {
	us := strings.Split(urls, ",")
	var ps []int
	if pids != "" {
		for _, p := range strings.Split(pids, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil {
				return nil, fmt.Errorf("--server-pid %q: %v", pids, err)
			}
			ps = append(ps, pid)
		}
		if len(ps) != len(us) {
			return nil, fmt.Errorf("--server-pid has %d pids for %d --url nodes", len(ps), len(us))
		}
	}
	var first *target
	for i, u := range us {
		pid := 0
		if ps != nil {
			pid = ps[i]
		}
		t, err := remoteTarget(ctx, strings.TrimSpace(u), secret, account, apiKey, pid)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = t
		} else {
			first.more = append(first.more, t)
		}
	}
	return first, nil
}

// nodes is t and the other nodes measured with it.
func (t *target) nodes() []*target { return append([]*target{t}, t.more...) }

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// inProcessTarget runs the server inside this process (app.New + Serve).
// CPU and RSS then include the load generator: only for profiles.
func inProcessTarget(ctx context.Context) (*target, error) {
	if _, err := raiseNoFile(); err != nil {
		return nil, err
	}
	dir, acct, key, err := prepareDataDir(ctx)
	if err != nil {
		return nil, err
	}
	secret := auth.NewSecret(32)
	cfg, _, err := config.Load(serverFlags("127.0.0.1:0", dir, secret, false), nil)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(sctx, cfg, log)
	if err != nil {
		cancel()
		os.RemoveAll(dir)
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		os.RemoveAll(dir)
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(sctx, ln) }()
	addr := ln.Addr().String()
	t := &target{
		base: "http://" + addr, wsURL: "ws://" + addr + "/ws", secret: []byte(secret),
		accountID: acct, apiKey: key, pid: os.Getpid(), mode: "in-process", dataDir: dir,
	}
	t.stop = func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("in-process server did not stop")
		}
	}
	if err := t.waitHealthy(ctx, 10*time.Second); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

func (t *target) waitHealthy(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		if t.exited != nil {
			select {
			case err := <-t.exited:
				t.exited <- err
				return fmt.Errorf("server exited: %v%s", err, t.logTail())
			default:
			}
		}
		if _, err := t.healthz(ctx); err == nil {
			return nil
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("server not healthy after %s: %v%s", within, last, t.logTail())
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// healthz returns the server's count of open WebSocket connections (of
// every node, for a cluster).
func (t *target) healthz(ctx context.Context) (int, error) {
	sum := 0
	for _, n := range t.nodes() {
		c, err := n.healthzOne(ctx)
		if err != nil {
			return 0, err
		}
		sum += c
	}
	return sum, nil
}

func (t *target) healthzOne(ctx context.Context) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.base+"/healthz", nil)
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var h struct {
		Status      string `json:"status"`
		Connections int    `json:"connections"`
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("healthz: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return 0, err
	}
	return h.Connections, nil
}

func (t *target) logTail() string {
	if t.logPath == "" {
		return ""
	}
	b, err := os.ReadFile(t.logPath)
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "\nserver log:\n" + string(b)
}

// token mints an access token for user name in the benchmark account.
func (t *target) token(name string) (string, error) {
	return auth.Mint(auth.ServerKeyID, t.secret, auth.MintRequest{
		AccountID: t.accountID, User: name, Role: protocol.RoleMember, TTL: 12 * time.Hour,
	}, time.Now())
}

// createGroup creates a group naming members (user names) through
// POST /api/v1/conversations with the account's API key, and returns its id.
func (t *target) createGroup(ctx context.Context, name string, members []string) (string, error) {
	body, _ := json.Marshal(protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: name, Members: members})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, t.base+"/api/v1/conversations", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+t.apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("POST /api/v1/conversations: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return conversationID(b)
}

// conversationID finds the id in a Conversation, bare or wrapped in
// {"conversation": …} or {"data": …}.
func conversationID(b []byte) (string, error) {
	var v struct {
		ID           string          `json:"id"`
		Conversation json.RawMessage `json:"conversation"`
		Data         json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return "", fmt.Errorf("conversation reply: %w", err)
	}
	switch {
	case v.ID != "":
		return v.ID, nil
	case len(v.Conversation) > 0:
		return conversationID(v.Conversation)
	case len(v.Data) > 0:
		return conversationID(v.Data)
	}
	return "", fmt.Errorf("conversation reply has no id: %.200s", b)
}

// Close stops a server this tool started (SIGTERM, then SIGKILL after 20 s)
// and removes its data directory.
func (t *target) Close() error {
	var err error
	switch {
	case t.cmd != nil:
		t.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err = <-t.exited:
			t.exited <- err
		case <-time.After(20 * time.Second):
			t.cmd.Process.Kill()
			err = <-t.exited
			t.exited <- err
			err = fmt.Errorf("server did not stop within 20s of SIGTERM")
		}
	case t.stop != nil:
		err = t.stop()
		t.stop = nil
	}
	if t.dataDir != "" {
		os.RemoveAll(t.dataDir)
		t.dataDir = ""
	}
	return err
}

// --- process statistics ---

// procStat is a process's resident memory and CPU time, from /proc.
type procStat struct {
	RSSKiB int64
	CPU    time.Duration
}

// clkTck is USER_HZ, 100 on every Linux this runs on.
const clkTck = 100

func readProcStat(pid int) (procStat, error) {
	var ps procStat
	if pid <= 0 {
		return ps, errors.New("no server pid")
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps, err
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fs := strings.Fields(rest)
			if len(fs) > 0 {
				ps.RSSKiB, _ = strconv.ParseInt(fs[0], 10, 64)
			}
		}
	}
	f.Close()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps, err
	}
	// Fields after the ")" that ends comm: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ps, errors.New("malformed /proc/pid/stat")
	}
	fs := strings.Fields(string(b[i+1:]))
	if len(fs) < 13 {
		return ps, errors.New("short /proc/pid/stat")
	}
	ut, _ := strconv.ParseInt(fs[11], 10, 64)
	st, _ := strconv.ParseInt(fs[12], 10, 64)
	ps.CPU = time.Duration(ut+st) * time.Second / clkTck
	return ps, nil
}

// stat reads the target's statistics (summed over the nodes of a
// cluster); ok is false when they are unknown.
func (t *target) stat() (procStat, bool) {
	var sum procStat
	for _, n := range t.nodes() {
		ps, err := readProcStat(n.pid)
		if err != nil {
			return sum, false
		}
		sum.RSSKiB += ps.RSSKiB
		sum.CPU += ps.CPU
	}
	return sum, true
}

// --- profiling ---

// profiler takes a CPU profile of the server over one scenario's measured
// phase: in-process directly, or in a spawned `bench server` child by
// signals (SIGUSR1 starts, SIGUSR2 stops).
type profiler struct {
	t   *target
	dir string
	f   *os.File
}

func (p *profiler) start(name string) {
	if p == nil || p.dir == "" {
		return
	}
	switch p.t.mode {
	case "in-process":
		f, err := os.Create(filepath.Join(p.dir, "cpu-"+name+".prof"))
		if err != nil {
			return
		}
		if pprof.StartCPUProfile(f) != nil {
			f.Close()
			return
		}
		p.f = f
	case "spawned":
		os.Remove(filepath.Join(p.dir, "cpu.prof"))
		p.t.cmd.Process.Signal(syscall.SIGUSR1)
	}
}

func (p *profiler) stop(name string) string {
	if p == nil || p.dir == "" {
		return ""
	}
	out := filepath.Join(p.dir, "cpu-"+name+".prof")
	switch p.t.mode {
	case "in-process":
		if p.f == nil {
			return ""
		}
		pprof.StopCPUProfile()
		p.f.Close()
		p.f = nil
		return out
	case "spawned":
		p.t.cmd.Process.Signal(syscall.SIGUSR2)
		// The child writes cpu.prof and then renames it to cpu.done.
		done := filepath.Join(p.dir, "cpu.done")
		for i := 0; i < 100; i++ {
			if _, err := os.Stat(done); err == nil {
				if os.Rename(done, out) == nil {
					return out
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return ""
}

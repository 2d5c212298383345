// Package bench is "parley bench": load tools that measure a running
// server with the Go client, from a separate process.
//
// "parley bench chat" starts a server as a child process (or measures one
// given with --url), drives it over loopback with real WebSocket
// connections, and reads the server's memory and CPU time from /proc. See
// BENCHMARKS.md for the scenarios, the figures and how they were taken.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Main runs "parley bench SUBCOMMAND".
func Main(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: parley bench chat [flags]")
	}
	switch args[0] {
	case "chat":
		return chatMain(args[1:], stdout, stderr)
	case "server":
		return serverMain(args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown benchmark %q (try: parley bench chat --help)", args[0])
}

var allScenarios = []string{"idle", "fanout", "latency", "durable", "abuse"}

// defaultScenarios are what runs without --scenarios; abuse starts servers
// of its own and is asked for by name.
var defaultScenarios = []string{"idle", "fanout", "latency", "durable"}

type options struct {
	scenarios []string

	idleConns       int
	dialConcurrency int
	dialTimeout     time.Duration
	settle          time.Duration

	members  int
	messages int
	window   int
	timeout  time.Duration

	rate     float64
	duration time.Duration

	durableConns    int
	durableWindow   int
	durableDuration time.Duration

	abuseMembers  int
	abuseSenders  int
	abuseConns    int
	abuseDuration time.Duration
	abuseBudget   bool

	runs     int
	json     bool
	markdown bool
	quiet    bool

	url, secret, account, apiKey string
	serverPIDs                   string
	serverBin                    string
	inProcess                    bool
	profileDir                   string
	connKind                     string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("parley bench chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scen := fs.String("scenarios", strings.Join(defaultScenarios, ","), "comma-separated scenarios: idle, fanout, latency, durable, abuse")
	fs.IntVar(&o.idleConns, "idle-conns", 19000, "idle: authenticated connections to hold open")
	fs.IntVar(&o.dialConcurrency, "dial-concurrency", 200, "connections being dialled at once")
	fs.DurationVar(&o.dialTimeout, "dial-timeout", 30*time.Second, "limit for one dial and its authentication")
	fs.DurationVar(&o.settle, "settle", 5*time.Second, "idle: wait after the last connection before reading RSS")
	fs.IntVar(&o.members, "members", 1000, "fanout/latency: connected members of the group (max 1000)")
	fs.IntVar(&o.messages, "messages", 2000, "fanout: messages the sender sends")
	fs.IntVar(&o.window, "window", 128, "fanout: chat:send requests in flight at once")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "fanout: limit for the sends and for the deliveries each")
	fs.Float64Var(&o.rate, "rate", 10, "latency: messages per second the sender sends")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "latency: how long the sender sends")
	// A server handles one request of a connection at a time (requests are
	// answered in the order sent), so the sends it works on at once, and
	// the batches its store can commit, are the connections: a few with a
	// deep window measure the generator, not the server.
	fs.IntVar(&o.durableConns, "durable-conns", 1024, "durable: connections, each sending into its own group (the server works on one request per connection at a time)")
	fs.IntVar(&o.durableWindow, "durable-window", 1, "durable: sends in flight per connection (more wait in the socket while the server handles one, and their ack time counts that wait)")
	fs.DurationVar(&o.durableDuration, "durable-duration", 10*time.Second, "durable: how long to send")
	fs.IntVar(&o.abuseMembers, "abuse-members", 300, "abuse: members of the group (max 1000)")
	fs.IntVar(&o.abuseSenders, "abuse-senders", 10, "abuse: members who chat, one message a second each")
	fs.IntVar(&o.abuseConns, "abuse-conns", 4, "abuse: connections of the abusive member, each flooding 4 KB edits")
	fs.DurationVar(&o.abuseDuration, "abuse-duration", 20*time.Second, "abuse: how long each phase (without, then with the abuser) lasts")
	fs.BoolVar(&o.abuseBudget, "abuse-budget", true, "abuse: run the server with the default request budget (false: effectively none, as before the budget)")
	fs.IntVar(&o.runs, "runs", 1, "repeat every scenario this many times (a fresh server each time when spawning); the summary gives medians")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON on stdout (progress goes to stderr)")
	fs.BoolVar(&o.markdown, "markdown", false, "also print the summary as a Markdown table for BENCHMARKS.md")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines")
	fs.StringVar(&o.url, "url", "", "measure this running server (http://127.0.0.1:PORT) instead of starting one; needs --secret and --account. Several nodes of one cluster: a comma-separated list; members are spread over them in turn, senders are on the first")
	fs.StringVar(&o.secret, "secret", "", "with --url: the server's token secret")
	fs.StringVar(&o.account, "account", "", "with --url: account id to use")
	fs.StringVar(&o.apiKey, "api-key", "", "with --url: the account's API key (groups are then created over REST; without it, over WebSocket)")
	fs.StringVar(&o.serverPIDs, "server-pid", "", "with --url: the server's pid, to read its RSS and CPU time from /proc (several nodes: one pid per --url, comma-separated; figures are their sums)")
	fs.StringVar(&o.serverBin, "server-bin", "", "parley binary to start (default: this executable)")
	fs.BoolVar(&o.inProcess, "inprocess", false, "run the server inside this process (for --profile-dir only: CPU and RSS then include the load generator)")
	fs.StringVar(&o.profileDir, "profile-dir", "", "write a CPU profile of the server per scenario (cpu-SCENARIO.prof) into this directory; a spawned server is started as 'parley bench server'")
	fs.StringVar(&o.connKind, "conn", "client", "WebSocket client for the load side: client (package client) or raw (gobwas/ws, minimal)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: parley bench chat [flags]\n\nMeasures a Parley server from a separate process over loopback. Flags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, s := range strings.Split(*scen, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(allScenarios, s) {
			return nil, fmt.Errorf("unknown scenario %q (have %s)", s, strings.Join(allScenarios, ", "))
		}
		o.scenarios = append(o.scenarios, s)
	}
	switch {
	case len(o.scenarios) == 0:
		return nil, errors.New("no scenario to run")
	case o.url != "" && (o.secret == "" || o.account == ""):
		return nil, errors.New("--url needs --secret and --account")
	case o.url != "" && o.inProcess:
		return nil, errors.New("--url and --inprocess exclude each other")
	case o.url != "" && o.profileDir != "":
		return nil, errors.New("--profile-dir needs a server this tool starts")
	case o.members < 1 || o.members > 1000:
		return nil, errors.New("--members must be 1 to 1000 (the most a group is created with)")
	case o.abuseMembers < o.abuseSenders+2 || o.abuseMembers > 1000 || o.abuseSenders < 1 || o.abuseConns < 1 || o.abuseDuration <= 0:
		return nil, errors.New("--abuse-members must be 1000 at most and exceed --abuse-senders by 2; counts and --abuse-duration positive")
	case o.idleConns < 1 || o.messages < 1 || o.window < 1 || o.rate <= 0 || o.durableConns < 1 || o.durableWindow < 1 || o.runs < 1:
		return nil, errors.New("counts, windows, --rate and --runs must be positive")
	case o.connKind != "client" && o.connKind != "raw":
		return nil, errors.New("--conn must be client or raw")
	}
	return o, nil
}

// report is what --json prints.
type report struct {
	Machine  machine   `json:"machine"`
	Command  string    `json:"command"`
	Server   string    `json:"server"`
	Results  []result  `json:"results"`
	Summary  []summary `json:"summary"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
}

func chatMain(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	out := stdout
	if o.json {
		out = stderr
	}
	progress := func(format string, a ...any) {
		if !o.quiet {
			fmt.Fprintf(stderr, "bench: "+format+"\n", a...)
		}
	}
	rep := report{Machine: describeMachine(), Command: commandLine(), Started: time.Now()}
	fmt.Fprint(out, rep.Machine.String())
	fmt.Fprintf(out, "command: %s\n", rep.Command)
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o750); err != nil {
			return err
		}
	}
	var remote *target
	if o.url != "" {
		if remote, err = remoteTargets(ctx, o.url, o.secret, o.account, o.apiKey, o.serverPIDs); err != nil {
			return err
		}
	}
	var failures []string
	for run := 1; run <= o.runs && ctx.Err() == nil; run++ {
		t := remote
		if t == nil {
			if o.inProcess {
				t, err = inProcessTarget(ctx)
			} else {
				t, err = spawnServer(ctx, o.serverBin, o.profileDir, false, stderr)
			}
			if err != nil {
				return fmt.Errorf("starting the server: %w", err)
			}
		}
		rep.Server = fmt.Sprintf("%s server at %s (pid %d)", t.mode, t.base, t.pid)
		if len(t.more) > 0 {
			rep.Server = fmt.Sprintf("%d %s nodes at %s (pids %s)", len(t.more)+1, t.mode, o.url, o.serverPIDs)
		}
		if run == 1 {
			fmt.Fprintln(out, "server:", rep.Server)
			if t.mode == "in-process" {
				fmt.Fprintln(out, "NOTE: in-process server: CPU and RSS include the load generator; for profiles, not headline figures")
			}
		}
		e := &env{t: t, o: o, run: run, logf: progress}
		if o.profileDir != "" {
			e.prof = &profiler{t: t, dir: o.profileDir}
			if o.runs > 1 {
				e.prof.dir = fmt.Sprintf("%s/run%d", o.profileDir, run)
				os.MkdirAll(e.prof.dir, 0o750)
			}
		}
		for _, node := range t.nodes() {
			d, err := newDialer(o.connKind, node.wsURL)
			if err != nil {
				t.Close()
				return err
			}
			e.dials = append(e.dials, d)
		}
		e.dial = e.dials[0]
		for _, s := range o.scenarios {
			if ctx.Err() != nil {
				break
			}
			progress("run %d/%d: %s", run, o.runs, s)
			// Start each scenario with the load generator's heap clean, so
			// garbage from the one before (19,000 sockets' buffers) does
			// not cost CPU during this one.
			runtime.GC()
			debug.FreeOSMemory()
			var r result
			switch s {
			case "idle":
				r = runIdle(ctx, e)
			case "fanout":
				r = runFanout(ctx, e)
			case "latency":
				r = runLatency(ctx, e)
			case "durable":
				r = runDurable(ctx, e)
			case "abuse":
				r = runAbuse(ctx, e)
			}
			r.Run = run
			rep.Results = append(rep.Results, r)
			fmt.Fprintln(out, r.line())
			if r.Err != "" {
				failures = append(failures, fmt.Sprintf("%s (run %d): %s", s, run, r.Err))
			}
		}
		if t != remote {
			if err := t.Close(); err != nil {
				progress("stopping the server: %v", err)
			}
		}
	}
	rep.Finished = time.Now()
	rep.Summary = summarize(rep.Results)
	fmt.Fprint(out, summaryText(rep.Summary, o.runs))
	if o.markdown {
		fmt.Fprint(out, "\n"+summaryMarkdown(rep.Summary, o.runs))
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d scenario run(s) failed: %s", len(failures), strings.Join(failures, "; "))
	}
	return nil
}

// commandLine is how this tool was invoked, for the report.
func commandLine() string {
	var b strings.Builder
	secretNext := false
	for i, a := range os.Args {
		if i > 0 {
			b.WriteByte(' ')
		}
		// Secrets stay out of reports.
		switch {
		case secretNext:
			a, secretNext = "REDACTED", false
		case a == "--secret" || a == "-secret" || a == "--api-key" || a == "-api-key":
			secretNext = true
		case strings.HasPrefix(a, "--secret=") || strings.HasPrefix(a, "--api-key="):
			a = a[:strings.IndexByte(a, '=')+1] + "REDACTED"
		}
		if a == "" || strings.ContainsAny(a, " \t'\"$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		b.WriteString(a)
	}
	return b.String()
}

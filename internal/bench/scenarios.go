package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/protocol"
)

// env is what every scenario gets.
type env struct {
	t     *target
	dial  dialer   // to the first node
	dials []dialer // to each node (dials[0] is dial)
	o     *options
	run   int // 1-based run number, for unique names
	prof  *profiler
	logf  func(format string, args ...any)
}

// metric is one figure of a scenario. Goal is "<=" or ">=" when Target is set.
type metric struct {
	Name   string  `json:"name"`
	Unit   string  `json:"unit"`
	Value  float64 `json:"value"`
	Target float64 `json:"target,omitempty"`
	Goal   string  `json:"goal,omitempty"`
}

type result struct {
	Scenario string   `json:"scenario"`
	Run      int      `json:"run"`
	Metrics  []metric `json:"metrics"`
	Notes    []string `json:"notes,omitempty"`
	Profile  string   `json:"profile,omitempty"`
	Err      string   `json:"error,omitempty"`
}

func (r *result) add(name, unit string, v float64) *metric {
	r.Metrics = append(r.Metrics, metric{Name: name, Unit: unit, Value: v})
	return &r.Metrics[len(r.Metrics)-1]
}

func (r *result) addTarget(name, unit string, v float64, goal string, target float64) {
	r.Metrics = append(r.Metrics, metric{Name: name, Unit: unit, Value: v, Goal: goal, Target: target})
}

func (r *result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// Targets (see DESIGN.md, "Performance notes").
const (
	targetIdleKiB      = 10
	targetDeliveries   = 640_000
	targetLatencyP99ms = 10
	targetDurable      = 20_000
)

// dialFor is the dialer of the i-th connection of a batch: the nodes in
// turn, so that a group's members are spread over every node.
func (e *env) dialFor(i int) dialer {
	if len(e.dials) < 2 {
		return e.dial
	}
	return e.dials[i%len(e.dials)]
}

// dialMany opens n connections for users names[i], at most conc dials at a
// time. Failed dials leave nil entries; the count of failures and the first
// error are returned.
func dialMany(ctx context.Context, e *env, names []string, conc int, onFrame func(i int) func([]byte)) ([]conn, int, error) {
	conns := make([]conn, len(names))
	sem := make(chan struct{}, max(conc, 1))
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr error
	var once sync.Once
	for i, name := range names {
		if ctx.Err() != nil {
			failed.Add(int64(len(names) - i))
			once.Do(func() { firstErr = ctx.Err() })
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			tok, err := e.t.token(name)
			if err == nil {
				dctx, cancel := context.WithTimeout(ctx, e.o.dialTimeout)
				var f func([]byte)
				if onFrame != nil {
					f = onFrame(i)
				}
				conns[i], err = e.dialFor(i)(dctx, tok, f)
				cancel()
			}
			if err != nil {
				failed.Add(1)
				once.Do(func() { firstErr = wrapDial(i, err) })
			}
		}()
	}
	wg.Wait()
	return conns, int(failed.Load()), firstErr
}

func closeAll(conns []conn, conc int) {
	sem := make(chan struct{}, max(conc, 1))
	var wg sync.WaitGroup
	for _, c := range conns {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() { defer func() { <-sem; wg.Done() }(); c.Close() }()
	}
	wg.Wait()
}

// waitConns waits until the server reports want open connections (for
// want == 0: that all are gone), up to within.
func waitConns(ctx context.Context, t *target, want int, within time.Duration) (int, error) {
	deadline := time.Now().Add(within)
	n := -1
	for {
		var err error
		n, err = t.healthz(ctx)
		if err == nil && ((want == 0 && n == 0) || (want > 0 && n >= want)) {
			return n, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return n, fmt.Errorf("server reports %d connections, waited for %d", n, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func userNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = prefix + strconv.Itoa(i+1)
	}
	return names
}

// --- 1. idle ---

func runIdle(ctx context.Context, e *env) (res result) {
	res.Scenario = "idle"
	n := e.o.idleConns
	// Warm up: the first connection loads code paths, pools and caches.
	warm, _, err := dialMany(ctx, e, []string{"idle-warm"}, 1, nil)
	if err != nil {
		res.Err = "warm-up: " + errString(err)
		return res
	}
	closeAll(warm, 1)
	waitConns(ctx, e.t, 0, 10*time.Second)
	time.Sleep(time.Second)
	before, ok := e.t.stat()
	if !ok {
		res.note("server RSS unknown (no --server-pid): only connection counts are reported")
	}
	start := time.Now()
	conns, failed, err := dialMany(ctx, e, userNames("idle-", n), e.o.dialConcurrency, nil)
	defer func() {
		closeAll(conns, e.o.dialConcurrency)
		if _, err := waitConns(context.Background(), e.t, 0, 60*time.Second); err != nil {
			res.note("after closing: %v", err)
		}
	}()
	dialTime := time.Since(start)
	open := n - failed
	if err != nil {
		res.note("%d of %d dials failed; first: %s", failed, n, errString(err))
	}
	if open == 0 {
		res.Err = "no connection opened"
		return res
	}
	if got, err := waitConns(ctx, e.t, open, 30*time.Second); err != nil {
		res.note("server counts %d connections: %v", got, err)
	}
	e.logf("idle: %d connections open in %s; settling %s", open, dialTime.Round(time.Millisecond), e.o.settle)
	time.Sleep(e.o.settle)
	after, _ := e.t.stat()
	res.add("connections", "", float64(open))
	res.add("connect rate", "conn/s", float64(open)/dialTime.Seconds())
	if ok {
		per := float64(after.RSSKiB-before.RSSKiB) / float64(open)
		res.addTarget("memory per connection", "KiB", per, "<=", targetIdleKiB)
		res.add("server RSS before", "MiB", float64(before.RSSKiB)/1024)
		res.add("server RSS after", "MiB", float64(after.RSSKiB)/1024)
		res.add("server CPU to accept", "s", (after.CPU - before.CPU).Seconds())
	}
	return res
}

// --- groups of receivers (fan-out and latency) ---

// receiver counts the chat:message frames one connection gets, from the
// raw frame: no JSON decoding.
type receiver struct {
	want    int64 // messages expected
	msgs    atomic.Int64
	last    atomic.Int64 // unix nanos of the latest delivery
	gotConv atomic.Bool
	latency bool

	mu  sync.Mutex
	lat []int64 // delivery latencies, ns (latency scenario)
}

type group struct {
	id        string
	recv      []*receiver
	conns     []conn
	sender    conn
	convSeen  atomic.Int64
	doneRecv  atomic.Int64 // receivers that got all they expect
	setupTime time.Duration
}

func (g *group) onFrame(i int) func([]byte) {
	r := g.recv[i]
	return func(b []byte) {
		if frameIs(b, evMessagePrefix) {
			now := time.Now().UnixNano()
			if r.latency {
				if ts, ok := sentAt(b); ok {
					r.mu.Lock()
					r.lat = append(r.lat, now-ts)
					r.mu.Unlock()
				}
			}
			r.last.Store(now)
			if r.msgs.Add(1) == r.want {
				g.doneRecv.Add(1)
			}
			return
		}
		if frameIs(b, evConvPrefix) && r.gotConv.CompareAndSwap(false, true) {
			g.convSeen.Add(1)
		}
	}
}

// setupGroup connects members u1..uN, creates a group of them over REST,
// waits until every member connection has received chat:conversation, and
// connects the sender as a second connection of u1.
func setupGroup(ctx context.Context, e *env, name string, members int, want int64, latency bool) (*group, error) {
	start := time.Now()
	g := &group{recv: make([]*receiver, members)}
	for i := range g.recv {
		g.recv[i] = &receiver{want: want, latency: latency}
		if latency {
			g.recv[i].lat = make([]int64, 0, want)
		}
	}
	names := userNames("u", members)
	conns, failed, err := dialMany(ctx, e, names, e.o.dialConcurrency, g.onFrame)
	g.conns = conns
	if err != nil {
		g.close()
		return nil, fmt.Errorf("%d of %d member dials failed: %w", failed, members, err)
	}
	senders, _, err := dialMany(ctx, e, names[:1], 1, nil)
	if err != nil {
		g.close()
		return nil, fmt.Errorf("sender: %w", err)
	}
	g.sender = senders[0]
	if e.t.apiKey != "" {
		g.id, err = e.t.createGroup(ctx, name, names)
	} else {
		g.id, err = createGroupWS(ctx, g.sender, name, names[1:])
	}
	if err != nil {
		g.close()
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for g.convSeen.Load() < int64(members) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			n := g.convSeen.Load()
			g.close()
			return nil, fmt.Errorf("only %d of %d members received %s within 30s", n, members, protocol.EvConversation)
		}
		time.Sleep(5 * time.Millisecond)
	}
	g.setupTime = time.Since(start)
	return g, nil
}

// createGroupWS creates a group over the WebSocket (chat:create) when no API
// key is known; the caller is a member by creating it.
func createGroupWS(ctx context.Context, c conn, name string, others []string) (string, error) {
	raw, err := c.Request(ctx, protocol.EvCreate, protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: name, Members: others})
	if err != nil {
		return "", fmt.Errorf("%s: %w", protocol.EvCreate, err)
	}
	return conversationID(raw)
}

func (g *group) close() {
	all := append([]conn{g.sender}, g.conns...)
	closeAll(all, 200)
}

// waitDelivered waits until every receiver got its messages; it returns
// false at the deadline.
func (g *group) waitDelivered(ctx context.Context, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for g.doneRecv.Load() < int64(len(g.recv)) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

func (g *group) delivered() (total int64, lastAt int64) {
	for _, r := range g.recv {
		total += r.msgs.Load()
		lastAt = max(lastAt, r.last.Load())
	}
	return total, lastAt
}

// --- 2. fan-out ---

func runFanout(ctx context.Context, e *env) (res result) {
	res.Scenario = "fanout"
	members, msgs := e.o.members, e.o.messages
	g, err := setupGroup(ctx, e, fmt.Sprintf("fanout %d", e.run), members, int64(msgs), false)
	if err != nil {
		res.Err = errString(err)
		return res
	}
	defer g.close()
	e.logf("fanout: %d members ready in %s; sending %d messages, window %d", members, g.setupTime.Round(time.Millisecond), msgs, e.o.window)
	text := "fan-out benchmark message, about as long as a short chat line"
	before, haveCPU := e.t.stat()
	self0, _ := readProcStat(os.Getpid())
	e.prof.start("fanout")
	start := time.Now()
	reqCtx, cancel := context.WithTimeout(ctx, e.o.timeout)
	defer cancel()
	prefix := "f" + strconv.Itoa(e.run) + "-"
	acked, sendErr := pipeline(reqCtx, e.o.window, msgs, func(ctx context.Context, i int) error {
		_, err := g.sender.Request(ctx, protocol.EvSend, protocol.SendRequest{
			ConversationID: g.id, ClientID: clientID(prefix, i), Text: text,
		})
		return err
	})
	ackTime := time.Since(start)
	complete := g.waitDelivered(ctx, e.o.timeout)
	res.Profile = e.prof.stop("fanout")
	after, _ := e.t.stat()
	self1, _ := readProcStat(os.Getpid())
	total, lastAt := g.delivered()
	want := int64(members) * int64(msgs)
	elapsed := time.Duration(lastAt - start.UnixNano())
	if sendErr != nil {
		res.note("%d of %d sends failed; first: %s", msgs-acked, msgs, errString(sendErr))
	}
	if !complete || total != int64(members)*int64(acked) {
		res.note("delivered %d of %d expected (%d members × %d acked)", total, int64(members)*int64(acked), members, acked)
	}
	res.add("members", "", float64(members))
	res.add("messages acked", "", float64(acked))
	res.add("deliveries", "", float64(total))
	if elapsed > 0 {
		res.addTarget("deliveries/s", "1/s", float64(total)/elapsed.Seconds(), ">=", targetDeliveries)
	}
	res.add("time to all acks", "s", ackTime.Seconds())
	res.add("time to last delivery", "s", elapsed.Seconds())
	if haveCPU && total > 0 {
		cpu := (after.CPU - before.CPU).Seconds()
		res.add("server CPU", "s", cpu)
		res.add("server CPU per million deliveries", "s", cpu/float64(total)*1e6)
	}
	if e.t.pid != os.Getpid() {
		res.add("load generator CPU", "s", (self1.CPU - self0.CPU).Seconds())
	}
	if total != want {
		res.Err = fmt.Sprintf("delivered %d, want %d", total, want)
	}
	return res
}

// --- 3. latency ---

func runLatency(ctx context.Context, e *env) (res result) {
	res.Scenario = "latency"
	members := e.o.members
	n := int(e.o.rate * e.o.duration.Seconds())
	if n < 1 {
		n = 1
	}
	g, err := setupGroup(ctx, e, fmt.Sprintf("latency %d", e.run), members, int64(n), true)
	if err != nil {
		res.Err = errString(err)
		return res
	}
	defer g.close()
	e.logf("latency: %d members ready; %d messages at %.0f/s", members, n, e.o.rate)
	interval := time.Duration(float64(time.Second) / e.o.rate)
	var acks sync.WaitGroup
	var failed atomic.Int64
	var ackMu sync.Mutex
	ackLat := make([]int64, 0, n)
	before, haveCPU := e.t.stat()
	e.prof.start("latency")
	start := time.Now()
	prefix := "l" + strconv.Itoa(e.run) + "-"
	for i := 0; i < n && ctx.Err() == nil; i++ {
		// Absolute schedule: a late tick does not shift the ones after it.
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		acks.Add(1)
		go func() {
			defer acks.Done()
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			t0 := time.Now()
			_, err := g.sender.Request(rctx, protocol.EvSend, protocol.SendRequest{
				ConversationID: g.id, ClientID: clientID(prefix, i), Text: stampedText(t0),
			})
			if err != nil {
				failed.Add(1)
				return
			}
			d := time.Since(t0)
			ackMu.Lock()
			ackLat = append(ackLat, int64(d))
			ackMu.Unlock()
		}()
	}
	acks.Wait()
	complete := g.waitDelivered(ctx, 30*time.Second)
	sendTime := time.Since(start)
	res.Profile = e.prof.stop("latency")
	after, _ := e.t.stat()
	total, _ := g.delivered()
	var lat []int64
	for _, r := range g.recv {
		r.mu.Lock()
		lat = append(lat, r.lat...)
		r.mu.Unlock()
	}
	slices.Sort(lat)
	slices.Sort(ackLat)
	if f := failed.Load(); f > 0 {
		res.note("%d of %d sends failed", f, n)
	}
	if !complete {
		res.note("delivered %d of %d expected", total, int64(members)*int64(n)-failed.Load()*int64(members))
	}
	res.add("deliveries", "", float64(total))
	res.add("delivery rate", "1/s", float64(total)/sendTime.Seconds())
	if len(lat) > 0 {
		res.add("latency p50", "ms", ms(pct(lat, 50)))
		res.add("latency p90", "ms", ms(pct(lat, 90)))
		res.addTarget("latency p99", "ms", ms(pct(lat, 99)), "<=", targetLatencyP99ms)
		res.add("latency max", "ms", ms(lat[len(lat)-1]))
	}
	if len(ackLat) > 0 {
		res.add("ack p50", "ms", ms(pct(ackLat, 50)))
		res.add("ack p99", "ms", ms(pct(ackLat, 99)))
	}
	if haveCPU {
		cpu := (after.CPU - before.CPU).Seconds()
		res.add("server CPU", "% of one core", cpu/sendTime.Seconds()*100)
		if total > 0 {
			res.add("server CPU per million deliveries", "s", cpu/float64(total)*1e6)
		}
	}
	want := int64(members) * int64(n)
	if total != want {
		res.Err = fmt.Sprintf("delivered %d, want %d", total, want)
	}
	return res
}

// pct is the p-th percentile of sorted (nearest rank).
func pct(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// --- 4. durable ---

func runDurable(ctx context.Context, e *env) (res result) {
	res.Scenario = "durable"
	k := e.o.durableConns
	names := userNames("d", k)
	conns, failed, err := dialMany(ctx, e, names, e.o.dialConcurrency, nil)
	defer closeAll(conns, 200)
	if err != nil {
		res.Err = fmt.Sprintf("%d of %d dials failed: %s", failed, k, errString(err))
		return res
	}
	// One group per connection, each with that user as its only member.
	convs := make([]string, k)
	for i, name := range names {
		if e.t.apiKey != "" {
			convs[i], err = e.t.createGroup(ctx, fmt.Sprintf("durable %d-%d", e.run, i), []string{name})
		} else {
			convs[i], err = createGroupWS(ctx, conns[i], fmt.Sprintf("durable %d-%d", e.run, i), nil)
		}
		if err != nil {
			res.Err = errString(err)
			return res
		}
	}
	e.logf("durable: %d connections × window %d for %s", k, e.o.durableWindow, e.o.durableDuration)
	type worker struct {
		acked int
		err   error
		lat   []int64
	}
	workers := make([]*worker, k)
	before, haveCPU := e.t.stat()
	self0, _ := readProcStat(os.Getpid())
	e.prof.start("durable")
	start := time.Now()
	stopCtx, stop := context.WithTimeout(ctx, e.o.durableDuration)
	defer stop()
	reqCtx, cancel := context.WithTimeout(ctx, e.o.durableDuration+30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range k {
		w := &worker{lat: make([]int64, 0, 4096)}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mu sync.Mutex
			prefix := "d" + strconv.Itoa(e.run) + "-" + strconv.Itoa(i) + "-"
			w.acked, w.err = pipelineUntil(stopCtx, reqCtx, e.o.durableWindow, func(ctx context.Context, j int) error {
				t0 := time.Now()
				_, err := conns[i].Request(ctx, protocol.EvSend, protocol.SendRequest{
					ConversationID: convs[i], ClientID: clientID(prefix, j), Text: "durable benchmark message " + strconv.Itoa(j),
				})
				if err == nil {
					d := int64(time.Since(t0))
					mu.Lock()
					w.lat = append(w.lat, d)
					mu.Unlock()
				}
				return err
			})
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	res.Profile = e.prof.stop("durable")
	after, _ := e.t.stat()
	self1, _ := readProcStat(os.Getpid())
	var acked int
	var lat []int64
	var firstErr error
	for _, w := range workers {
		acked += w.acked
		lat = append(lat, w.lat...)
		if firstErr == nil {
			firstErr = w.err
		}
	}
	slices.Sort(lat)
	if firstErr != nil {
		res.note("some sends failed; first: %s", errString(firstErr))
	}
	res.add("connections", "", float64(k))
	res.add("in flight", "", float64(k*e.o.durableWindow))
	res.add("acked sends", "", float64(acked))
	res.addTarget("acked sends/s", "1/s", float64(acked)/elapsed.Seconds(), ">=", targetDurable)
	if len(lat) > 0 {
		res.add("ack p50", "ms", ms(pct(lat, 50)))
		res.add("ack p99", "ms", ms(pct(lat, 99)))
	}
	if haveCPU {
		cpu := (after.CPU - before.CPU).Seconds()
		res.add("server CPU", "% of one core", cpu/elapsed.Seconds()*100)
		if acked > 0 {
			res.add("server CPU per thousand sends", "ms", cpu/float64(acked)*1e6)
		}
	}
	if e.t.pid != os.Getpid() {
		res.add("load generator CPU", "% of one core", (self1.CPU-self0.CPU).Seconds()/elapsed.Seconds()*100)
	}
	if acked == 0 {
		res.Err = "no send was acknowledged"
	}
	return res
}

// pipelineUntil keeps window requests in flight until stop ends; requests
// already sent then finish under reqCtx. It returns the successes and the
// first error that was not the stop itself.
func pipelineUntil(stop, reqCtx context.Context, window int, send func(ctx context.Context, i int) error) (int, error) {
	var next atomic.Int64
	var ok atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range max(window, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for stop.Err() == nil {
				i := int(next.Add(1) - 1)
				if err := send(reqCtx, i); err != nil {
					// A refused send stops this slot of the window: the
					// benchmark reports it rather than hammering on.
					if !errors.Is(err, context.Canceled) {
						once.Do(func() { firstErr = err })
					}
					return
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(ok.Load()), firstErr
}

// clientID makes ids that sort in sending order, as the SDKs' time-ordered
// client ids do, so the server's idempotency index sees what it sees in
// production (appends, not random inserts).
func clientID(prefix string, i int) string {
	return fmt.Sprintf("%s%010d", prefix, i)
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/protocol"
)

// --- 5. abuse ---

// targetAbuseRatio: one abusive member may at most double everyone else's p99.
const targetAbuseRatio = 2

// abuseEditRate is what the abuser attempts, in edits a second over all its
// connections: about what the unlimited server accepted in the finding
// (955/s), so that both servers face the same attack and the load side
// spends the same CPU on it.
const abuseEditRate = 1000

// runAbuse measures what one abusive member does to the others' latency.
// A server of its own (with the default request budget unless
// --abuse-budget=false) holds a group of --abuse-members; --abuse-senders of
// them send one latency-stamped message a second each. Phase 1 measures
// the delivery latency to the other members; in phase 2 one member also
// floods 4 KB edits of its message from --abuse-conns connections,
// ignoring refusals, and the same latency is measured again.
func runAbuse(ctx context.Context, e *env) (res result) {
	res.Scenario = "abuse"
	if !e.o.abuseBudget {
		res.Scenario = "abuse (no budget)"
	}
	if e.t.mode != "spawned" {
		res.Err = "abuse starts a server of its own: run it without --url and --inprocess"
		return res
	}
	t, err := spawnServer(ctx, e.o.serverBin, "", e.o.abuseBudget, io.Discard)
	if err != nil {
		res.Err = errString(err)
		return res
	}
	defer t.Close()
	d, err := newDialer(e.o.connKind, t.wsURL)
	if err != nil {
		res.Err = errString(err)
		return res
	}
	ae := &env{t: t, dial: d, o: e.o, run: e.run, logf: e.logf}
	members, senders := e.o.abuseMembers, e.o.abuseSenders
	perPhase := int64(float64(senders) * (e.o.abuseDuration.Seconds() + 1))
	g, err := setupGroup(ctx, ae, fmt.Sprintf("abuse %d", e.run), members, 2*perPhase, true)
	if err != nil {
		res.Err = errString(err)
		return res
	}
	defer g.close()
	abuserName := userNames("u", members)[members-1]
	abusers, _, err := dialMany(ctx, ae, slices.Repeat([]string{abuserName}, e.o.abuseConns), e.o.abuseConns, nil)
	if err != nil {
		res.Err = "abuser: " + errString(err)
		return res
	}
	defer closeAll(abusers, len(abusers))
	raw, err := abusers[0].Request(ctx, protocol.EvSend, protocol.SendRequest{ConversationID: g.id, ClientID: "abuse-" + strconv.Itoa(e.run), Text: "soon edited"})
	if err != nil {
		res.Err = "abuser's first message: " + errString(err)
		return res
	}
	msgID, err := conversationID(raw) // a Message: its top-level id
	if err != nil {
		res.Err = errString(err)
		return res
	}
	// The others are every member but the abuser, whose receiver is the last.
	others := g.recv[:members-1]
	talk := g.conns[1 : 1+senders]

	e.logf("abuse: %d members ready; %d chatting 1 message/s each, %s per phase", members, senders, e.o.abuseDuration)
	base, baseFailed := abusePhase(ctx, e, g.id, talk, others, "a"+strconv.Itoa(e.run)+"-")
	e.logf("abuse: now with the abuser: %d edits/s of 4 KB from %d connections", abuseEditRate, len(abusers))
	stop, cancel := context.WithCancel(ctx)
	var accepted, refused, failed atomic.Int64
	var wg sync.WaitGroup
	edit := protocol.EditRequest{ConversationID: g.id, MessageID: msgID, Text: strings.Repeat("x", 4096)}
	const window = 8 // requests in flight per connection
	interval := time.Duration(float64(time.Second) * float64(len(abusers)*window) / abuseEditRate)
	for _, c := range abusers {
		for w := range window {
			wg.Go(func() {
				start := time.Now().Add(interval * time.Duration(w) / window)
				for i := 0; stop.Err() == nil; i++ {
					if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
						select {
						case <-stop.Done():
							return
						case <-time.After(d):
						}
					}
					_, err := c.Request(ctx, protocol.EvEdit, edit)
					var re *replyError
					switch {
					case err == nil:
						accepted.Add(1)
					case errors.As(err, &re) && re.e.Code == apperr.CodeRateLimited:
						refused.Add(1)
					default:
						failed.Add(1)
					}
				}
			})
		}
	}
	time.Sleep(2 * time.Second) // let the flood build up
	a0, r0 := accepted.Load(), refused.Load()
	t0 := time.Now()
	hit, hitFailed := abusePhase(ctx, e, g.id, talk, others, "b"+strconv.Itoa(e.run)+"-")
	secs := time.Since(t0).Seconds()
	a1, r1 := accepted.Load(), refused.Load()
	cancel()
	wg.Wait()

	if baseFailed+hitFailed > 0 {
		res.note("%d of the others' sends failed (%d without the abuser, %d with)", baseFailed+hitFailed, baseFailed, hitFailed)
	}
	if f := failed.Load(); f > 0 {
		res.note("%d of the abuser's edits failed otherwise than rate_limited", f)
	}
	if len(base) == 0 || len(hit) == 0 {
		res.Err = "no latency measured"
		return res
	}
	res.add("others p50 without abuser", "ms", ms(pct(base, 50)))
	res.add("others p99 without abuser", "ms", ms(pct(base, 99)))
	res.add("others p50 with abuser", "ms", ms(pct(hit, 50)))
	res.add("others p99 with abuser", "ms", ms(pct(hit, 99)))
	res.addTarget("p99 with / without abuser", "×", float64(pct(hit, 99))/float64(max(pct(base, 99), 1)), "<=", targetAbuseRatio)
	res.add("abuser's edits accepted", "1/s", float64(a1-a0)/secs)
	res.add("abuser's edits refused", "1/s", float64(r1-r0)/secs)
	return res
}

// abusePhase has each of talk send one stamped message a second, staggered,
// for --abuse-duration, waits for stragglers, and returns the delivery
// latencies the receivers of others measured (sorted) and the failed sends.
func abusePhase(ctx context.Context, e *env, conv string, talk []conn, others []*receiver, prefix string) ([]int64, int) {
	for _, r := range others {
		r.mu.Lock()
		r.lat = r.lat[:0]
		r.mu.Unlock()
	}
	n := int(e.o.abuseDuration.Seconds())
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for s, c := range talk {
		wg.Go(func() {
			offset := time.Second * time.Duration(s) / time.Duration(len(talk))
			for i := 0; i < n && ctx.Err() == nil; i++ {
				if d := time.Until(start.Add(offset + time.Duration(i)*time.Second)); d > 0 {
					time.Sleep(d)
				}
				rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				_, err := c.Request(rctx, protocol.EvSend, protocol.SendRequest{
					ConversationID: conv, ClientID: clientID(prefix+strconv.Itoa(s)+"-", i), Text: stampedText(time.Now()),
				})
				cancel()
				if err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	time.Sleep(2 * time.Second) // deliveries still on their way
	var lat []int64
	for _, r := range others {
		r.mu.Lock()
		lat = append(lat, r.lat...)
		r.mu.Unlock()
	}
	slices.Sort(lat)
	return lat, int(failed.Load())
}

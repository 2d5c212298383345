package ws

import (
	"context"
	"encoding/json"
	"math"
	"time"

	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/protocol"
)

// With several nodes each node's store writer publishes its own commits, so
// a node can receive a conversation's seq 7 before 6 (two nodes published
// them at the same moment), or never receive 6 (its event was dropped). The
// hub then puts every conversation's chat:message events back in seq order
// before they reach its connections, once per node and topic rather than
// per connection: a message ahead of the next expected seq waits (with
// whatever of its conversation arrives after it) for HoldBack, then the
// missing seqs are read from the store, as chat:sync would. One node's bus
// already delivers in seq order: with HoldBack zero none of this runs.

// FillFunc reads from the store the chat:message events of a conversation
// with after < seq < before, at most limit, oldest first, encoded as they
// were published (chat.Service.MessageEvents).
type FillFunc func(ctx context.Context, accountID, convID string, after, before int64, limit int) ([]bus.Event, error)

// DefaultHoldBack is the hold-back with several nodes: messages of two
// nodes cross in well under a millisecond unless a node stalls, and a seq
// still missing after it is read from the store (one query per node and
// conversation, not per connection).
const DefaultHoldBack = 100 * time.Millisecond

// Bounds of the hold-back. A conversation holding more than maxHeld events
// or maxHeldBytes fills from the store at once; twice that while a fill is
// running, or a fill that brings nothing, gives up: its topic's
// connections resync (4009), as after a bus Gap.
const (
	maxHeld      = 1024
	maxHeldBytes = 1 << 20
	fillLimit    = 256 // seqs read per fill
	fillTimeout  = 5 * time.Second
	maxStreams   = 4096 // conversations tracked per topic (an inbox topic carries many)
)

// stream is one conversation's order on one topic of this node.
type stream struct {
	next    int64       // the seq to deliver next; 0 until the first message settles it
	held    []bus.Event // arrival order, waiting behind a missing seq
	bytes   int
	timer   *time.Timer // running while held is not empty and no fill runs
	armed   uint64      // counts timers, so a stale one that fired does nothing
	filling bool
	waiters []waiter // replies to chat:send queued behind their message
}

// waiter is the reply to a chat:send of this node, queued once its seq has
// been delivered: it never reaches the sender before the messages below
// it, which a client taking its cursor from what it holds would skip.
type waiter struct {
	seq   int64
	c     *conn
	frame []byte
}

// sequence delivers ev (an event of a conversation) in its conversation's
// order. It runs under h.mu read-locked, with t the topic's subscribers.
func (h *hub) sequence(name string, t *topicSubs, ev bus.Event) {
	msg := ev.Name == protocol.EvMessage && ev.Seq > 0
	t.smu.Lock()
	defer t.smu.Unlock()
	s := t.streams[ev.ConversationID]
	if s == nil && msg {
		s = t.newStream(ev.ConversationID)
	}
	switch {
	case s == nil || !msg && len(s.held) == 0 && !s.ahead(&ev):
		h.fanOut(t, &ev)
	case msg && s.next > 0 && ev.Seq < s.next:
		// Delivered already: filled from the store before its event came.
	case msg && len(s.held) == 0 && ev.Seq == s.next:
		h.deliverNext(t, s, &ev)
	default:
		// Ahead of next (an edit or a read too: of a message not delivered
		// yet), behind a held one, or the first message of the conversation
		// on this topic: a lower seq may still be on its way.
		s.held = append(s.held, ev)
		s.bytes += len(ev.Data)
		h.release(t, s)
		h.watch(name, t, ev.ConversationID, s)
	}
}

func (t *topicSubs) newStream(conv string) *stream {
	if t.streams == nil {
		t.streams = make(map[string]*stream)
	} else if len(t.streams) >= maxStreams {
		for k, s := range t.streams {
			if s.idle() {
				delete(t.streams, k) // forgetting next only delays its next message by HoldBack
			}
		}
	}
	s := &stream{}
	t.streams[conv] = s
	return s
}

func (s *stream) idle() bool {
	return len(s.held) == 0 && !s.filling && s.timer == nil && len(s.waiters) == 0
}

func (s *stream) stop() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
}

// forget stops a stream that is dropped. Its replies are dropped too: their
// connections are resyncing (4009) or gone, and a reply must not tell of a
// seq whose predecessors never came; the client resends (client_id).
func (s *stream) forget() {
	s.stop()
	clear(s.waiters)
	s.waiters = nil
}

// deliverNext delivers the message whose seq is next.
func (h *hub) deliverNext(t *topicSubs, s *stream, e *bus.Event) {
	s.next = e.Seq + 1
	h.fanOut(t, e)
	if len(s.waiters) > 0 {
		s.wake()
	}
}

// wake queues the replies whose message has been delivered.
func (s *stream) wake() { s.answer(s.next) }

// answer queues the replies of seqs below next.
func (s *stream) answer(next int64) {
	w := s.waiters[:0]
	for _, x := range s.waiters {
		if x.seq < next {
			x.c.enqueue(x.frame)
		} else {
			w = append(w, x)
		}
	}
	clear(s.waiters[len(w):])
	s.waiters = w
}

// replyAfter queues frame, the reply to c's chat:send of conv's seq, once
// that seq has been delivered on the topic c hears conv on; false when it
// has been already (or c does not hear conv), and the caller queues it.
// A stream that does not exist yet is made: the message's event is on its
// way and will settle it; if it does not come, the fill reads it.
func (h *hub) replyAfter(c *conn, conv string, seq int64, frame []byte) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	topic, t := h.topicOf(c, conv)
	if t == nil {
		return false
	}
	t.smu.Lock()
	defer t.smu.Unlock()
	s := t.streams[conv]
	if s == nil {
		s = t.newStream(conv)
	}
	if s.next > seq {
		return false
	}
	s.waiters = append(s.waiters, waiter{seq: seq, c: c, frame: frame})
	h.watch(topic, t, conv, s)
	return true
}

// topicOf is the topic c hears conv on (nil if none). Under h.mu.
func (h *hub) topicOf(c *conn, conv string) (string, *topicSubs) {
	topic := chat.ConversationTopic(conv)
	if !contains(c.topics, topic) {
		topic = chat.InboxTopic(c.id.AccountID) // staff hear inbox conversations there
	}
	if t := h.topics[topic]; t != nil && contains(c.topics, topic) {
		return topic, t
	}
	return "", nil
}

// seed settles the order of conversations whose messages c's chat:sync
// just replayed up to seqs (not the truncated ones), where this node has
// not settled it yet: every later seq was committed after the replay read
// the store, so its event is still to come over the bus, and the next one
// is seqs[conv]+1. A conversation's first message then needs no hold-back,
// and one that crosses its successor is filled instead of skipped.
func (h *hub) seed(c *conn, seqs map[string]int64, truncated []string) {
	if h.hold <= 0 {
		return
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for conv, last := range seqs {
		if contains(truncated, conv) {
			continue
		}
		name, t := h.topicOf(c, conv)
		if t == nil {
			continue
		}
		t.smu.Lock()
		s := t.streams[conv]
		if s == nil {
			s = t.newStream(conv)
		}
		if s.next == 0 {
			// Nothing delivered on this topic yet: held messages up to last
			// were replayed, and the other connections start after them.
			s.next = last + 1
			h.release(t, s)
			if len(s.waiters) > 0 {
				s.wake()
			}
			h.watch(name, t, conv, s)
		}
		t.smu.Unlock()
	}
}

// release delivers what no longer waits: the message whose seq is next,
// wherever it is held (messages only move ahead of other events, never
// behind), and the events that no held message precedes.
func (h *hub) release(t *topicSubs, s *stream) {
	for s.next > 0 {
		for len(s.held) > 0 {
			e := &s.held[0]
			isMsg := e.Name == protocol.EvMessage && e.Seq > 0
			if isMsg && e.Seq > s.next || !isMsg && s.ahead(e) {
				break
			}
			if isMsg && e.Seq == s.next {
				h.deliverNext(t, s, e)
			} else if !isMsg {
				h.fanOut(t, e)
			}
			s.bytes -= len(e.Data)
			*e = bus.Event{}
			s.held = s.held[1:]
		}
		i := s.find(s.next)
		if i < 0 {
			break
		}
		h.deliverNext(t, s, &s.held[i])
		s.bytes -= len(s.held[i].Data)
		s.held = append(s.held[:i], s.held[i+1:]...)
	}
	if len(s.held) == 0 {
		s.held, s.bytes = nil, 0
		if len(s.waiters) == 0 {
			s.stop()
		}
	}
}

// find returns the index of the held message with seq, or -1.
func (s *stream) find(seq int64) int {
	for i := range s.held {
		if e := &s.held[i]; e.Seq == seq && e.Name == protocol.EvMessage {
			return i
		}
	}
	return -1
}

// ahead tells whether e, an event about a message (an edit, a read up to
// it), names a seq not delivered yet.
func (s *stream) ahead(e *bus.Event) bool {
	return e.Seq > 0 && (s.next == 0 || e.Seq >= s.next)
}

// lowest is the lowest seq of a held message above next (0: none).
func (s *stream) lowest() int64 {
	var low int64
	for i := range s.held {
		if e := &s.held[i]; e.Name == protocol.EvMessage && e.Seq >= s.next && (low == 0 || e.Seq < low) {
			low = e.Seq
		}
	}
	return low
}

// fillEnd is the seq a fill reads up to (excluded): the lowest held
// message, or one past the message a held edit or read, or a reply, names.
func (s *stream) fillEnd() int64 {
	var end int64
	for i := range s.held {
		e := &s.held[i]
		x := e.Seq
		if e.Name != protocol.EvMessage {
			x++
		}
		if e.Seq >= s.next && e.Seq > 0 && (end == 0 || x < end) {
			end = x
		}
	}
	for _, w := range s.waiters {
		if w.seq >= s.next && (end == 0 || w.seq+1 < end) {
			end = w.seq + 1
		}
	}
	return end
}

// watch arms the hold-back timer of a stream that holds events, or fills
// at once when it holds too much.
func (h *hub) watch(name string, t *topicSubs, conv string, s *stream) {
	switch {
	case len(s.held) == 0 && len(s.waiters) == 0:
	case s.filling:
		if len(s.held) > 2*maxHeld || s.bytes > 2*maxHeldBytes {
			h.resyncLocked(name, t, conv, "the store fill is too slow")
		}
	case len(s.held) > maxHeld || s.bytes > maxHeldBytes:
		s.stop()
		h.fillLocked(name, t, conv, s)
	case s.timer == nil:
		s.armed++
		armed := s.armed
		s.timer = time.AfterFunc(h.hold, func() { h.expire(name, t, conv, s, armed) })
	}
}

// expire runs when a stream has held events for HoldBack: the missing seqs
// are not coming over the bus, so they are read from the store.
func (h *hub) expire(name string, t *topicSubs, conv string, s *stream, armed uint64) {
	h.current(name, t, conv, s, func() {
		if s.timer == nil || s.armed != armed {
			return
		}
		s.timer = nil
		if len(s.held) > 0 || len(s.waiters) > 0 {
			h.fillLocked(name, t, conv, s)
		}
	})
}

// current runs f with the hub and the topic locked, if s is still the
// stream of conv on topic name (a timer or a fill may outlive it).
func (h *hub) current(name string, t *topicSubs, conv string, s *stream, f func()) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.topics[name] != t {
		return
	}
	t.smu.Lock()
	defer t.smu.Unlock()
	if t.streams[conv] == s {
		f()
	}
}

// fillLocked starts reading the missing seqs below the lowest held message.
// A stream that had never delivered a message starts at the lowest one
// held: what came before it was published before this topic's first
// message reached the node, and its connections have it from chat:sync or
// history.
func (h *hub) fillLocked(name string, t *topicSubs, conv string, s *stream) {
	if s.next == 0 {
		if s.next = s.lowest(); s.next == 0 {
			// Only events about messages this node has not seen yet: their
			// order is not known here, and they go as they came.
			for i := range s.held {
				h.fanOut(t, &s.held[i])
			}
			s.held, s.bytes = nil, 0
			s.answer(math.MaxInt64) // a reply whose message never came here
			return
		}
		h.release(t, s)
		if len(s.held) == 0 && len(s.waiters) == 0 {
			return
		}
	}
	after, before := s.next-1, s.fillEnd()
	if before <= s.next || len(t.conns) == 0 {
		h.release(t, s) // cannot be: what is held waits for no seq
		return
	}
	account := t.conns[0].id.AccountID // a conversation's members are all of its account
	s.filling = true
	h.fills.Add(1)
	go func() {
		defer h.fills.Done()
		ctx, cancel := context.WithTimeout(context.Background(), fillTimeout)
		evs, err := h.fill(ctx, account, conv, after, before, fillLimit)
		cancel()
		h.filled(name, t, conv, s, after, evs, err)
	}()
}

// filled places the messages read from the store as if the bus had brought
// them, then goes on filling while messages are still missing.
func (h *hub) filled(name string, t *topicSubs, conv string, s *stream, after int64, evs []bus.Event, err error) {
	h.current(name, t, conv, s, func() {
		s.filling = false
		if err != nil {
			h.resyncLocked(name, t, conv, "reading missed messages: "+err.Error())
			return
		}
		for _, e := range evs {
			if e.Seq == s.next {
				h.deliverNext(t, s, &e)
			}
		}
		h.release(t, s)
		switch {
		case len(s.held) == 0 && len(s.waiters) == 0:
		case s.next == after+1: // neither the fill nor the bus brought it
			h.resyncLocked(name, t, conv, "a missing seq is not in the store")
		default:
			h.fillLocked(name, t, conv, s) // the next gap: its events are late already
		}
	})
}

// resyncLocked gives up on ordering a conversation: every connection of
// the topic closes with 4009 after what it was sent, and resumes with
// chat:sync from the store, as after a bus Gap.
func (h *hub) resyncLocked(name string, t *topicSubs, conv, why string) {
	h.log.Warn("ws: cannot order a conversation's messages, connections resync", "topic", name, "conversation", conv, "why", why, "conns", len(t.conns))
	if s := t.streams[conv]; s != nil {
		s.forget()
		delete(t.streams, conv)
	}
	for _, c := range t.conns {
		c.closeWith(protocol.CloseResync, false)
	}
}

// dropStreams forgets a topic's order (the topic is going, or a Gap closed
// its connections).
func (t *topicSubs) dropStreams() {
	t.smu.Lock()
	for _, s := range t.streams {
		s.forget()
	}
	t.streams = nil
	t.smu.Unlock()
}

// replyOwn queues the reply to a chat:send of this connection behind its
// message (with several nodes the message's event comes back over the bus
// and may wait behind a missing seq), so a client never learns of seq N
// from the reply before the messages below N; the connection meanwhile
// goes on with its next request. False: the caller replies now (one node;
// a resend of an earlier message; the message is delivered already).
func (c *conn) replyOwn(id string, m protocol.Message) bool {
	h := &c.srv.hub
	if h.hold <= 0 || m.Seq <= 0 {
		return false
	}
	data, err := json.Marshal(m)
	if err != nil {
		return false
	}
	return h.replyAfter(c, m.ConversationID, m.Seq, eventFrame(protocol.EvSend, id, data))
}

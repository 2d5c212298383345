package ws

import (
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/protocol"
)

// hub maps bus topics to this node's connections. It subscribes to a topic
// on the bus when its first local connection arrives and unsubscribes after
// the last one leaves. An event's frame is built once and the same bytes
// are queued on every subscriber: the topic index is read-locked once per
// event, and each connection's own mutex once per delivery.
type hub struct {
	bus     bus.Bus
	log     *slog.Logger
	handler bus.Handler    // h.onEvent, made once
	hold    time.Duration  // Config.HoldBack: 0 delivers in bus order (order.go)
	fill    FillFunc       // reads what the bus did not bring
	fills   sync.WaitGroup // store reads in flight

	mu     sync.RWMutex
	topics map[string]*topicSubs
}

type topicSubs struct {
	conns []*conn
	index map[*conn]int // position in conns, kept once the topic is big
	unsub func()

	smu     sync.Mutex         // serialises delivery of conversation events when ordering
	streams map[string]*stream // conversation id → its order on this topic (order.go)
}

// indexMin is the size from which a topic keeps an index for O(1) removal;
// smaller topics (a user's own, a direct conversation) scan.
const indexMin = 32

func (h *hub) init(b bus.Bus, log *slog.Logger, hold time.Duration, fill FillFunc) {
	h.bus, h.log, h.hold, h.fill = b, log, hold, fill
	h.topics = make(map[string]*topicSubs)
	h.handler = h.onEvent
}

// count is the number of connections subscribed to a topic.
func (h *hub) count(name string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if t := h.topics[name]; t != nil {
		return len(t.conns)
	}
	return 0
}

// register subscribes c to topics (the slice is kept as c's topic list).
func (h *hub) register(c *conn, topics []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range topics {
		h.addLocked(c, t)
	}
}

func (h *hub) unregister(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range c.topics {
		h.removeLocked(c, t, false)
	}
	c.topics = nil
}

// addLocked subscribes c to one topic; it reports false if it already was.
func (h *hub) addLocked(c *conn, name string) bool {
	if contains(c.topics, name) {
		return false
	}
	t := h.topics[name]
	if t == nil {
		t = &topicSubs{}
		h.topics[name] = t
		t.unsub = h.bus.Subscribe(name, h.handler)
	}
	if t.index != nil {
		t.index[c] = len(t.conns)
	} else if len(t.conns) >= indexMin {
		t.index = make(map[*conn]int, len(t.conns)+1)
		for i, o := range t.conns {
			t.index[o] = i
		}
		t.index[c] = len(t.conns)
	}
	t.conns = append(t.conns, c)
	c.topics = append(c.topics, name)
	return true
}

// removeLocked unsubscribes c from one topic; it reports false if it was
// not subscribed. fromConn also removes the topic from c's list.
func (h *hub) removeLocked(c *conn, name string, fromConn bool) bool {
	t := h.topics[name]
	if t == nil {
		return false
	}
	i := -1
	if t.index != nil {
		if j, ok := t.index[c]; ok {
			i = j
			delete(t.index, c)
		}
	} else {
		for j, o := range t.conns {
			if o == c {
				i = j
				break
			}
		}
	}
	if i < 0 {
		return false
	}
	last := len(t.conns) - 1
	if i != last {
		moved := t.conns[last]
		t.conns[i] = moved
		if t.index != nil {
			t.index[moved] = i
		}
	}
	t.conns[last] = nil
	t.conns = t.conns[:last]
	if len(t.conns) == 0 {
		t.unsub()
		t.dropStreams()
		delete(h.topics, name)
	} else if t.index != nil && len(t.conns) < indexMin/2 {
		t.index = nil
	}
	if fromConn {
		for j, n := range c.topics {
			if n == name {
				c.topics = append(c.topics[:j], c.topics[j+1:]...)
				break
			}
		}
	}
	return true
}

// closeAll drops every bus subscription (after the last connection closed).
func (h *hub) closeAll() {
	h.mu.Lock()
	for name, t := range h.topics {
		t.unsub()
		t.dropStreams()
		delete(h.topics, name)
	}
	h.mu.Unlock()
	h.fills.Wait() // each finds its topic gone
}

// onEvent is the bus handler of every topic. It runs on the publisher's
// goroutine and never blocks: queuing is an append under a connection's
// own mutex.
func (h *hub) onEvent(name string, ev bus.Event) {
	if ev.Name == bus.Gap {
		h.gap(name)
		return
	}
	if ev.Name == protocol.EvInboxRevoked {
		h.revoke(name, ev)
		return
	}
	var skip []*conn
	if ev.ConversationID != "" && strings.HasPrefix(name, "u:") {
		switch ev.Name {
		case protocol.EvConversation: // the user was added: hear the conversation from now on
			h.follow(name, chat.ConversationTopic(ev.ConversationID), true)
		case protocol.EvMemberLeft: // the user left: stop; they heard it as a member already
			skip = h.follow(name, chat.ConversationTopic(ev.ConversationID), false)
		}
	}
	h.mu.RLock()
	if t := h.topics[name]; t != nil {
		if h.hold > 0 && ev.ConversationID != "" && skip == nil {
			h.sequence(name, t, ev)
		} else {
			h.fanOutSkip(t, &ev, skip)
		}
	}
	h.mu.RUnlock()
}

// fanOut queues an event's frame, built once, on every connection of a
// topic it is for. Under h.mu read-locked.
func (h *hub) fanOut(t *topicSubs, ev *bus.Event) { h.fanOutSkip(t, ev, nil) }

func (h *hub) fanOutSkip(t *topicSubs, ev *bus.Event, skip []*conn) {
	f := eventFrame(ev.Name, "", ev.Data)
	for _, c := range t.conns {
		if skip != nil && containsConn(skip, c) || ev.Device != "" && c.connID != ev.Device || ev.SkipUser != "" && c.id.UserID == ev.SkipUser {
			continue
		}
		c.deliver(f, ev)
	}
}

// follow subscribes (or unsubscribes) every connection of a user topic to a
// conversation topic. On removal it returns the connections that were
// subscribed.
func (h *hub) follow(userTopic, convTopic string, add bool) []*conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topics[userTopic]
	if t == nil {
		return nil
	}
	conns := append([]*conn(nil), t.conns...)
	var had []*conn
	for _, c := range conns {
		if add {
			h.addLocked(c, convTopic)
		} else if h.removeLocked(c, convTopic, true) {
			had = append(had, c)
		}
	}
	return had
}

func containsConn(xs []*conn, c *conn) bool {
	for _, x := range xs {
		if x == c {
			return true
		}
	}
	return false
}

// gap closes every connection of a topic whose events the bus lost (close
// 4009, after what was queued before the gap): the client reconnects at
// once and chat:sync replays from the store exactly what it missed. A gap
// is never forwarded as an event, and nothing after it reaches these
// connections, so no client sees a later event without the lost ones.
func (h *hub) gap(name string) {
	h.mu.RLock()
	var conns []*conn
	if t := h.topics[name]; t != nil {
		conns = append(conns, t.conns...)
	}
	h.mu.RUnlock()
	if len(conns) > 0 {
		h.log.Warn("ws: bus lost events, connections resync", "topic", name, "conns", len(conns))
	}
	for _, c := range conns {
		c.closeWith(protocol.CloseResync, false)
	}
	h.mu.RLock()
	if t := h.topics[name]; t != nil {
		t.dropStreams() // what it held is lost with the connections' queues
	}
	h.mu.RUnlock()
}

// revoke closes the visitor connections of a topic whose session was
// opened through a regenerated address: they get address_invalid and
// close 4004, so the widget says the address is no longer valid. Other
// visitors of the account (on the new address) are untouched.
func (h *hub) revoke(name string, ev bus.Event) {
	var r protocol.InboxRevoked
	if json.Unmarshal(ev.Data, &r) != nil || r.Address == "" {
		return
	}
	h.mu.RLock()
	var victims []*conn
	if t := h.topics[name]; t != nil {
		for _, c := range t.conns {
			if c.id.Address == r.Address {
				victims = append(victims, c)
			}
		}
	}
	h.mu.RUnlock()
	for _, c := range victims {
		c.reject(protocol.CloseAddressInvalid, apperr.New(apperr.Unauthorized, apperr.CodeAddressInvalid,
			"this chat address is no longer valid: ask the site for its current link"), "")
	}
}

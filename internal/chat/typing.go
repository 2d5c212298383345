package chat

import (
	"context"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

// typingTracker keeps who is typing where. Only changes are announced:
// is_typing true when someone starts, false when they stop, send, leave, or
// let TypingTimeout pass without a refresh.
type typingTracker struct {
	s  *Service
	mu sync.Mutex
	m  map[memberKey]*typingEntry
}

type typingEntry struct {
	conv  store.Conversation
	timer *time.Timer
	gen   uint64 // bumped on each refresh so a stale timer does nothing
}

func (t *typingTracker) init(s *Service) {
	t.s = s
	t.m = make(map[memberKey]*typingEntry)
}

// Typing records that the caller started or stopped typing.
func (s *Service) Typing(ctx context.Context, id auth.Identity, r protocol.TypingRequest) error {
	c, err := s.writable(ctx, id, r.ConversationID)
	if err != nil {
		return err
	}
	if r.IsTyping {
		s.typing.start(c, id.UserID)
	} else {
		s.typing.clear(c, id.UserID)
	}
	return nil
}

func (t *typingTracker) start(c store.Conversation, userID string) {
	k := memberKey{c.ID, userID}
	t.mu.Lock()
	e, ok := t.m[k]
	if ok {
		e.gen++
		gen := e.gen
		e.timer.Stop()
		e.timer = time.AfterFunc(t.s.cfg.TypingTimeout, func() { t.expire(k, gen) })
		t.mu.Unlock()
		return
	}
	e = &typingEntry{conv: c}
	e.timer = time.AfterFunc(t.s.cfg.TypingTimeout, func() { t.expire(k, 0) })
	t.m[k] = e
	t.mu.Unlock()
	t.announce(c, userID, true)
}

func (t *typingTracker) expire(k memberKey, gen uint64) {
	t.mu.Lock()
	e, ok := t.m[k]
	if !ok || e.gen != gen {
		t.mu.Unlock()
		return
	}
	delete(t.m, k)
	t.mu.Unlock()
	t.announce(e.conv, k.user, false)
}

func (t *typingTracker) clear(c store.Conversation, userID string) {
	k := memberKey{c.ID, userID}
	t.mu.Lock()
	e, ok := t.m[k]
	if ok {
		e.timer.Stop()
		delete(t.m, k)
	}
	t.mu.Unlock()
	if ok {
		t.announce(c, userID, false)
	}
}

func (t *typingTracker) announce(c store.Conversation, userID string, typing bool) {
	ev := busEvent(protocol.EvTyping, c.ID, protocol.Typing{ConversationID: c.ID, SenderID: userID, IsTyping: typing})
	ev.SkipUser = userID
	t.s.publishConv(c, ev)
}

func (t *typingTracker) stopAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, e := range t.m {
		e.timer.Stop()
		delete(t.m, k)
	}
}

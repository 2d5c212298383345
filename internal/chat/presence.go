package chat

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/cluster"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

// Who is connected is Config.Presence's (cluster.Presence): counted in
// memory on one node, in Redis on several, so a user connected to two
// nodes is online once and goes offline when their last connection
// anywhere closes. Whoever sees a transition (Register's first,
// Unregister's last, a dead node's sweep) announces it.

// Connected registers connection connID of id (connection ids are unique
// across nodes). The user's first connection anywhere makes them online
// (unless they chose another status), announced in the background (the
// announcer): Connected does not wait on the store. An error means the
// registry did not answer and nothing was registered: refuse the
// connection, or the user would look offline while connected.
func (s *Service) Connected(ctx context.Context, id auth.Identity, connID string) error {
	first, err := s.presence.Register(ctx, presenceConn(id, connID))
	if err != nil {
		return apperr.Wrap("chat.Connected", err)
	}
	if first {
		s.ann.put(announceKey{id.AccountID, id.UserID}, time.Time{})
	}
	return nil
}

// Disconnected unregisters connection connID of id. The user's last
// connection anywhere makes them offline: last_seen (the time of the
// disconnect) is stamped and the change announced in the background. A
// registry that does not answer is asked again in the background until
// it does (else the user would stay online).
func (s *Service) Disconnected(ctx context.Context, id auth.Identity, connID string) {
	c := presenceConn(id, connID)
	last, err := s.presence.Unregister(ctx, c)
	if err != nil {
		slog.Warn("presence: connection not unregistered, retrying", "user", id.UserID, "err", err)
		s.retryUnregister(c)
		return
	}
	if last {
		s.wentOffline(c)
	}
}

func presenceConn(id auth.Identity, connID string) cluster.Conn {
	return cluster.Conn{AccountID: id.AccountID, UserID: id.UserID, ConnID: connID}
}

// wentOffline queues the last_seen stamp (now) and the announcement of
// the user's new status.
func (s *Service) wentOffline(c cluster.Conn) {
	s.ann.put(announceKey{c.AccountID, c.UserID}, s.clock())
}

// queue is a list one goroutine works through, in order; put never
// waits (its callers are connection teardowns).
type queue[T any] struct {
	mu   sync.Mutex
	q    []T
	wake chan struct{} // signalled by put
}

func newQueue[T any]() *queue[T] { return &queue[T]{wake: make(chan struct{}, 1)} }

func (q *queue[T]) put(v T) {
	q.mu.Lock()
	q.q = append(q.q, v)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take removes and returns everything queued.
func (q *queue[T]) take() []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	vs := q.q
	q.q = nil
	return vs
}

// putBack returns vs to the head of the queue.
func (q *queue[T]) putBack(vs []T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.q = append(vs, q.q...)
}

// retryUnregister queues a connection whose Unregister the registry did
// not answer; unregisterLater asks again until it does.
func (s *Service) retryUnregister(c cluster.Conn) { s.unreg.put(c) }

// unregisterLater retries the failed unregisters in order, backing off
// (1 s doubling to a minute) while the registry does not answer: trying
// each of a mass disconnect's connections during an outage would only
// wait out one timeout after another.
func (s *Service) unregisterLater() {
	defer s.bg.Done()
	wait := time.Second
	for {
		select {
		case <-s.done:
			return
		case <-s.unreg.wake:
		}
		for q := s.unreg.take(); len(q) > 0; q = s.unreg.take() {
			select {
			case <-s.done:
				return
			case <-time.After(wait):
			}
			if n := s.unregister(q); n < len(q) {
				s.unreg.putBack(q[n:])
				wait = min(2*wait, time.Minute)
			} else {
				wait = time.Second
			}
		}
	}
}

// unregister unregisters q's connections until one fails, and reports
// how many went.
func (s *Service) unregister(q []cluster.Conn) int {
	for i, c := range q {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		last, err := s.presence.Unregister(ctx, c)
		if err != nil {
			cancel()
			slog.Warn("presence: unregistering still fails", "pending", len(q)-i, "err", err)
			return i
		}
		cancel()
		if last {
			s.wentOffline(c)
		}
	}
	return len(q)
}

// PresenceChanged hears the transitions no call of this service made: the
// users of a dead node taken offline by a sweep (rediscluster's OnChange),
// or back online when a stalled node registers its connections again. It
// only queues them: the caller is the cluster's heartbeat goroutine, and
// announcing (store reads, an inbox status refresh) must not delay it.
func (s *Service) PresenceChanged(c cluster.Conn, online bool) {
	if online {
		s.ann.put(announceKey{c.AccountID, c.UserID}, time.Time{})
	} else {
		s.wentOffline(c)
	}
}

// OnlineUsers counts users of an account with a connection on any node
// (connected_users); 0 when the registry does not answer.
func (s *Service) OnlineUsers(ctx context.Context, accountID string) int {
	n, err := s.presence.AccountUsers(ctx, accountID)
	if err != nil {
		slog.Warn("presence: connected users not counted", "account", accountID, "err", err)
	}
	return n
}

// Online reports, for each user, whether they have a connection on any
// node, in one round trip to the registry.
func (s *Service) Online(ctx context.Context, userIDs ...string) ([]bool, error) {
	n, err := s.presence.Connections(ctx, userIDs...)
	if err != nil {
		return nil, apperr.Wrap("chat.Online", err)
	}
	on := make([]bool, len(n))
	for i := range n {
		on[i] = n[i] > 0
	}
	return on, nil
}

// effectiveAll is what others see of users, asking the registry once.
func (s *Service) effectiveAll(ctx context.Context, users []store.User) ([]protocol.Presence, error) {
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	on, err := s.Online(ctx, ids...)
	if err != nil {
		return nil, err
	}
	out := make([]protocol.Presence, len(users))
	for i, u := range users {
		out[i] = s.effective(u, on[i])
	}
	return out, nil
}

// effective is what others see: an explicit away/busy/offline wins;
// otherwise online while connected.
func (s *Service) effective(u store.User, connected bool) protocol.Presence {
	p := protocol.Presence{UserID: u.ID, Status: protocol.StatusOffline, LastSeen: u.LastSeen, Time: s.clock()}
	if connected {
		p.Status = protocol.StatusOnline
		if u.Status != "" {
			p.Status = u.Status
		}
		if p.Status != protocol.StatusOffline {
			p.LastSeen = nil
		}
	}
	return p
}

// SetStatus sets the caller's explicit status: online (automatic), away,
// busy, or offline (appear offline while connected).
func (s *Service) SetStatus(ctx context.Context, id auth.Identity, status string) (protocol.Presence, error) {
	if id.UserID == "" {
		return protocol.Presence{}, apperr.Forbiddenf("set a status with a user token")
	}
	stored := status
	switch status {
	case protocol.StatusOnline:
		stored = ""
	case protocol.StatusAway, protocol.StatusBusy, protocol.StatusOffline:
	default:
		return protocol.Presence{}, apperr.Invalidf("status must be online, away, busy or offline")
	}
	if err := s.st.SetUserStatus(ctx, id.AccountID, id.UserID, stored); err != nil {
		return protocol.Presence{}, apperr.Wrap("chat.SetStatus", err)
	}
	// Announced by the announcer like connects, so an online announcement
	// still in progress cannot overtake this one.
	s.ann.put(announceKey{id.AccountID, id.UserID}, time.Time{})
	_, p, err := s.currentPresence(ctx, id)
	return p, err
}

// currentPresence reads the user and what others see of them now.
func (s *Service) currentPresence(ctx context.Context, id auth.Identity) (store.User, protocol.Presence, error) {
	u, err := s.st.GetUser(ctx, id.AccountID, id.UserID)
	if err != nil {
		return store.User{}, protocol.Presence{}, apperr.Wrap("chat.currentPresence", err)
	}
	ps, err := s.effectiveAll(ctx, []store.User{u})
	if err != nil {
		return store.User{}, protocol.Presence{}, err
	}
	return u, ps[0], nil
}

// Presence returns the status of users of the caller's account. Visitors
// may ask only about agents and owners (the people who answer them).
func (s *Service) Presence(ctx context.Context, id auth.Identity, userIDs []string) ([]protocol.Presence, error) {
	if len(userIDs) > maxHistory {
		return nil, apperr.Invalidf("at most %d users per request", maxHistory)
	}
	users := make([]store.User, 0, len(userIDs))
	for _, uid := range userIDs {
		u, err := s.st.GetUser(ctx, id.AccountID, uid)
		if errors.Is(err, store.ErrNotFound) || (err == nil && id.Role == protocol.RoleVisitor && !isStaff(u.Role) && u.ID != id.UserID) {
			return nil, apperr.NotFoundf("no user %q", uid)
		}
		if err != nil {
			return nil, apperr.Wrap("chat.Presence", err)
		}
		users = append(users, u)
	}
	return s.effectiveAll(ctx, users)
}

// announcePresence tells those who should know: members of the user's
// direct conversations and groups up to PresenceMaxMembers; for a visitor,
// the account's agents; for an agent or owner, the other agents and the
// account's visitors (it is the inbox's status). It announces the status
// read now, so of two racing announcements the later one is current.
func (s *Service) announcePresence(ctx context.Context, id auth.Identity) error {
	u, p, err := s.currentPresence(ctx, id)
	if err != nil {
		return err
	}
	ev := busEvent(protocol.EvUserStatus, "", p)
	s.publish(userTopic(u.ID), ev) // the user's other devices
	switch {
	case isStaff(u.Role):
		s.publish(inboxTopic(u.AccountID), ev)
		s.publish(agentTopic(u.AccountID), ev)
		s.refreshInboxStatus(ctx, u.AccountID)
	case u.Role == protocol.RoleVisitor:
		s.publish(inboxTopic(u.AccountID), ev)
	}
	convs, err := s.st.ListConversations(ctx, u.AccountID, u.ID, false, time.Time{}, 1000)
	if err != nil {
		slog.Warn("presence: conversations not loaded", "user", u.ID, "err", err)
		return nil
	}
	for _, c := range convs {
		if c.Kind == protocol.KindInbox || c.MemberCount > s.cfg.PresenceMaxMembers {
			continue // inbox: announced above; big groups: ask with chat:presence
		}
		s.publish(convTopic(c.ID), ev)
	}
	return nil
}

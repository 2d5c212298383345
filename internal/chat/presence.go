package chat

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

// onlineCounter counts open connections per user on this node.
type onlineCounter struct {
	mu    sync.Mutex
	users map[string]int // user id → connections
	accts map[string]int // account id → users online
}

// Connected records a new connection of id. The first connection of a user
// makes them online (unless they chose another status) and is announced.
func (s *Service) Connected(ctx context.Context, id auth.Identity) {
	s.online.mu.Lock()
	s.online.users[id.UserID]++
	first := s.online.users[id.UserID] == 1
	if first {
		if s.online.accts == nil {
			s.online.accts = make(map[string]int)
		}
		s.online.accts[id.AccountID]++
	}
	s.online.mu.Unlock()
	if first {
		s.announcePresence(ctx, id)
	}
}

// Disconnected records that a connection closed; the last one makes the
// user offline, stamps last_seen and is announced.
func (s *Service) Disconnected(ctx context.Context, id auth.Identity) {
	s.online.mu.Lock()
	s.online.users[id.UserID]--
	last := s.online.users[id.UserID] <= 0
	if last {
		delete(s.online.users, id.UserID)
		s.online.accts[id.AccountID]--
		if s.online.accts[id.AccountID] <= 0 {
			delete(s.online.accts, id.AccountID)
		}
	}
	s.online.mu.Unlock()
	if last {
		if err := s.st.SetLastSeen(ctx, id.AccountID, id.UserID, s.clock()); err != nil {
			slog.Warn("last_seen not saved", "user", id.UserID, "err", err)
		}
		s.announcePresence(ctx, id)
	}
}

// OnlineUsers counts users of an account with a connection on this node.
func (s *Service) OnlineUsers(accountID string) int {
	s.online.mu.Lock()
	defer s.online.mu.Unlock()
	return s.online.accts[accountID]
}

// IsOnline reports whether a user has a connection to this node.
func (s *Service) IsOnline(userID string) bool { return s.connected(userID) }

func (s *Service) connected(userID string) bool {
	s.online.mu.Lock()
	defer s.online.mu.Unlock()
	return s.online.users[userID] > 0
}

// effective is what others see: an explicit away/busy/offline wins;
// otherwise online while connected.
func (s *Service) effective(u store.User) protocol.Presence {
	p := protocol.Presence{UserID: u.ID, Status: protocol.StatusOffline, LastSeen: u.LastSeen, Time: s.clock()}
	if s.connected(u.ID) {
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
	return s.announcePresence(ctx, id), nil
}

// Presence returns the status of users of the caller's account. Visitors
// may ask only about agents and owners (the people who answer them).
func (s *Service) Presence(ctx context.Context, id auth.Identity, userIDs []string) ([]protocol.Presence, error) {
	if len(userIDs) > maxHistory {
		return nil, apperr.Invalidf("at most %d users per request", maxHistory)
	}
	out := make([]protocol.Presence, 0, len(userIDs))
	for _, uid := range userIDs {
		u, err := s.st.GetUser(ctx, id.AccountID, uid)
		if errors.Is(err, store.ErrNotFound) || (err == nil && id.Role == protocol.RoleVisitor && !isStaff(u.Role) && u.ID != id.UserID) {
			return nil, apperr.NotFoundf("no user %q", uid)
		}
		if err != nil {
			return nil, apperr.Wrap("chat.Presence", err)
		}
		out = append(out, s.effective(u))
	}
	return out, nil
}

// announcePresence tells those who should know: members of the user's
// direct conversations and groups up to PresenceMaxMembers; for a visitor,
// the account's agents; for an agent or owner, the other agents and the
// account's visitors (it is the inbox's status).
func (s *Service) announcePresence(ctx context.Context, id auth.Identity) protocol.Presence {
	u, err := s.st.GetUser(ctx, id.AccountID, id.UserID)
	if err != nil {
		slog.Warn("presence: user not loaded", "user", id.UserID, "err", err)
		return protocol.Presence{UserID: id.UserID, Status: protocol.StatusOffline, Time: s.clock()}
	}
	p := s.effective(u)
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
		return p
	}
	for _, c := range convs {
		if c.Kind == protocol.KindInbox || c.MemberCount > s.cfg.PresenceMaxMembers {
			continue // inbox: announced above; big groups: ask with chat:presence
		}
		s.publish(convTopic(c.ID), ev)
	}
	return p
}

package chat

import (
	"context"
	"log/slog"

	"github.com/parley-chat/parley/protocol"
)

// The inbox's status is what a visitor's widget shows: online when any
// owner or agent of the account is online, else away, else busy, else
// offline. It follows the staff's own presence (chat:set_status and their
// connections), so "setting the inbox's status" is setting your own.

// statusRank orders statuses from the most to the least available.
var statusRank = map[string]int{
	protocol.StatusOnline: 0, protocol.StatusAway: 1, protocol.StatusBusy: 2, protocol.StatusOffline: 3,
}

// InboxStatus computes the status of an account's inbox now.
func (s *Service) InboxStatus(ctx context.Context, accountID string) (string, error) {
	staff, err := s.st.ListUsersByRole(ctx, accountID, protocol.RoleOwner, protocol.RoleAgent)
	if err != nil {
		return protocol.StatusOffline, err
	}
	best := protocol.StatusOffline
	for _, u := range staff {
		if st := s.effective(u).Status; statusRank[st] < statusRank[best] {
			best = st
		}
	}
	return best, nil
}

// refreshInboxStatus recomputes an account's inbox status after a staff
// presence change and announces it to visitors and agents if it changed.
// The lock is held from reading the statuses to queueing the event, so
// two changes at once cannot announce their results in the wrong order
// (staff presence changes are rare: one lock for all accounts is enough).
func (s *Service) refreshInboxStatus(ctx context.Context, accountID string) {
	s.inboxMu.Lock()
	defer s.inboxMu.Unlock()
	st, err := s.InboxStatus(ctx, accountID)
	if err != nil {
		slog.Warn("inbox status not computed", "account", accountID, "err", err)
		return
	}
	prev, known := s.inboxStatus[accountID]
	s.inboxStatus[accountID] = st
	if known && prev == st {
		return
	}
	ev := busEvent(protocol.EvInboxStatus, "", protocol.InboxStatus{Status: st})
	s.publish(agentTopic(accountID), ev)
	s.publish(inboxTopic(accountID), ev)
}

// ToVisitors publishes an event to every connected visitor of an account;
// ToStaff to its owners and agents. The inbox service uses them.
func (s *Service) ToVisitors(accountID, name string, v any) {
	s.publish(agentTopic(accountID), busEvent(name, "", v))
}

func (s *Service) ToStaff(accountID, name string, v any) {
	s.publish(inboxTopic(accountID), busEvent(name, "", v))
}

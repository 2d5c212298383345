package chat

import (
	"context"
	"log/slog"
	"strings"

	"github.com/parley-chat/parley/internal/bus"
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

// InboxStatus computes the status of an account's inbox now, asking the
// presence registry about all the staff at once (staff connected to any
// node count).
func (s *Service) InboxStatus(ctx context.Context, accountID string) (string, error) {
	staff, err := s.st.ListUsersByRole(ctx, accountID, protocol.RoleOwner, protocol.RoleAgent)
	if err != nil {
		return protocol.StatusOffline, err
	}
	ps, err := s.effectiveAll(ctx, staff)
	if err != nil {
		return protocol.StatusOffline, err
	}
	best := protocol.StatusOffline
	for _, p := range ps {
		if statusRank[p.Status] < statusRank[best] {
			best = p.Status
		}
	}
	return best, nil
}

// refreshInboxStatus recomputes an account's inbox status after a staff
// presence change and announces it to visitors and agents if it changed.
// The lock is held from reading the statuses to queueing the event, so
// two changes at once on this node cannot announce their results in the
// wrong order (staff presence changes are rare: one lock for all accounts
// is enough). Whether it changed is judged against the status last
// announced by any node (InboxStatusTopic): a node's own last
// announcement may have been overtaken by another node's.
func (s *Service) refreshInboxStatus(ctx context.Context, accountID string) {
	s.inboxMu.Lock()
	defer s.inboxMu.Unlock()
	st, err := s.InboxStatus(ctx, accountID)
	if err != nil {
		slog.Warn("inbox status not computed", "account", accountID, "err", err)
		return
	}
	s.statusMu.Lock()
	prev, known := s.inboxStatus[accountID]
	s.inboxStatus[accountID] = st
	s.statusMu.Unlock()
	if known && prev == st {
		return
	}
	ev := busEvent(protocol.EvInboxStatus, "", protocol.InboxStatus{Status: st})
	s.publish(agentTopic(accountID), ev)
	s.publish(inboxTopic(accountID), ev)
	s.publish(InboxStatusTopic, bus.Event{Name: InboxStatusTopic, Data: []byte(accountID + "\x00" + st)})
}

// InboxStatusTopic tells every node the inbox status a node announced
// (Data "account id NUL status"), so none takes its own older announcement
// for what visitors last heard.
const InboxStatusTopic = "chat:inbox_status"

// heardInboxStatus records an announced inbox status; after a Gap, which
// may have lost some, it forgets them all (the next change is announced).
func (s *Service) heardInboxStatus(_ string, ev bus.Event) {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	if ev.Name == bus.Gap {
		clear(s.inboxStatus)
		return
	}
	if acc, st, ok := strings.Cut(string(ev.Data), "\x00"); ok {
		s.inboxStatus[acc] = st
	}
}

// ToVisitors publishes an event to every connected visitor of an account;
// ToStaff to its owners and agents. The inbox service uses them.
func (s *Service) ToVisitors(accountID, name string, v any) {
	s.publish(agentTopic(accountID), busEvent(name, "", v))
}

func (s *Service) ToStaff(accountID, name string, v any) {
	s.publish(inboxTopic(accountID), busEvent(name, "", v))
}

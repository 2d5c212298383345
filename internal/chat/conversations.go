package chat

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/ids"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

const (
	maxGroupName     = 200
	maxCreateMembers = 1000
	listMembersMax   = 50 // conversations up to this size list their member ids
)

func busEvent(name, convID string, v any) bus.Event {
	return bus.Event{Name: name, ConversationID: convID, Data: encode(v)}
}

// CreateConversation makes a direct conversation (the caller and one other
// user: the existing one if they already have one) or a group (named; the
// caller and the listed users). Members are named by the account's own user
// names. Visitors talk only through their inbox and cannot create either.
func (s *Service) CreateConversation(ctx context.Context, id auth.Identity, r protocol.CreateConversationRequest) (protocol.Conversation, error) {
	if id.Role == protocol.RoleVisitor {
		return protocol.Conversation{}, apperr.Forbiddenf("visitors cannot create conversations")
	}
	if len(r.Members) > maxCreateMembers {
		return protocol.Conversation{}, apperr.Invalidf("at most %d members at creation; add more with join", maxCreateMembers)
	}
	var memberIDs []string
	if id.UserID != "" {
		memberIDs = append(memberIDs, id.UserID)
	}
	for _, name := range r.Members {
		u, err := s.st.GetUserByName(ctx, id.AccountID, name)
		if errors.Is(err, store.ErrNotFound) {
			return protocol.Conversation{}, apperr.NotFoundf("no user %q in this account", name)
		}
		if err != nil {
			return protocol.Conversation{}, apperr.Wrap("chat.CreateConversation", err)
		}
		if u.Role == protocol.RoleVisitor {
			return protocol.Conversation{}, apperr.Forbiddenf("visitors can be reached only through their inbox")
		}
		if !contains(memberIDs, u.ID) {
			memberIDs = append(memberIDs, u.ID)
		}
	}
	now := s.clock()
	c := store.Conversation{ID: ids.New(ids.Conversation), AccountID: id.AccountID, Kind: r.Kind, CreatedBy: id.UserID, CreatedAt: now, UpdatedAt: now}
	switch r.Kind {
	case protocol.KindDirect:
		if len(memberIDs) != 2 {
			return protocol.Conversation{}, apperr.New(apperr.Invalid, apperr.CodeInvalidConversation, "a direct conversation is between you and exactly one other user")
		}
		pair := []string{memberIDs[0], memberIDs[1]}
		sort.Strings(pair)
		c.Key = strings.Join(pair, ":")
	case protocol.KindGroup:
		name := strings.TrimSpace(r.Name)
		if name == "" || len(name) > maxGroupName {
			return protocol.Conversation{}, apperr.Invalidf("a group needs a name of 1 to %d bytes", maxGroupName)
		}
		c.Name = name
	default:
		return protocol.Conversation{}, apperr.Invalidf("kind must be direct or group (inboxes are opened by visitors)")
	}
	created, err := s.st.CreateConversation(ctx, c, memberIDs)
	if errors.Is(err, store.ErrConflict) && r.Kind == protocol.KindDirect {
		return s.describe(ctx, id, created) // they already talk: the existing one
	}
	if err != nil {
		return protocol.Conversation{}, apperr.Wrap("chat.CreateConversation", err)
	}
	for _, m := range memberIDs {
		s.memberChanged(created.ID, m, true)
	}
	out, err := s.describe(ctx, id, created)
	if err != nil {
		return out, err
	}
	ev := busEvent(protocol.EvConversation, created.ID, out)
	for _, m := range memberIDs {
		s.publish(userTopic(m), ev)
	}
	return out, nil
}

// OpenInbox returns the calling visitor's inbox conversation, creating it
// on first use and telling the account's agents about it.
func (s *Service) OpenInbox(ctx context.Context, id auth.Identity) (protocol.Conversation, error) {
	if id.Role != protocol.RoleVisitor {
		return protocol.Conversation{}, apperr.Forbiddenf("only visitors open an inbox conversation")
	}
	c, err := s.st.GetConversationByKey(ctx, id.AccountID, id.UserID)
	if err == nil {
		return s.describe(ctx, id, c)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return protocol.Conversation{}, apperr.Wrap("chat.OpenInbox", err)
	}
	now := s.clock()
	c = store.Conversation{ID: ids.New(ids.Conversation), AccountID: id.AccountID, Kind: protocol.KindInbox,
		Name: id.DisplayName, Key: id.UserID, CreatedBy: id.UserID, CreatedAt: now, UpdatedAt: now}
	created, err := s.st.CreateConversation(ctx, c, []string{id.UserID})
	if errors.Is(err, store.ErrConflict) { // a concurrent first open won
		return s.describe(ctx, id, created)
	}
	if err != nil {
		return protocol.Conversation{}, apperr.Wrap("chat.OpenInbox", err)
	}
	s.memberChanged(created.ID, id.UserID, true)
	out, err := s.describe(ctx, id, created)
	if err != nil {
		return out, err
	}
	ev := busEvent(protocol.EvConversation, created.ID, out)
	s.publish(userTopic(id.UserID), ev)
	s.publish(inboxTopic(id.AccountID), ev)
	return out, nil
}

// Join adds the caller to a group of their account.
func (s *Service) Join(ctx context.Context, id auth.Identity, convID string) (protocol.Conversation, error) {
	if id.UserID == "" || id.Role == protocol.RoleVisitor {
		return protocol.Conversation{}, apperr.Forbiddenf("only members, agents and owners join groups")
	}
	c, err := s.conversation(ctx, id.AccountID, convID)
	if err != nil {
		return protocol.Conversation{}, err
	}
	if c.Kind != protocol.KindGroup {
		return protocol.Conversation{}, apperr.New(apperr.Invalid, apperr.CodeInvalidConversation, "only groups can be joined")
	}
	if err := s.st.AddMember(ctx, c.ID, id.UserID); err != nil {
		return protocol.Conversation{}, apperr.Wrap("chat.Join", err)
	}
	s.memberChanged(c.ID, id.UserID, true)
	out, err := s.describe(ctx, id, c)
	if err != nil {
		return out, err
	}
	s.publish(userTopic(id.UserID), busEvent(protocol.EvConversation, c.ID, out))
	s.publish(convTopic(c.ID), busEvent(protocol.EvMemberJoined, c.ID, protocol.MemberEvent{ConversationID: c.ID, UserID: id.UserID}))
	return out, nil
}

// Leave removes the caller from a group.
func (s *Service) Leave(ctx context.Context, id auth.Identity, convID string) error {
	c, err := s.writable(ctx, id, convID)
	if err != nil {
		return err
	}
	if c.Kind != protocol.KindGroup {
		return apperr.New(apperr.Invalid, apperr.CodeInvalidConversation, "only groups can be left")
	}
	if err := s.st.RemoveMember(ctx, c.ID, id.UserID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return apperr.Wrap("chat.Leave", err)
	}
	s.memberChanged(c.ID, id.UserID, false)
	s.typing.clear(c, id.UserID)
	ev := busEvent(protocol.EvMemberLeft, c.ID, protocol.MemberEvent{ConversationID: c.ID, UserID: id.UserID})
	s.publish(convTopic(c.ID), ev)
	s.publish(userTopic(id.UserID), ev) // the user's connections unsubscribe on this
	return nil
}

// Conversation describes one conversation to a caller who may see it.
func (s *Service) Conversation(ctx context.Context, id auth.Identity, convID string) (protocol.Conversation, error) {
	c, err := s.access(ctx, id, convID)
	if err != nil {
		return protocol.Conversation{}, err
	}
	fresh, err := s.st.GetConversation(ctx, id.AccountID, c.ID)
	if err != nil {
		return protocol.Conversation{}, apperr.Wrap("chat.Conversation", err)
	}
	return s.describe(ctx, id, fresh)
}

func (s *Service) describe(ctx context.Context, id auth.Identity, c store.Conversation) (protocol.Conversation, error) {
	members, err := s.st.ListMembers(ctx, c.ID)
	if err != nil {
		return protocol.Conversation{}, apperr.Wrap("chat.describe", err)
	}
	out := protocol.Conversation{ID: c.ID, Kind: c.Kind, Name: c.Name, MemberCount: len(members),
		LastSeq: c.LastSeq, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, VisitorID: visitorOf(c)}
	if len(members) <= listMembersMax {
		out.Members = members
		if out.Reads, err = s.st.ListReadSeqs(ctx, c.ID); err != nil {
			return out, apperr.Wrap("chat.describe", err)
		}
	}
	if id.UserID != "" {
		out.ReadSeq, err = s.st.GetReadSeq(ctx, c.ID, id.UserID)
		if err != nil {
			return out, apperr.Wrap("chat.describe", err)
		}
		out.Unread, err = s.st.UnreadCount(ctx, c.ID, id.UserID, out.ReadSeq)
		if err != nil {
			return out, apperr.Wrap("chat.describe", err)
		}
	}
	return out, nil
}

// ListConversations lists the caller's conversations, newest activity
// first, with the last message and unread count. Agents and owners also see
// every inbox of the account. before pages by UpdatedAt.
func (s *Service) ListConversations(ctx context.Context, id auth.Identity, before time.Time, limit int) ([]protocol.Conversation, error) {
	if id.UserID == "" {
		return nil, apperr.Forbiddenf("list conversations with a user token")
	}
	if limit == 0 {
		limit = 50
	}
	if limit < 1 || limit > maxHistory {
		return nil, apperr.Invalidf("limit must be 1 to %d", maxHistory)
	}
	sums, err := s.st.ListConversations(ctx, id.AccountID, id.UserID, isStaff(id.Role), before, limit)
	if err != nil {
		return nil, apperr.Wrap("chat.ListConversations", err)
	}
	// Members and read positions of the small ones, as describe gives them,
	// in one batch for the page rather than a query per conversation.
	var small []string
	for _, sm := range sums {
		if sm.MemberCount <= listMembersMax {
			small = append(small, sm.ID)
		}
	}
	members, reads, err := s.st.ListMembersAndReads(ctx, small)
	if err != nil {
		return nil, apperr.Wrap("chat.ListConversations", err)
	}
	out := make([]protocol.Conversation, 0, len(sums))
	for _, sm := range sums {
		pc := protocol.Conversation{ID: sm.ID, Kind: sm.Kind, Name: sm.Name, MemberCount: sm.MemberCount,
			LastSeq: sm.LastSeq, ReadSeq: sm.ReadSeq, Unread: sm.Unread, CreatedAt: sm.CreatedAt, UpdatedAt: sm.UpdatedAt,
			VisitorID: visitorOf(sm.Conversation)}
		if sm.MemberCount <= listMembersMax {
			pc.Members, pc.Reads = members[sm.ID], reads[sm.ID]
			if pc.Reads == nil {
				pc.Reads = map[string]int64{}
			}
		}
		if sm.LastMessage != nil {
			lm, err := s.expand(ctx, id.AccountID, *sm.LastMessage)
			if err != nil {
				return nil, err
			}
			pc.LastMessage = &lm
		}
		out = append(out, pc)
	}
	return out, nil
}

// Topics lists the bus topics a connection of id must hear.
func (s *Service) Topics(ctx context.Context, id auth.Identity) ([]string, error) {
	convs, err := s.st.ListConversationIDs(ctx, id.UserID)
	if err != nil {
		return nil, apperr.Wrap("chat.Topics", err)
	}
	topics := make([]string, 0, len(convs)+2)
	topics = append(topics, userTopic(id.UserID))
	for _, c := range convs {
		topics = append(topics, convTopic(c))
	}
	switch {
	case isStaff(id.Role):
		topics = append(topics, inboxTopic(id.AccountID))
	case id.Role == protocol.RoleVisitor:
		topics = append(topics, agentTopic(id.AccountID))
	}
	return topics, nil
}

// visitorOf is the visitor of an inbox conversation (its key), else "".
func visitorOf(c store.Conversation) string {
	if c.Kind == protocol.KindInbox {
		return c.Key
	}
	return ""
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

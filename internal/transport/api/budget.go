package api

import (
	"net/http"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/budget"
	"github.com/parley-chat/parley/protocol"
)

// routeKinds prices the REST routes that do what a WebSocket request does
// as that request; the rest are budget.KindRead (GET) or KindWrite.
var routeKinds = map[string]string{
	"GET /conversations":                               protocol.EvConversations,
	"POST /conversations":                              protocol.EvCreate,
	"POST /conversations/{id}/join":                    protocol.EvJoin,
	"POST /conversations/{id}/leave":                   protocol.EvLeave,
	"POST /inbox":                                      protocol.EvInbox,
	"GET /conversations/{id}/messages":                 protocol.EvHistory,
	"POST /conversations/{id}/messages":                protocol.EvSend,
	"PATCH /conversations/{id}/messages/{message_id}":  protocol.EvEdit,
	"DELETE /conversations/{id}/messages/{message_id}": protocol.EvDelete,
	"POST /conversations/{id}/read":                    protocol.EvMarkRead,
	"POST /conversations/{id}/typing":                  protocol.EvTypingSet,
	"PUT /presence":                                    protocol.EvSetStatus,
	"GET /presence":                                    protocol.EvPresenceGet,
	"POST /conversations/{id}/attachments":             budget.KindUpload,
}

func routeKind(rt route) string {
	if k, ok := routeKinds[rt.method+" "+rt.pattern]; ok {
		return k
	}
	if rt.method == http.MethodGet {
		return budget.KindRead
	}
	return budget.KindWrite
}

// spend charges an authenticated request to its user's and account's
// budget, the one the WebSocket endpoint spends from too.
func (a *API) spend(r *http.Request, rt route, id auth.Identity) error {
	cost, _ := a.cost(r, routeKind(rt), id.AccountID)
	return a.cfg.Budget.Spend(r.Context(), id.UserID, id.AccountID, cost)
}

// cost prices a request of kind and returns its fan-out part.
func (a *API) cost(r *http.Request, kind, accountID string) (cost, fanOut float64) {
	base := budget.Cost(kind, 0, 0)
	conv := r.PathValue("id")
	if !budget.FansOut(kind) || conv == "" || a.cfg.Audience == nil {
		return base, 0
	}
	cost = budget.Cost(kind, a.cfg.Audience(r.Context(), accountID, conv), int(max(r.ContentLength, 0)))
	return cost, cost - base
}

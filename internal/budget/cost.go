package budget

import "github.com/parley-chat/parley/protocol"

// The request kinds priced here are the WebSocket event names; REST routes
// are priced as the event they do (POST …/messages is chat:send) or, when
// they have none, as one of these.
const (
	KindUpload = "upload" // POST …/attachments: a file written to disk
	KindRead   = "read"   // any other REST read
	KindWrite  = "write"  // any other REST write (tokens, settings, invitations, rooms)
)

// FanOutUnit is how many members one unit of fan-out reaches, and
// FrameUnit the frame size, in bytes, at which a delivery counts double.
const (
	FanOutUnit = 100
	FrameUnit  = 2048
)

// price is what a kind of request costs: base for its own work (writes,
// reads, signalling), plus, when it fans out, its share of the deliveries.
type price struct {
	base   float64
	fanOut bool // delivered to every member of the conversation
}

// prices is the one cost table (docs/operations.md lists it). One unit is
// about one message into a small conversation; the user budget refills
// messages_per_second units a second.
var prices = map[string]price{
	// Writes that reach every member's connections.
	protocol.EvSend:      {1, true},
	protocol.EvEdit:      {1, true},
	protocol.EvDelete:    {1, true},
	protocol.EvTypingSet: {0.1, true}, // no write, but a frame to every member
	protocol.EvMarkRead:  {0.2, true},
	// Writes with a fan-out of their own.
	protocol.EvSetStatus: {2, false}, // presence goes to the user's groups
	protocol.EvCreate:    {5, false}, // rows for every member, a subscription each
	protocol.EvJoin:      {2, false},
	protocol.EvLeave:     {2, false},
	protocol.EvInbox:     {2, false},
	// Reads.
	protocol.EvHistory:       {0.5, false},
	protocol.EvSync:          {0.5, false},
	protocol.EvConversations: {0.5, false},
	protocol.EvPresenceGet:   {0.2, false},
	KindRead:                 {0.2, false},
	KindWrite:                {1, false},
	KindUpload:               {2, false},
	// Calls: ringing every device costs like a message; the signalling
	// that follows, trickled ICE candidates most of all, is cheap.
	protocol.EvCallInvite: {2, false},
	protocol.EvCallAccept: {1, false},
	protocol.EvCallReject: {0.5, false},
	protocol.EvCallCancel: {0.5, false},
	protocol.EvCallEnd:    {0.5, false},
	protocol.EvCallRejoin: {1, false},
	protocol.EvCallOffer:  {0.5, false},
	protocol.EvCallAnswer: {0.5, false},
	protocol.EvCallICE:    {0.1, false},
	// Rooms and broadcasts.
	protocol.EvRoomJoin:         {2, false},
	protocol.EvRoomLeave:        {0.5, false},
	protocol.EvRoomSignal:       {0.1, false},
	protocol.EvRoomSubscribe:    {0.5, false},
	protocol.EvRoomMute:         {0.5, false},
	protocol.EvChannelPublish:   {2, false},
	protocol.EvChannelSubscribe: {2, false},
	protocol.EvChannelLeave:     {0.5, false},
}

// defaultPrice is for kinds missing from the table (unknown events too).
var defaultPrice = price{base: 1}

// Cost is what a request of kind costs. audience is its conversation's
// member count (chat.Service.Audience: the same on every node, where a
// node's own connections would be only its share) and bytes the size of
// the request, for the kinds that fan out; they are ignored otherwise.
//
//	cost = base + audience/FanOutUnit × (1 + bytes/FrameUnit)
func Cost(kind string, audience, bytes int) float64 {
	p, ok := prices[kind]
	if !ok {
		p = defaultPrice
	}
	c := p.base
	if p.fanOut && audience > 0 {
		c += float64(audience) / FanOutUnit * (1 + float64(max(bytes, 0))/FrameUnit)
	}
	return c
}

// FansOut reports whether kind's cost depends on its conversation's audience.
func FansOut(kind string) bool { return prices[kind].fanOut }

// Free reports whether kind is not counted: keep-alives and the
// authentication that has no user yet.
func Free(kind string) bool { return kind == protocol.EvPing || kind == protocol.EvAuth }

// Package bus carries events between the domain and the connections that
// deliver them, within one node (bus/local) or across nodes (bus/redis).
// bustest holds the conformance suite.
package bus

// Event is one thing that happened, already encoded once for every
// recipient. Data is the JSON of the event's payload (see package protocol);
// the WebSocket layer wraps it in an envelope without re-encoding it.
type Event struct {
	Name string // protocol event name, e.g. "chat:message"
	// ConversationID and Seq are set for message events so that a connection
	// catching up (chat:sync) can drop what it already replayed. Seq is
	// also set on events about a message (an edit, a deletion, a read up
	// to it): with several nodes they wait for that seq (package ws).
	ConversationID string
	Seq            int64
	// Device, when set, is the one connection (of those subscribed to the
	// topic) the event is for: call signalling goes to a single device of
	// a user, through the user's topic.
	Device string
	// SkipUser, when set, is a user whose connections do not get the event:
	// someone typing is not told that they type.
	SkipUser string
	Data     []byte
}

// Gap is the Name of the event a bus delivers to a subscription, in order
// with the topic's other events, when events of the topic published before
// it may not have reached the subscription: the node's link to a shared
// broker dropped and came back, or a node could not hand events to the
// broker. A Gap carries nothing else (Data is nil). Events after it are
// delivered as usual; a subscriber that needs every event (a connection's
// chat:message stream) recovers what it missed from the store, as a
// resuming client does (a server-driven chat:sync, or closing the
// connection with a resume close code). The local bus never delivers one:
// nothing between its publishers and subscribers can fail.
const Gap = "bus:gap"

// Handler receives events of a topic. It runs on the publisher's goroutine
// for the local bus and must not block.
type Handler func(topic string, ev Event)

// Bus is a topic-based publish/subscribe. Topics are plain strings:
//
//	c:<conversation id>  events of a conversation, for its members
//	u:<user id>          events for one user (added to a conversation, ...)
//	i:<account id>       inbox events, for the account's agents and owners
//	iv:<account id>      agent presence, for the account's visitors
//	inbox:address        an account's inbox address was regenerated (every node's inbox cache)
//	chat:members         a membership changed (every node's membership cache)
//
// Delivery within a topic is in publish order. Events published before
// Subscribe returns are not delivered to it. A bus whose delivery can fail
// (bus/redis) never drops an event silently: the subscriptions that may
// have missed events get a Gap event.
type Bus interface {
	// Publish hands ev to the subscribers of topic. A bus across nodes may
	// return before delivery; an error means the bus did not take the
	// event (it is closed).
	Publish(topic string, ev Event) error
	// Subscribe registers h for topic and returns a function that removes it.
	Subscribe(topic string, h Handler) (unsubscribe func())
	Close() error
}

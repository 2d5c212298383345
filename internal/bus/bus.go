// Package bus carries events between the domain and the connections that
// deliver them, within one node (bus/local) or across nodes (bus/redis, a
// later issue). bustest holds the conformance suite.
package bus

// Event is one thing that happened, already encoded once for every
// recipient. Data is the JSON of the event's payload (see package protocol);
// the WebSocket layer wraps it in an envelope without re-encoding it.
type Event struct {
	Name string // protocol event name, e.g. "chat:message"
	// ConversationID and Seq are set for message events so that a connection
	// catching up (chat:sync) can drop what it already replayed.
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

// Handler receives events of a topic. It runs on the publisher's goroutine
// for the local bus and must not block.
type Handler func(topic string, ev Event)

// Bus is a topic-based publish/subscribe. Topics are plain strings:
//
//	c:<conversation id>  events of a conversation, for its members
//	u:<user id>          events for one user (added to a conversation, ...)
//	i:<account id>       inbox events, for the account's agents and owners
//	iv:<account id>      agent presence, for the account's visitors
//
// Delivery within a topic is in publish order. Events published before
// Subscribe returns are not delivered to it.
type Bus interface {
	Publish(topic string, ev Event) error
	// Subscribe registers h for topic and returns a function that removes it.
	Subscribe(topic string, h Handler) (unsubscribe func())
	Close() error
}

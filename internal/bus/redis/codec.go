package redis

import (
	"encoding/binary"
	"errors"

	"github.com/parley-chat/parley/internal/bus"
)

// An event crosses Redis as one binary envelope: every field of bus.Event,
// including those only the receiving node's hub reads (Device, SkipUser),
// so that the event a subscriber gets is the one published.
//
//	version byte (1)
//	flags   byte (bit 0: Data is not nil)
//	Name, ConversationID, Device, SkipUser: uvarint length, bytes
//	Seq: varint
//	Data: the rest
//
// Data is the event's JSON as it is, not re-encoded.
const (
	envelopeV1  = 1
	flagHasData = 1
)

var errEnvelope = errors.New("malformed event envelope")

func encode(ev bus.Event) []byte {
	n := 2 + 4*binary.MaxVarintLen32 + binary.MaxVarintLen64 +
		len(ev.Name) + len(ev.ConversationID) + len(ev.Device) + len(ev.SkipUser) + len(ev.Data)
	p := make([]byte, 0, n)
	var flags byte
	if ev.Data != nil {
		flags |= flagHasData
	}
	p = append(p, envelopeV1, flags)
	for _, s := range [...]string{ev.Name, ev.ConversationID, ev.Device, ev.SkipUser} {
		p = binary.AppendUvarint(p, uint64(len(s)))
		p = append(p, s...)
	}
	p = binary.AppendVarint(p, ev.Seq)
	return append(p, ev.Data...)
}

// decode reads an envelope. The strings share the payload's memory.
func decode(p string) (bus.Event, error) {
	var ev bus.Event
	if len(p) < 2 || p[0] != envelopeV1 {
		return ev, errEnvelope
	}
	flags := p[1]
	p = p[2:]
	for _, f := range [...]*string{&ev.Name, &ev.ConversationID, &ev.Device, &ev.SkipUser} {
		n, k := uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return bus.Event{}, errEnvelope
		}
		*f = p[k : k+int(n)]
		p = p[k+int(n):]
	}
	seq, k := varint(p)
	if k <= 0 {
		return bus.Event{}, errEnvelope
	}
	ev.Seq = seq
	if flags&flagHasData != 0 {
		ev.Data = []byte(p[k:])
	} else if len(p) > k {
		return bus.Event{}, errEnvelope
	}
	return ev, nil
}

// uvarint and varint are binary's, on a string (no copy of the payload).
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, -1
			}
			return x | uint64(c)<<shift, i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

func varint(s string) (int64, int) {
	ux, n := uvarint(s)
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x, n
}

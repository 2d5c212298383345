// Package ids makes the server's identifiers: a short type prefix and 16
// random base32 characters (80 bits), e.g. "msg_5k3q0c9x8v2m4h7t".
package ids

import (
	"crypto/rand"
	"encoding/base32"
	"time"
)

var enc = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// New returns prefix + "_" + 16 random characters.
func New(prefix string) string {
	var b [10]byte
	rand.Read(b[:]) // never fails on Linux (Go 1.24+ crashes rather than return an error)
	buf := make([]byte, 0, len(prefix)+1+16)
	buf = append(buf, prefix...)
	buf = append(buf, '_')
	return string(enc.AppendEncode(buf, b[:]))
}

// NewOrdered returns prefix + "_" + 26 characters: 48 bits of milliseconds
// since 1970 then 80 random bits, so ids made later sort later. Message ids
// use it: index inserts then land on the last page of the id index instead
// of a random one, which saves a page write per message in a group commit.
func NewOrdered(prefix string) string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	rand.Read(b[6:])
	buf := make([]byte, 0, len(prefix)+1+26)
	buf = append(buf, prefix...)
	buf = append(buf, '_')
	return string(enc.AppendEncode(buf, b[:]))
}

// Prefixes in use.
const (
	Account      = "acc"
	APIKey       = "key"
	User         = "usr"
	Conversation = "cnv"
	Message      = "msg"
	Attachment   = "att"
	Connection   = "con"
)

package ws

import (
	"encoding/binary"
	"sync"
)

// Server frames are unmasked text frames. A frame is built once and its
// bytes (header included) are shared by every connection it is queued on,
// so a queued frame must never be modified.

const (
	opCont  = 0x0
	opText  = 0x1
	opBin   = 0x2
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// frameHeaderLen is the size of an unmasked server frame header for n payload bytes.
func frameHeaderLen(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xFFFF:
		return 4
	default:
		return 10
	}
}

// putFrameHeader writes a final, unmasked header of opcode op for n payload
// bytes into b (which has room for frameHeaderLen(n) bytes).
func putFrameHeader(b []byte, op byte, n int) {
	b[0] = 0x80 | op
	switch {
	case n <= 125:
		b[1] = byte(n)
	case n <= 0xFFFF:
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:4], uint16(n))
	default:
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:10], uint64(n))
	}
}

// controlFrame builds a control frame (ping, pong, close) with a payload of at most 125 bytes.
func controlFrame(op byte, payload []byte) []byte {
	b := make([]byte, 2+len(payload))
	putFrameHeader(b, op, len(payload))
	copy(b[2:], payload)
	return b
}

// closeFrame builds a close frame with a status code and a short reason.
func closeFrame(code int, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	p := make([]byte, 2+len(reason))
	binary.BigEndian.PutUint16(p, uint16(code))
	copy(p[2:], reason)
	return controlFrame(opClose, p)
}

var (
	pingFrame = controlFrame(opPing, nil)

	closeFramesMu sync.Mutex
	closeFrames   = map[int][]byte{}
)

// sharedCloseFrame returns a cached close frame for a code with no reason:
// shutting down 20,000 connections builds one frame, not 20,000.
func sharedCloseFrame(code int) []byte {
	closeFramesMu.Lock()
	defer closeFramesMu.Unlock()
	f, ok := closeFrames[code]
	if !ok {
		f = closeFrame(code, "")
		closeFrames[code] = f
	}
	return f
}

// eventFrame builds the text frame of {"event":E,"id":I,"data":D}; id is
// omitted when empty and data when nil. event must be a valid event name
// (no escaping needed); id is escaped; data is raw JSON.
func eventFrame(event, id string, data []byte) []byte {
	n := len(`{"event":""}`) + len(event)
	if id != "" {
		n += len(`,"id":`) + jsonStringLen(id)
	}
	if data != nil {
		n += len(`,"data":`) + len(data)
	}
	h := frameHeaderLen(n)
	b := make([]byte, h, h+n)
	putFrameHeader(b, opText, n)
	b = append(b, `{"event":"`...)
	b = append(b, event...)
	b = append(b, '"')
	if id != "" {
		b = append(b, `,"id":`...)
		b = appendJSONString(b, id)
	}
	if data != nil {
		b = append(b, `,"data":`...)
		b = append(b, data...)
	}
	b = append(b, '}')
	return b
}

const hexDigits = "0123456789abcdef"

func jsonEscape(c byte) bool { return c < 0x20 || c == '"' || c == '\\' }

func jsonStringLen(s string) int {
	n := 2
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
			n += 2
		case c < 0x20:
			n += 6
		default:
			n++
		}
	}
	return n
}

// appendJSONString appends s as a JSON string. s is valid UTF-8 (it came
// out of encoding/json, which replaces invalid bytes).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !jsonEscape(c) {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

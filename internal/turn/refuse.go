package turn

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"net"
	"time"

	"github.com/pion/stun/v4"
	pturn "github.com/pion/turn/v5"
)

// A CreatePermission or ChannelBind naming a peer the filter refuses is
// answered 403 Forbidden (RFC 8656 §9.2 and §11.2 "Forbidden", as coturn
// answers), before pion sees it: pion answers such a ChannelBind with 401
// Unauthorized, which a client takes for a wrong password. The request
// must authenticate (USERNAME, REALM and a MESSAGE-INTEGRITY the secret
// gives), so a stranger learns nothing; anything else, including a
// request with a stale nonce or no allocation, is pion's to answer (pion's
// permission handler applies the same filter behind this one).

var (
	createPermissionRequest = stun.NewType(stun.MethodCreatePermission, stun.ClassRequest).Value()
	channelBindRequest      = stun.NewType(stun.MethodChannelBind, stun.ClassRequest).Value()
)

// refuser builds the 403 answers.
type refuser struct {
	allowed func(peer net.IP) bool
	// key is the long-term credential key of an authenticated username.
	key func(username, realm string) (key []byte, ok bool)
}

// answer returns the 403 response to the datagram b, or nil if pion is to
// answer it. Only the two request types are decoded: everything else
// costs two comparisons.
func (r *refuser) answer(b []byte) []byte {
	if !stun.IsMessage(b) {
		return nil
	}
	if t := binary.BigEndian.Uint16(b); t != createPermissionRequest && t != channelBindRequest {
		return nil
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if m.Decode() != nil {
		return nil
	}
	forbidden := false
	_ = m.ForEach(stun.AttrXORPeerAddress, func(m *stun.Message) error {
		var peer stun.XORMappedAddress
		if peer.GetFromAs(m, stun.AttrXORPeerAddress) == nil && !r.allowed(peer.IP) {
			forbidden = true
		}
		return nil
	})
	if !forbidden {
		return nil
	}
	var user stun.Username
	var realm stun.Realm
	if user.GetFrom(m) != nil || realm.GetFrom(m) != nil {
		return nil
	}
	key, ok := r.key(user.String(), realm.String())
	if !ok || stun.MessageIntegrity(key).Check(m) != nil {
		return nil
	}
	resp, err := stun.Build(&stun.Message{TransactionID: m.TransactionID},
		stun.NewType(m.Type.Method, stun.ClassErrorResponse), stun.CodeForbidden,
		stun.MessageIntegrity(key), stun.Fingerprint)
	if err != nil {
		return nil
	}
	return resp.Raw
}

// refusingListener is a TCP (or TLS) listener whose connections pass the
// client's frames to pion through the refuser.
type refusingListener struct {
	net.Listener
	r *refuser
}

func (l *refusingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &refusingConn{Conn: c, frames: pturn.NewSTUNConn(c), r: l.r, buf: make([]byte, frameBuffer)}, nil
}

// frameBuffer holds any frame pion takes: it reads with a 1600-byte buffer
// (its InboundMTU), and a larger frame ends the connection here as there.
const frameBuffer = 2048

// refusingConn reads the stream one TURN frame at a time (STUN message or
// ChannelData, as pion does), answers the refused requests itself and
// hands the rest to pion's reader unchanged.
type refusingConn struct {
	net.Conn
	frames  *pturn.STUNConn
	r       *refuser
	buf     []byte
	pending []byte // the part of a frame pion's read did not take
	shaken  bool
}

func (c *refusingConn) Read(p []byte) (int, error) {
	if !c.shaken {
		// pion completes a TLS handshake within 10 s before reading, but
		// it cannot see the *tls.Conn under this one.
		c.shaken = true
		if tc, ok := c.Conn.(*tls.Conn); ok {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := tc.HandshakeContext(ctx)
			cancel()
			if err != nil {
				return 0, err
			}
		}
	}
	for len(c.pending) == 0 {
		n, _, err := c.frames.ReadFrom(c.buf)
		if err != nil {
			return 0, err
		}
		if resp := c.r.answer(c.buf[:n]); resp != nil {
			if _, err := c.Conn.Write(resp); err != nil {
				return 0, err
			}
			continue
		}
		c.pending = c.buf[:n]
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

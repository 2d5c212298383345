package bench

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/parley-chat/parley/client"
)

// clientConn adapts *client.Conn, the project's Go client, to conn.
type clientConn struct{ c *client.Conn }

var _ conn = clientConn{}

// clientDialer dials with package client. Server events go to onFrame raw
// (client.Options.OnFrame, no JSON decoding); a connection that does not
// look at them discards them, so an unread event queue never stalls it.
func clientDialer(wsURL string) dialer {
	return func(ctx context.Context, token string, onFrame func([]byte)) (conn, error) {
		if onFrame == nil {
			onFrame = func([]byte) {}
		}
		c, err := client.Dial(ctx, wsURL, token, &client.Options{OnFrame: onFrame})
		if err != nil {
			return nil, err
		}
		return clientConn{c}, nil
	}
}

func (c clientConn) Request(ctx context.Context, event string, data any) (json.RawMessage, error) {
	var raw json.RawMessage
	err := c.c.Request(ctx, event, data, &raw)
	var ce *client.Error
	if errors.As(err, &ce) {
		return nil, &replyError{e: protocolError(ce.Code, ce.Message)}
	}
	return raw, err
}

func (c clientConn) Close() error { return c.c.Close() }

package bench

import "fmt"

// newDialer returns the load side's WebSocket client.
func newDialer(kind, wsURL string) (dialer, error) {
	switch kind {
	case "raw":
		return rawDialer(wsURL), nil
	case "client":
		return clientDialer(wsURL), nil
	}
	return nil, fmt.Errorf("unknown --conn %q", kind)
}

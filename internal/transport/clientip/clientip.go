// Package clientip finds the address a request comes from, for per-IP
// limits. Both transports (REST and WebSocket) use it, so a client is the
// same "IP" to every limit.
package clientip

import (
	"net"
	"net/http"
	"strings"
)

// Of returns the client IP of r: the last X-Forwarded-For entry when
// trustProxy is set (only behind a reverse proxy you control, which
// appends the address it saw), else the TCP peer's address.
func Of(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip := strings.TrimSpace(last); ip != "" {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

package api_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/transport/api"
	"github.com/parley-chat/parley/internal/turn"
	"github.com/parley-chat/parley/protocol"
)

func TestICEServers(t *testing.T) {
	ice := &turn.ICE{Secret: "coturn-static-auth-secret", External: []string{"stun:turn.example:3478", "turn:turn.example:3478?transport=udp"}, TTL: time.Hour}
	e := newEnv(t, api.Config{ICEServers: func(id auth.Identity) []protocol.ICEServer { return ice.For(id.UserID, time.Now()) }})
	v := e.user(e.acc, "vic", protocol.RoleVisitor)
	var r struct {
		ICEServers []protocol.ICEServer `json:"ice_servers"`
	}
	v.mustJSON("GET", "/ice-servers", nil, 200, &r)
	if len(r.ICEServers) != 2 || r.ICEServers[0].URLs[0] != "stun:turn.example:3478" || r.ICEServers[0].Username != "" {
		t.Fatalf("ice servers = %+v", r.ICEServers)
	}
	cred := r.ICEServers[1]
	exp, user, _ := strings.Cut(cred.Username, ":")
	if user != v.id || cred.URLs[0] != "turn:turn.example:3478?transport=udp" {
		t.Fatalf("turn entry = %+v", cred)
	}
	// What an external coturn with the same secret computes.
	wantUser, wantPass := turn.RESTCredential("coturn-static-auth-secret", v.id, time.Unix(parseInt(t, exp), 0))
	if cred.Username != wantUser || cred.Credential != wantPass {
		t.Fatalf("credential %s/%s, want %s/%s", cred.Username, cred.Credential, wantUser, wantPass)
	}
	e.as(e.key).wantErr("GET", "/ice-servers", nil, 403, "forbidden")
	e.as("").wantErr("GET", "/ice-servers", nil, 401, "unauthenticated")
}

func parseInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

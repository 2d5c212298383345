package api_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/parley-chat/parley/internal/transport/api"
	"github.com/parley-chat/parley/protocol"
)

func TestPushRoutes(t *testing.T) {
	e := newEnv(t, api.Config{})
	agent := e.user(e.acc, "ann", protocol.RoleAgent)
	visitor := e.user(e.acc, "vic", protocol.RoleVisitor)
	member := e.user(e.acc, "mo", protocol.RoleMember)

	var key protocol.PushKey
	agent.mustJSON("GET", "/push/key", nil, 200, &key)
	if b, err := base64.RawURLEncoding.DecodeString(key.PublicKey); err != nil || len(b) != 65 || b[0] != 4 {
		t.Fatalf("public key %q: %v", key.PublicKey, err)
	}
	k, _ := ecdh.P256().GenerateKey(rand.Reader)
	var sub protocol.PushSubscription
	sub.Endpoint = "https://fcm.example/send/abc"
	sub.Keys.P256dh = base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes())
	sub.Keys.Auth = base64.RawURLEncoding.EncodeToString(make([]byte, 16))
	for _, c := range []*client{visitor, member, e.as(e.key)} {
		c.wantErr("GET", "/push/key", nil, 403, "forbidden")
		c.wantErr("POST", "/push/subscriptions", sub, 403, "forbidden")
	}
	bad := sub
	bad.Endpoint = "http://fcm.example/send/abc"
	agent.wantErr("POST", "/push/subscriptions", bad, 400, "bad_request")
	if r := agent.do("POST", "/push/subscriptions", sub); r.status != 204 {
		t.Fatalf("subscribe: %d %s", r.status, r.body)
	}
	list, err := e.st.ListPushSubscriptions(t.Context(), e.acc.ID)
	if err != nil || len(list) != 1 || list[0].UserID != agent.id {
		t.Fatalf("stored: %+v %v", list, err)
	}
	e.user(e.acc, "bea", protocol.RoleAgent).wantErr("DELETE", "/push/subscriptions", map[string]string{"endpoint": sub.Endpoint}, 404, "not_found")
	if r := agent.do("DELETE", "/push/subscriptions", map[string]string{"endpoint": sub.Endpoint}); r.status != 204 {
		t.Fatalf("unsubscribe: %d %s", r.status, r.body)
	}
}

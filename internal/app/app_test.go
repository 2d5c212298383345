package app

import (
	"testing"

	"github.com/parley-chat/parley/internal/config"
)

// The presence_max_members setting says 0 = push to no group; chat reads 0
// as "use the default", so the app maps it.
func TestPresenceMaxMapsZeroToNone(t *testing.T) {
	if got := presenceMax(0); got >= 0 {
		t.Fatalf("presenceMax(0) = %d, want negative (no groups)", got)
	}
	if got := presenceMax(50); got != 50 {
		t.Fatalf("presenceMax(50) = %d", got)
	}
}

// One switch picks every implementation: nothing set is one node on this
// machine; database_url and redis_url each move their part out.
func TestBackendsOf(t *testing.T) {
	tests := []struct {
		db, redis string
		want      Backends
	}{
		{"", "", Backends{StoreSQLite, BusLocal, BudgetMemory}},
		{"postgres://db/parley", "", Backends{StorePostgres, BusLocal, BudgetMemory}},
		{"", "redis://r:6379/0", Backends{StoreSQLite, BusRedis, BudgetRedis}},
		{"postgres://db/parley", "redis://r:6379/0", Backends{StorePostgres, BusRedis, BudgetRedis}},
	}
	for _, tt := range tests {
		cfg := config.Default()
		cfg.DatabaseURL, cfg.RedisURL = tt.db, tt.redis
		if got := BackendsOf(cfg); got != tt.want {
			t.Errorf("database_url %q, redis_url %q: %+v, want %+v", tt.db, tt.redis, got, tt.want)
		}
	}
}

// Without node_id every node gets a name of its own.
func TestNodeIDDefault(t *testing.T) {
	cfg := config.Default()
	a, b := NodeID(cfg), NodeID(cfg)
	if a == b || a == "" {
		t.Fatalf("two default node ids: %q, %q", a, b)
	}
	cfg.NodeID = "eu-1"
	if got := NodeID(cfg); got != "eu-1" {
		t.Fatalf("NodeID = %q, want eu-1", got)
	}
}

package redis_test

import (
	"testing"

	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/bus/bustest"
	redisbus "github.com/parley-chat/parley/internal/bus/redis"
	"github.com/parley-chat/parley/internal/redistest"
)

func TestRedisBus(t *testing.T) {
	t.Parallel()
	c := redistest.Client(t)
	bustest.Run(t, func(t *testing.T) bus.Bus {
		b := open(t, c, redisbus.Config{Prefix: redistest.Prefix(t)})
		if !b.Sharded() {
			t.Error("Redis 7 runs here, but the bus did not pick sharded pub/sub")
		}
		return b
	})
}

func TestRedisBusClassic(t *testing.T) {
	t.Parallel()
	c := redistest.Client(t)
	bustest.Run(t, func(t *testing.T) bus.Bus {
		return open(t, c, redisbus.Config{Prefix: redistest.Prefix(t), Classic: true})
	})
}

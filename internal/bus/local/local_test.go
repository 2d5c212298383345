package local_test

import (
	"testing"

	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/bus/bustest"
	"github.com/parley-chat/parley/internal/bus/local"
)

func TestLocalBus(t *testing.T) {
	bustest.Run(t, func(*testing.T) bus.Bus { return local.New() })
}

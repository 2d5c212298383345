package sfu

import "testing"

func TestPickLayer(t *testing.T) {
	all := [maxLayers]layerView{
		{ok: true, width: 320, height: 180, bitrate: 150_000},
		{ok: true, width: 640, height: 360, bitrate: 500_000},
		{ok: true, width: 1280, height: 720, bitrate: 1_500_000},
	}
	unknown := [maxLayers]layerView{{ok: true}, {ok: true}, {ok: true}}
	noMid := all
	noMid[1].ok = false
	onlyLow := [maxLayers]layerView{{ok: true, bitrate: 3_000_000}}
	for _, c := range []struct {
		name              string
		views             [maxLayers]layerView
		w, h, budget, max int
		want              int32
	}{
		{"no preference: top", all, 0, 0, 10_000_000, 0, 2},
		{"tile fits mid", all, 640, 360, 10_000_000, 0, 1},
		{"tile just over mid", all, 641, 360, 10_000_000, 0, 2},
		{"thumbnail", all, 100, 60, 10_000_000, 0, 0},
		{"bandwidth caps", all, 0, 0, 600_000, 0, 1},
		{"bandwidth floor is the lowest", all, 0, 0, 10_000, 0, 0},
		{"MaxBitrate caps", all, 0, 0, 10_000_000, 1_000_000, 1},
		{"missing mid: up to top", noMid, 500, 300, 10_000_000, 0, 2},
		{"missing mid: down to low under budget", noMid, 0, 0, 1_000_000, 0, 0},
		{"sizes unknown: halving from 720p", unknown, 640, 360, 10_000_000, 0, 1},
		{"only layer even above the caps", onlyLow, 0, 0, 100_000, 100_000, 0},
		{"nothing available", [maxLayers]layerView{}, 0, 0, 1, 0, -1},
	} {
		if got := pickLayer(c.views, c.w, c.h, c.budget, c.max); got != c.want {
			t.Errorf("%s: layer %d, want %d", c.name, got, c.want)
		}
	}
}

// A subscriber held to a layer whose estimate is capped by what it
// receives tries the next one up, but only near that cap, only up to the
// size it asked for, and only from where the estimate put it.
func TestProbeUp(t *testing.T) {
	all := [maxLayers]layerView{
		{ok: true, bitrate: 150_000},
		{ok: true, bitrate: 500_000},
		{ok: true, bitrate: 1_500_000},
	}
	noMid := all
	noMid[1].ok = false
	for _, c := range []struct {
		name                     string
		views                    [maxLayers]layerView
		cur, want, sized, budget int32
		up                       int32
	}{
		{"capped at 1.5× q: try h", all, 0, 0, 2, 225_000, 1},
		{"not near the cap (congested): stay", all, 0, 0, 2, 180_000, -1},
		{"capped at 1.5× h: try f", all, 1, 1, 2, 750_000, 2},
		{"the size asks for h only", all, 1, 1, 1, 750_000, -1},
		{"h is gone: try f", noMid, 0, 0, 2, 225_000, 2},
		{"the estimate wants lower than we get: no probe", all, 1, 0, 2, 800_000, -1},
		{"paused", all, -1, 0, 2, 1_000_000, -1},
	} {
		if got := probeUp(c.views, c.cur, c.want, c.sized, int(c.budget)); got != c.up {
			t.Errorf("%s: probeUp = %d, want %d", c.name, got, c.up)
		}
	}
}

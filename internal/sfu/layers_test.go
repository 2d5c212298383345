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

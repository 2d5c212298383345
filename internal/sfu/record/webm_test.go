package record

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestAppendSize(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		want []byte
	}{
		{0, []byte{0x80}},
		{126, []byte{0xFE}},
		{127, []byte{0x40, 0x7F}}, // 0xFF alone would mean "unknown"
		{16382, []byte{0x7F, 0xFE}},
		{16383, []byte{0x20, 0x3F, 0xFF}},
		{1 << 40, []byte{0x05, 0, 0, 0, 0, 0}},
	} {
		if got := appendSize(nil, tc.n); !bytes.Equal(got, tc.want) {
			t.Errorf("appendSize(%d) = % x, want % x", tc.n, got, tc.want)
		}
		if n, l, ok := readVint(tc.want); !ok || n != tc.n || l != len(tc.want) {
			t.Errorf("readVint(% x) = %d, %d, %v", tc.want, n, l, ok)
		}
	}
	if got := appendSizeN(nil, 5, 8); !bytes.Equal(got, []byte{1, 0, 0, 0, 0, 0, 0, 5}) {
		t.Errorf("appendSizeN(5, 8) = % x", got)
	}
	for _, n := range []int{2, 11, 80, 128, 129, 200} {
		if got := appendVoid(nil, n); len(got) != n || got[0] != idVoid {
			t.Errorf("appendVoid(%d) is %d bytes: % x", n, len(got), got)
		}
	}
}

// element is one EBML element read back by the tests' own small parser.
type element struct {
	id       uint32
	pos      int64 // of the ID
	data     int64 // of the content
	size     int64 // -1: unknown
	children []element
	body     []byte
}

func readVint(b []byte) (uint64, int, bool) {
	if len(b) == 0 || b[0] == 0 {
		return 0, 0, false
	}
	l := 1
	for b[0]&(0x80>>(l-1)) == 0 {
		l++
	}
	if len(b) < l {
		return 0, 0, false
	}
	n := uint64(b[0] & (0xFF >> l))
	for i := 1; i < l; i++ {
		n = n<<8 | uint64(b[i])
	}
	return n, l, true
}

var masters = map[uint32]bool{idEBML: true, idSegment: true, idSeekHead: true, idSeek: true,
	idInfo: true, idTracks: true, idTrackEntry: true, idVideo: true, idAudio: true,
	idCluster: true, idCues: true, idCuePoint: true, idCueTrackPositions: true}

// parseEBML reads the elements of b[from:to] (offsets into the file).
func parseEBML(t *testing.T, file []byte, from, to int64) []element {
	t.Helper()
	var out []element
	for p := from; p < to; {
		idv, il, ok := readVint(file[p:])
		if !ok || il > 4 {
			t.Fatalf("bad element ID at %d", p)
		}
		id := uint32(idv | 1<<(7*il)) // IDs keep their marker bit
		size, sl, ok := readVint(file[p+int64(il):])
		if !ok {
			t.Fatalf("bad size at %d", p+int64(il))
		}
		e := element{id: id, pos: p, data: p + int64(il+sl), size: int64(size)}
		end := e.data + e.size
		if size == 1<<(7*sl)-1 {
			e.size = -1
			end = to
		}
		if end > to {
			t.Fatalf("element %x at %d ends at %d, past its parent's end %d", id, p, end, to)
		}
		if masters[id] {
			e.children = parseEBML(t, file, e.data, end)
		} else {
			e.body = file[e.data:end]
		}
		out = append(out, e)
		p = end
	}
	return out
}

func find(es []element, id uint32) []element {
	var out []element
	for _, e := range es {
		if e.id == id {
			out = append(out, e)
		}
	}
	return out
}

func uintOf(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n
}

// TestFinishedLayout reads a closed file back and checks what Close patches:
// sizes, Duration, SeekHead and Cues.
func TestFinishedLayout(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out.webm")
	record(t, out, Options{Codec: CodecVP8}, vp8RTP(t))
	file, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	top := parseEBML(t, file, 0, int64(len(file)))
	if len(top) != 2 || top[0].id != idEBML || top[1].id != idSegment {
		t.Fatalf("top level: %+v", top)
	}
	seg := top[1]
	if seg.size != int64(len(file))-seg.data {
		t.Errorf("segment size %d, want %d", seg.size, int64(len(file))-seg.data)
	}
	clusters := find(seg.children, idCluster)
	if len(clusters) < 4 {
		t.Errorf("%d clusters, want one a second at least", len(clusters))
	}
	for _, c := range clusters {
		if c.size < 0 {
			t.Errorf("cluster at %d has no size", c.pos)
		}
		if tc := find(c.children, idTimecode); len(tc) != 1 {
			t.Errorf("cluster at %d: no timecode", c.pos)
		}
	}
	info := find(seg.children, idInfo)[0]
	d := find(info.children, idDuration)
	if len(d) != 1 {
		t.Fatalf("no Duration in Info")
	}
	if ms := math.Float64frombits(binary.BigEndian.Uint64(d[0].body)); math.Abs(ms-4000) > 50 {
		t.Errorf("Duration %.0f ms, want ~4000", ms)
	}
	cues := find(seg.children, idCues)
	if len(cues) != 1 {
		t.Fatalf("%d Cues elements, want 1", len(cues))
	}
	points := find(cues[0].children, idCuePoint)
	if len(points) != 4 {
		t.Errorf("%d cue points, want 4 (a keyframe a second)", len(points))
	}
	for _, cp := range points {
		tp := find(cp.children, idCueTrackPositions)[0]
		pos := int64(uintOf(find(tp.children, idCueClusterPosition)[0].body)) + seg.data
		if cs := find(clusters, idCluster); !containsPos(cs, pos) {
			t.Errorf("cue point to %d, where no cluster starts", pos)
		}
	}
	sh := find(seg.children, idSeekHead)
	if len(sh) != 1 {
		t.Fatalf("%d SeekHeads, want 1", len(sh))
	}
	for _, s := range find(sh[0].children, idSeek) {
		id := uint32(uintOf(find(s.children, idSeekID)[0].body))
		pos := int64(uintOf(find(s.children, idSeekPosition)[0].body)) + seg.data
		if !containsPos(find(seg.children, id), pos) {
			t.Errorf("SeekHead: %x at %d, where there is no such element", id, pos)
		}
	}
}

func containsPos(es []element, pos int64) bool {
	for _, e := range es {
		if e.pos == pos {
			return true
		}
	}
	return false
}

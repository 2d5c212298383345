package sfu

import "testing"

// FuzzVP8Keyframe: the payload descriptor parser never panics, and a
// keyframe it reports starts a frame.
func FuzzVP8Keyframe(f *testing.F) {
	f.Add(vp8(true, 'k', 1))
	f.Add(vp8(false, 'd', 2))
	f.Add([]byte{0x90, 0x80, 0x80})             // X, I with a truncated 15-bit picture ID
	f.Add([]byte{0x90, 0xe0, 0x12, 0x34, 0x00}) // X, I, L, T
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		key, w, h := vp8Keyframe(p)
		if key && (len(p) == 0 || p[0]&0x10 == 0) {
			t.Fatalf("keyframe without the S bit: %x", p)
		}
		if w < 0 || h < 0 || w > 0x3fff || h > 0x3fff {
			t.Fatalf("size %dx%d", w, h)
		}
	})
}

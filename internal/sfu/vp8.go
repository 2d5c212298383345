package sfu

// vp8Keyframe reports whether an RTP payload of VP8 (RFC 7741) starts a
// keyframe and, if so, the frame's size from the keyframe header (0 when the
// packet is too short to hold it). Only the first packet of a frame (S bit
// set, partition 0) can start a keyframe.
func vp8Keyframe(p []byte) (key bool, width, height int) {
	if len(p) < 1 {
		return false, 0, 0
	}
	d := p[0]
	if d&0x10 == 0 || d&0x07 != 0 { // S=0 or PID≠0: not the start of a frame
		return false, 0, 0
	}
	i := 1
	if d&0x80 != 0 { // X: extension byte follows
		if len(p) < 2 {
			return false, 0, 0
		}
		x := p[1]
		i = 2
		if x&0x80 != 0 { // I: picture ID, 7 or 15 bits
			if len(p) <= i {
				return false, 0, 0
			}
			if p[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX
			i++
		}
	}
	if len(p) <= i {
		return false, 0, 0
	}
	h := p[i:]
	if h[0]&0x01 != 0 { // P bit of the frame tag: 1 = interframe
		return false, 0, 0
	}
	// frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height.
	if len(h) < 10 || h[3] != 0x9d || h[4] != 0x01 || h[5] != 0x2a {
		return true, 0, 0
	}
	width = int(h[6]) | int(h[7]&0x3f)<<8
	height = int(h[8]) | int(h[9]&0x3f)<<8
	return true, width, height
}

package ws

import "sync"

// Payload buffers are borrowed only while a frame is in flight, so an idle
// connection holds none. Size classes keep a 200-byte request from pinning
// a 64 KiB buffer.
var bufClasses = [...]int{512, 4 << 10, 16 << 10, 64 << 10}

var bufPools [len(bufClasses)]sync.Pool

// getBuf returns a buffer of length n; putBuf takes it back.
func getBuf(n int) *[]byte {
	for i, size := range bufClasses {
		if n <= size {
			if p, ok := bufPools[i].Get().(*[]byte); ok {
				*p = (*p)[:n]
				return p
			}
			b := make([]byte, n, size)
			return &b
		}
	}
	b := make([]byte, n)
	return &b
}

func putBuf(p *[]byte) {
	c := cap(*p)
	for i, size := range bufClasses {
		if c == size {
			*p = (*p)[:0]
			bufPools[i].Put(p)
			return
		}
	}
}

//go:build !(linux && (amd64 || arm64))

package sfu

// batchSys without sendmmsg: the queue is sent one datagram at a time.
type batchSys struct{}

func (s *batchSys) init(*batchConn) {}

func (s *batchSys) send(c *batchConn) { c.sendEach(0) }

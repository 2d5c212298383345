package record

import (
	"bufio"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"time"
)

// The WebM layout, written as a live stream so that a file cut anywhere
// plays up to its last complete cluster:
//
//	EBML header
//	Segment (size unknown until Close)
//	  Void        reserved, becomes a SeekHead on Close
//	  Info        TimecodeScale 1 ms, DateUTC; a Void becomes Duration, which
//	              grows with each flush
//	  Tracks      one TrackEntry (number 1)
//	  Cluster     size unknown while open, patched when the next one starts
//	  Cluster ...
//	  Cues        written on Close
//
// Every cluster is flushed to the OS when the next one starts (so at least
// every clusterSpan of media, and at every video keyframe), and the track
// writer also flushes what is buffered every flushInterval. A cut file ends
// with an unknown-size cluster, which demuxers read up to the end of file.

const (
	clusterSpan   = 1000 // ms of media per cluster at most
	seekHeadSpace = 80   // bytes reserved for the SeekHead (3 entries take 68)
	durationSpace = 11   // Duration: 2-byte ID, 1-byte size, 8-byte float
	bufSize       = 64 << 10
)

// webmTrack describes the one track of a file.
type webmTrack struct {
	video         bool
	codecID       string // "V_VP8", "A_OPUS"
	width, height int
	sampleRate    float64
	channels      int
	codecPrivate  []byte
	seekPreRoll   uint64 // ns
}

type cuePoint struct {
	time int64 // ms
	pos  int64 // cluster position relative to the segment's data
}

// webmWriter writes one track's WebM file. It is not safe for concurrent
// use; a TrackWriter's goroutine owns it.
type webmWriter struct {
	f   *os.File
	bw  *bufio.Writer
	off int64 // file offset of the next byte written through bw

	segSizePos  int64 // offset of the Segment's 8-byte size
	segData     int64 // offset of the Segment's first child
	seekHeadPos int64
	infoPos     int64
	durationPos int64
	tracksPos   int64

	// duration (ms) is patched into Info whenever buffered bytes are
	// flushed, so even a cut file says about how long it is.
	duration, durationWritten float64

	inCluster      bool
	clusterSizePos int64
	clusterTime    int64 // ms
	clusterBlocks  int
	video          bool
	cues           []cuePoint

	scratch [32]byte
}

func newWebmWriter(f *os.File) *webmWriter {
	return &webmWriter{f: f, bw: bufio.NewWriterSize(f, bufSize)}
}

func (w *webmWriter) write(b []byte) error {
	n, err := w.bw.Write(b)
	w.off += int64(n)
	return err
}

// writeHeader writes everything before the first cluster and flushes it.
func (w *webmWriter) writeHeader(t webmTrack, start time.Time) error {
	w.video = t.video
	var b []byte
	var hdr []byte
	hdr = appendUint(hdr, idEBMLVersion, 1)
	hdr = appendUint(hdr, idEBMLReadVersion, 1)
	hdr = appendUint(hdr, idEBMLMaxIDLength, 4)
	hdr = appendUint(hdr, idEBMLMaxSizeLength, 8)
	hdr = appendString(hdr, idDocType, "webm")
	hdr = appendUint(hdr, idDocTypeVersion, 4)
	hdr = appendUint(hdr, idDocTypeReadVersion, 2)
	b = appendBytes(b, idEBML, hdr)

	b = appendID(b, idSegment)
	w.segSizePos = int64(len(b))
	b = append(b, unknownSize[:]...)
	w.segData = int64(len(b))

	w.seekHeadPos = int64(len(b))
	b = appendVoid(b, seekHeadSpace)

	var info []byte
	info = appendUint(info, idTimecodeScale, 1_000_000) // timestamps in ms
	// DateUTC counts nanoseconds from 2001-01-01T00:00:00 UTC.
	info = appendInt64(info, idDateUTC, start.Sub(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)).Nanoseconds())
	info = appendString(info, idMuxingApp, "parley")
	info = appendString(info, idWritingApp, "parley")
	durationAt := len(info)
	info = appendVoid(info, durationSpace)
	w.infoPos = int64(len(b))
	b = appendID(b, idInfo)
	b = appendSize(b, uint64(len(info)))
	w.durationPos = int64(len(b) + durationAt)
	b = append(b, info...)

	var te []byte
	te = appendUint(te, idTrackNumber, 1)
	te = appendUint(te, idTrackUID, rand.Uint64()|1)
	te = appendUint(te, idFlagLacing, 0)
	te = appendString(te, idCodecID, t.codecID)
	if len(t.codecPrivate) > 0 {
		te = appendBytes(te, idCodecPrivate, t.codecPrivate)
	}
	if t.video {
		te = appendUint(te, idTrackType, 1)
		var v []byte
		v = appendUint(v, idPixelWidth, uint64(t.width))
		v = appendUint(v, idPixelHeight, uint64(t.height))
		te = appendBytes(te, idVideo, v)
	} else {
		te = appendUint(te, idTrackType, 2)
		te = appendUint(te, idCodecDelay, 0)
		te = appendUint(te, idSeekPreRoll, t.seekPreRoll)
		var a []byte
		a = appendFloat(a, idSamplingFrequency, t.sampleRate)
		a = appendUint(a, idChannels, uint64(t.channels))
		te = appendBytes(te, idAudio, a)
	}
	w.tracksPos = int64(len(b))
	b = appendBytes(b, idTracks, appendBytes(nil, idTrackEntry, te))

	if err := w.write(b); err != nil {
		return err
	}
	return w.bw.Flush()
}

// writeFrame appends one frame at time ms (non-decreasing) as a SimpleBlock,
// starting a new cluster first when needed.
func (w *webmWriter) writeFrame(ms int64, key bool, data []byte) error {
	if !w.inCluster || ms-w.clusterTime >= clusterSpan ||
		(w.video && key && w.clusterBlocks > 0) {
		if err := w.startCluster(ms, key || !w.video); err != nil {
			return err
		}
	}
	b := w.scratch[:0]
	b = append(b, idSimpleBlock)
	b = appendSize(b, uint64(4+len(data)))
	b = append(b, 0x81) // track number 1
	b = binary.BigEndian.AppendUint16(b, uint16(int16(ms-w.clusterTime)))
	flags := byte(0)
	if key {
		flags = 0x80
	}
	b = append(b, flags)
	if err := w.write(b); err != nil {
		return err
	}
	w.clusterBlocks++
	return w.write(data)
}

// startCluster ends the open cluster (its bytes reach the OS and its size is
// patched in) and starts one at time ms. A cluster that starts with a
// keyframe gets a cue point.
func (w *webmWriter) startCluster(ms int64, cue bool) error {
	if err := w.endCluster(); err != nil {
		return err
	}
	if cue {
		w.cues = append(w.cues, cuePoint{time: ms, pos: w.off - w.segData})
	}
	b := appendID(w.scratch[:0], idCluster)
	w.clusterSizePos = w.off + int64(len(b))
	b = append(b, unknownSize[:]...)
	b = appendUint(b, idTimecode, uint64(ms))
	w.inCluster, w.clusterTime, w.clusterBlocks = true, ms, 0
	return w.write(b)
}

// endCluster flushes the open cluster to the OS and writes its size.
func (w *webmWriter) endCluster() error {
	if !w.inCluster {
		return nil
	}
	w.inCluster = false
	if err := w.flush(); err != nil {
		return err
	}
	size := w.off - (w.clusterSizePos + 8)
	return w.patch(w.clusterSizePos, appendSizeN(w.scratch[:0], uint64(size), 8))
}

func (w *webmWriter) patch(at int64, b []byte) error {
	_, err := w.f.WriteAt(b, at)
	return err
}

// flush hands buffered bytes to the OS, then the duration they make.
func (w *webmWriter) flush() error {
	if w.durationPos == 0 {
		return nil // no header yet
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	if w.duration == w.durationWritten {
		return nil
	}
	w.durationWritten = w.duration
	return w.patch(w.durationPos, appendFloat(w.scratch[:0], idDuration, w.duration))
}

// finish ends the last cluster, writes the Cues and patches the Segment size,
// the Duration (ms) and the SeekHead. The file stays open.
func (w *webmWriter) finish(durationMS float64) error {
	w.duration = durationMS
	if err := w.endCluster(); err != nil {
		return err
	}
	cuesPos := int64(-1)
	if len(w.cues) > 0 {
		var cps []byte
		for _, c := range w.cues {
			var tp []byte
			tp = appendUint(tp, idCueTrack, 1)
			tp = appendUint(tp, idCueClusterPosition, uint64(c.pos))
			var cp []byte
			cp = appendUint(cp, idCueTime, uint64(c.time))
			cp = appendBytes(cp, idCueTrackPositions, tp)
			cps = appendBytes(cps, idCuePoint, cp)
		}
		cuesPos = w.off
		if err := w.write(appendBytes(nil, idCues, cps)); err != nil {
			return err
		}
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	if err := w.patch(w.segSizePos, appendSizeN(nil, uint64(w.off-w.segData), 8)); err != nil {
		return err
	}
	if err := w.flush(); err != nil { // the Duration, if it changed
		return err
	}
	var sh []byte
	seek := func(id uint32, pos int64) {
		var s []byte
		s = appendBytes(s, idSeekID, appendID(nil, id))
		s = appendUint(s, idSeekPosition, uint64(pos-w.segData))
		sh = appendBytes(sh, idSeek, s)
	}
	seek(idInfo, w.infoPos)
	seek(idTracks, w.tracksPos)
	if cuesPos >= 0 {
		seek(idCues, cuesPos)
	}
	b := appendBytes(nil, idSeekHead, sh)
	b = appendVoid(b, seekHeadSpace-len(b))
	return w.patch(w.seekHeadPos, b)
}

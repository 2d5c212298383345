// Package loadtest is `parley loadtest`: Go (pion) participants that join
// a running server's rooms or channels over its own protocol (package
// client's Room), publish synthetic VP8 and Opus, receive what the SFU
// forwards, and report forwarded packets and bytes per second, loss,
// jitter, and the server's CPU and memory (with --pid, from /proc).
package loadtest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/protocol"
)

// Config is one load test.
type Config struct {
	URL         string        // the server, http(s)://host:port
	APIKey      string        // an account's API key: mints the participants' tokens
	Rooms       int           // rooms (or channels) side by side
	Publishers  int           // per room: send video and audio (and receive the others)
	Subscribers int           // per room: receive only
	Channels    bool          // broadcast channels (one publisher each) instead of rooms
	Duration    time.Duration // measured, after Warmup
	Warmup      time.Duration
	VideoKbps   int // each publisher's synthetic video
	PID         int // the server's process, for its CPU and memory (0: not measured)
	Loopback    bool
}

// Report is what a run measured.
type Report struct {
	Participants  int
	Tracks        int     // remote tracks received, all subscribers
	PacketsPerSec float64 // RTP packets received per second, all participants
	MbitPerSec    float64
	LossPct       float64
	JitterMs      float64 // mean interarrival jitter of the video tracks (RFC 3550)
	ServerCPU     float64 // cores used by the server process, on average
	ServerRSSMiB  float64
	PerPartKiB    float64 // server memory grown per participant, from before the joins
}

// Main runs `parley loadtest`.
func Main(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c Config
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "the server")
	fs.StringVar(&c.APIKey, "key", os.Getenv("PARLEY_API_KEY"), "an account's API key (or PARLEY_API_KEY)")
	fs.IntVar(&c.Rooms, "rooms", 1, "rooms (or channels)")
	fs.IntVar(&c.Publishers, "publishers", 2, "publishers per room (they also receive each other)")
	fs.IntVar(&c.Subscribers, "subscribers", 4, "receive-only participants per room")
	fs.BoolVar(&c.Channels, "channels", false, "broadcast channels: one publisher each, the rest viewers")
	fs.DurationVar(&c.Duration, "duration", 20*time.Second, "how long to measure")
	fs.DurationVar(&c.Warmup, "warmup", 5*time.Second, "how long to let connections settle first")
	fs.IntVar(&c.VideoKbps, "video-kbps", 500, "each publisher's video bitrate")
	fs.IntVar(&c.PID, "pid", 0, "the server's process id, to report its CPU and memory")
	fs.BoolVar(&c.Loopback, "loopback", true, "use loopback addresses only (server on this machine)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.APIKey == "" {
		return errors.New("loadtest: --key (an API key) is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Warmup+c.Duration+2*time.Minute)
	defer cancel()
	r, err := Run(ctx, c, stderr)
	if err != nil {
		return err
	}
	kind := "rooms"
	if c.Channels {
		kind = "channels"
	}
	fmt.Fprintf(stdout, "%d %s × (%d publishers + %d subscribers) = %d participants, %d remote tracks, %s measured\n",
		c.Rooms, kind, r.Participants/max(c.Rooms, 1)-c.Subscribers, c.Subscribers, r.Participants, r.Tracks, c.Duration)
	fmt.Fprintf(stdout, "forwarded: %.0f packets/s, %.1f Mbit/s; loss %.2f%%; video jitter %.1f ms\n", r.PacketsPerSec, r.MbitPerSec, r.LossPct, r.JitterMs)
	if c.PID > 0 {
		fmt.Fprintf(stdout, "server: %.2f cores, %.0f MiB RSS (+%.0f KiB per participant); %.0f forwarded packets/s per core\n",
			r.ServerCPU, r.ServerRSSMiB, r.PerPartKiB, r.PacketsPerSec/max(r.ServerCPU, 0.01))
	}
	return nil
}

// participant is one Go client.
type participant struct {
	conn  *client.Conn
	room  *client.Room
	recvs []*receiver
	mu    sync.Mutex
}

// receiver counts one remote track's packets.
type receiver struct {
	packets, bytes, lost atomic.Int64
	video                bool
	mu                   sync.Mutex
	jitter               float64 // seconds
	lastTransit          float64
	lastSeq              uint16
	started              bool
}

func (r *receiver) read(t *webrtc.TrackRemote, clock float64) {
	start := time.Now()
	for {
		p, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		r.packets.Add(1)
		r.bytes.Add(int64(len(p.Payload) + 12))
		arrival := time.Since(start).Seconds()
		r.mu.Lock()
		if r.started {
			if gap := p.SequenceNumber - r.lastSeq; gap > 1 && gap < 1000 {
				r.lost.Add(int64(gap - 1))
			}
			transit := arrival - float64(p.Timestamp)/clock
			d := transit - r.lastTransit
			if d < 0 {
				d = -d
			}
			r.jitter += (d - r.jitter) / 16
			r.lastTransit = transit
		} else {
			r.lastTransit = arrival - float64(p.Timestamp)/clock
		}
		r.started, r.lastSeq = true, p.SequenceNumber
		r.mu.Unlock()
	}
}

// Run joins everyone, lets it settle, measures and leaves.
func Run(ctx context.Context, c Config, log io.Writer) (Report, error) {
	if c.Channels {
		c.Publishers = 1 // one broadcaster per channel
	}
	api := newAPI(c.Loopback)
	rss0 := procRSS(c.PID)
	var all []*participant
	defer func() {
		for _, p := range all {
			if p.room != nil {
				p.room.Close()
			}
			p.conn.Close()
		}
	}()
	stop := make(chan struct{})
	var senders sync.WaitGroup
	defer func() {
		close(stop)
		senders.Wait()
	}()
	for i := 0; i < c.Rooms; i++ {
		name := fmt.Sprintf("load-%d-%d", time.Now().Unix(), i)
		roomID := ""
		if !c.Channels {
			var rm protocol.Room
			if err := post(ctx, c, "/rooms", protocol.CreateRoom{Name: name}, &rm); err != nil {
				return Report{}, fmt.Errorf("creating a room: %w", err)
			}
			roomID = rm.ID
		}
		for j := 0; j < c.Publishers+c.Subscribers; j++ {
			publish := j < c.Publishers
			p, err := join(ctx, c, api, roomID, name, fmt.Sprintf("load%d-%d", i, j), publish, stop, &senders)
			if err != nil {
				return Report{}, err
			}
			all = append(all, p)
		}
		fmt.Fprintf(log, "room %d of %d: %d participants in\n", i+1, c.Rooms, c.Publishers+c.Subscribers)
	}
	time.Sleep(c.Warmup)
	cpu0, _ := procCPU(c.PID)
	t0 := time.Now()
	p0, b0, l0 := totals(all)
	time.Sleep(c.Duration)
	p1, b1, l1 := totals(all)
	secs := time.Since(t0).Seconds()
	cpu1, _ := procCPU(c.PID)
	r := Report{Participants: len(all)}
	var jit float64
	var nv int
	for _, p := range all {
		p.mu.Lock()
		r.Tracks += len(p.recvs)
		for _, rc := range p.recvs {
			if rc.video {
				rc.mu.Lock()
				jit += rc.jitter
				rc.mu.Unlock()
				nv++
			}
		}
		p.mu.Unlock()
	}
	r.PacketsPerSec = float64(p1-p0) / secs
	r.MbitPerSec = float64(b1-b0) * 8 / secs / 1e6
	if got := p1 - p0; got+(l1-l0) > 0 {
		r.LossPct = 100 * float64(l1-l0) / float64(got+(l1-l0))
	}
	if nv > 0 {
		r.JitterMs = 1000 * jit / float64(nv)
	}
	if c.PID > 0 {
		r.ServerCPU = (cpu1 - cpu0) / secs
		rss := procRSS(c.PID)
		r.ServerRSSMiB = rss / 1024
		if n := len(all); n > 0 {
			r.PerPartKiB = (rss - rss0) / float64(n)
		}
	}
	return r, nil
}

func totals(all []*participant) (packets, bytes, lost int64) {
	for _, p := range all {
		p.mu.Lock()
		for _, r := range p.recvs {
			packets += r.packets.Load()
			bytes += r.bytes.Load()
			lost += r.lost.Load()
		}
		p.mu.Unlock()
	}
	return
}

func join(ctx context.Context, c Config, api *webrtc.API, roomID, channel, user string, publish bool, stop chan struct{}, senders *sync.WaitGroup) (*participant, error) {
	var tok struct {
		Token string `json:"token"`
	}
	if err := post(ctx, c, "/tokens", map[string]string{"user": user, "role": protocol.RoleMember}, &tok); err != nil {
		return nil, fmt.Errorf("a token for %s: %w", user, err)
	}
	ws := "ws" + strings.TrimPrefix(strings.TrimRight(c.URL, "/"), "http") + "/ws"
	conn, err := client.Dial(ctx, ws, tok.Token, nil)
	if err != nil {
		return nil, err
	}
	p := &participant{conn: conn}
	rooms := client.NewRooms(conn)
	o := client.RoomOptions{API: api}
	var video, audio *webrtc.TrackLocalStaticRTP
	if publish {
		video, _ = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video-"+user, user)
		audio, _ = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio-"+user, user)
		o.Tracks = []webrtc.TrackLocal{video, audio}
	}
	switch {
	case roomID != "":
		p.room, err = rooms.Join(ctx, conn, roomID, o)
	case publish:
		p.room, err = rooms.Publish(ctx, conn, channel, o)
	default:
		p.room, err = rooms.Watch(ctx, conn, channel, o)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s joining: %w", user, err)
	}
	go func() {
		for t := range p.room.Tracks {
			rc := &receiver{video: t.Kind() == webrtc.RTPCodecTypeVideo}
			p.mu.Lock()
			p.recvs = append(p.recvs, rc)
			p.mu.Unlock()
			go rc.read(t, float64(t.Codec().ClockRate))
		}
	}()
	if publish {
		senders.Add(2)
		go sendVideo(video, c.VideoKbps, stop, senders)
		go sendAudio(audio, stop, senders)
	}
	return p, nil
}

// sendVideo sends synthetic VP8 at 30 frames a second, a keyframe every
// two seconds, each frame in packets of at most 1100 bytes.
func sendVideo(t *webrtc.TrackLocalStaticRTP, kbps int, stop chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	frameBytes := kbps * 1000 / 8 / 30
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	seq := uint16(0)
	buf := make([]byte, 1200)
	for n := uint32(0); ; n++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		key := n%60 == 0
		size := frameBytes
		if key {
			size *= 3
		}
		for off := 0; off < size; off += 1100 {
			chunk := min(1100, size-off)
			b := buf[:0]
			if off == 0 {
				b = append(b, 0x10) // S: a frame starts
				if key {
					b = append(b, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01) // 640×360
				} else {
					b = append(b, 0x01, 0x00, 0x00)
				}
			} else {
				b = append(b, 0x00)
			}
			for len(b) < chunk {
				b = append(b, byte(n))
			}
			b = binary.BigEndian.AppendUint32(b, n)
			_ = t.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: n * 3000, Marker: off+chunk >= size}, Payload: b})
			seq++
		}
	}
}

// sendAudio sends 20 ms Opus-sized packets (silence-shaped payloads).
func sendAudio(t *webrtc.TrackLocalStaticRTP, stop chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	payload := make([]byte, 80)
	payload[0] = 0xfc // a 20 ms CELT frame's TOC
	for n := uint32(0); ; n++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		_ = t.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(n), Timestamp: n * 960}, Payload: payload})
	}
}

func newAPI(loopback bool) *webrtc.API {
	me := &webrtc.MediaEngine{}
	_ = me.RegisterDefaultCodecs()
	se := webrtc.SettingEngine{LoggerFactory: &logging.DefaultLoggerFactory{Writer: io.Discard}}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if loopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
}

func post(ctx context.Context, c Config, path string, body, out any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimRight(c.URL, "/")+"/api/v1"+path, strings.NewReader(string(b)))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.APIKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %d %s", path, res.StatusCode, strings.TrimSpace(string(data)))
	}
	return json.Unmarshal(data, out)
}

// procCPU is the process's user+system CPU time in seconds.
func procCPU(pid int) (float64, error) {
	if pid <= 0 {
		return 0, nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, errors.New("loadtest: /proc stat too short")
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100, nil // USER_HZ
}

// procRSS is the process's resident memory in KiB.
func procRSS(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				v, _ := strconv.ParseFloat(f[1], 64)
				return v
			}
		}
	}
	return 0
}

package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Config configures an SFU. The zero value is usable: every field has a
// default, applied by New.
type Config struct {
	// UDPAddr is the one UDP port every PeerConnection's ICE traffic goes
	// through (ICE UDP mux). With a host, one socket on that address; without
	// one (":7882", "0.0.0.0:7882"), one socket per interface address, all on
	// the same port, so replies leave from the address the peer checked.
	// Port 0 picks a free port. Defaults to ":7882". Tests use "127.0.0.1:0".
	UDPAddr string

	// PublicIP, when set, is announced in ICE candidates instead of the
	// interfaces' addresses (NAT 1:1, e.g. a cloud VM's public IP).
	// Defaults to "" (the interfaces' addresses).
	PublicIP string

	// MaxBitrate caps each published video track, in bits per second: it is
	// sent to the publisher as its REMB ceiling and simulcast layers measured
	// above it are not forwarded (unless they are the only layer).
	// Defaults to 0, no cap.
	MaxBitrate int

	// PLIInterval is the minimum time between two keyframe requests (PLI) sent
	// to one publisher track (one simulcast layer). Defaults to 500ms.
	PLIInterval time.Duration

	// MaxTracks is how many tracks one participant may publish at once;
	// streams beyond it are not read (their packets are dropped). Defaults
	// to 8 (camera, microphone, screen and its audio, with room to spare).
	MaxTracks int

	// Logger receives the SFU's logs, pion's included (its Info and below
	// at Debug). Defaults to slog.Default().
	Logger *slog.Logger
}

const (
	defaultUDPAddr     = ":7882"
	defaultPLIInterval = 500 * time.Millisecond
	defaultMaxTracks   = 8
)

func (c *Config) setDefaults() {
	if c.UDPAddr == "" {
		c.UDPAddr = defaultUDPAddr
	}
	if c.PLIInterval == 0 {
		c.PLIInterval = defaultPLIInterval
	}
	if c.MaxTracks == 0 {
		c.MaxTracks = defaultMaxTracks
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// validate reports the first invalid field. It expects setDefaults to have run.
func (c *Config) validate() error {
	if _, err := net.ResolveUDPAddr("udp", c.UDPAddr); err != nil {
		return fmt.Errorf("sfu: UDPAddr %q: %w", c.UDPAddr, err)
	}
	if c.PublicIP != "" && net.ParseIP(c.PublicIP) == nil {
		return fmt.Errorf("sfu: PublicIP %q is not an IP address", c.PublicIP)
	}
	if c.MaxBitrate < 0 {
		return errors.New("sfu: MaxBitrate must not be negative")
	}
	if c.PLIInterval < 0 {
		return errors.New("sfu: PLIInterval must not be negative")
	}
	if c.MaxTracks < 0 {
		return errors.New("sfu: MaxTracks must not be negative")
	}
	return nil
}

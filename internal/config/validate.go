package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Validate checks ranges and formats. It reports every problem at once
// (joined with errors.Join), each a *SettingError naming the setting.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &SettingError{Key: key, Err: fmt.Errorf(format, args...)})
	}
	positive := func(key string, n int64) {
		if n <= 0 {
			bad(key, "must be greater than 0, got %d", n)
		}
	}
	nonNegative := func(key string, n int64) {
		if n < 0 {
			bad(key, "must not be negative, got %d", n)
		}
	}
	positiveDur := func(key string, d time.Duration) {
		if d <= 0 {
			bad(key, "must be greater than 0, got %s", d)
		}
	}

	if err := checkAddr(c.Addr); err != nil {
		bad("addr", "%v", err)
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("public_url", "want an absolute http:// or https:// URL, got %q", c.PublicURL)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "want debug, info, warn or error, got %q", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log_format", "want text or json, got %q", c.LogFormat)
	}

	if c.DatabaseURL != "" {
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("database_url", "want a postgres:// or postgresql:// URL (or empty for SQLite)")
		}
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			bad("redis_url", "want a redis://, rediss:// or unix:// URL (or empty for one node)")
		}
	}
	if c.BlobURL != "" {
		if err := checkBlobURL(c.BlobURL); err != "" {
			bad("blob_url", "%s", err)
		}
	}
	if strings.ContainsAny(c.NodeID, " \t\r\n") {
		bad("node_id", "must not contain spaces, got %q", c.NodeID)
	}
	if c.Secret != "" && len(c.Secret) < 32 {
		bad("secret", "must be at least 32 bytes, got %d (or leave it empty to have one generated)", len(c.Secret))
	}
	positiveDur("token_ttl", c.TokenTTL)
	positiveDur("token_max_ttl", c.TokenMaxTTL)
	if c.TokenTTL > c.TokenMaxTTL {
		bad("token_ttl", "%s is longer than token_max_ttl %s", c.TokenTTL, c.TokenMaxTTL)
	}
	positiveDur("visitor_token_ttl", c.VisitorTokenTTL)
	positiveDur("console_session_ttl", c.ConsoleSessionTTL)
	if c.VisitorTokenTTL > c.TokenMaxTTL {
		bad("visitor_token_ttl", "%s is longer than token_max_ttl %s", c.VisitorTokenTTL, c.TokenMaxTTL)
	}
	if c.ConsoleSessionTTL > c.TokenMaxTTL {
		bad("console_session_ttl", "%s is longer than token_max_ttl %s", c.ConsoleSessionTTL, c.TokenMaxTTL)
	}
	if c.PushSubject != "" && !strings.HasPrefix(c.PushSubject, "mailto:") && !strings.HasPrefix(c.PushSubject, "https://") {
		bad("push_subject", "want a mailto: or https: URL, got %q", c.PushSubject)
	}
	if c.TURNRelayPortMin < 1024 || c.TURNRelayPortMax > 65535 || c.TURNRelayPortMin > c.TURNRelayPortMax {
		bad("turn_relay_port_min", "the relay ports %d-%d must be a range within 1024-65535", c.TURNRelayPortMin, c.TURNRelayPortMax)
	}
	if (c.TURNCertFile == "") != (c.TURNKeyFile == "") {
		bad("turn_cert_file", "turn_cert_file and turn_key_file go together")
	}
	if ip := net.ParseIP(c.TURNPublicIP); c.TURNPublicIP != "" && ip.To4() == nil {
		bad("turn_public_ip", "want an IPv4 address (the relays are IPv4), got %q", c.TURNPublicIP)
	}
	positiveDur("turn_credential_ttl", c.TURNCredentialTTL)
	positiveDur("call_ring_timeout", c.CallRingTimeout)
	if c.CallMaxBitrate < 100 {
		bad("call_max_bitrate", "must be at least 100 (kbps), got %d", c.CallMaxBitrate)
	}
	positiveDur("call_reconnect_grace", c.CallReconnectGrace)
	if c.SFUUDPAddr != "" {
		if err := checkAddr(c.SFUUDPAddr); err != nil {
			bad("sfu_udp_addr", "%v", err)
		}
	}
	if c.SFUPublicIP != "" && net.ParseIP(c.SFUPublicIP) == nil {
		bad("sfu_public_ip", "want an IP address, got %q", c.SFUPublicIP)
	}
	if c.SFUMaxBitrate != 0 && c.SFUMaxBitrate < 100 {
		bad("sfu_max_bitrate", "0 (no cap) or at least 100 (kbps), got %d", c.SFUMaxBitrate)
	}
	if c.RoomMaxParticipants < 2 || c.RoomMaxParticipants > 1000 {
		bad("room_max_participants", "from 2 to 1000, got %d", c.RoomMaxParticipants)
	}
	positive("turn_allocations_per_user", int64(c.TURNAllocationsPerUser))
	for _, u := range c.TURNURLs {
		if !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") && !strings.HasPrefix(u, "stun:") {
			bad("turn_urls", "want turn:, turns: or stun: URLs, got %q", u)
		}
	}
	positive("address_attempts_per_minute", int64(c.AddressAttemptsPerMinute))
	positive("login_attempts_per_minute", int64(c.LoginAttemptsPerMinute))
	for _, o := range c.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			bad("allowed_origins", "want origins like https://chat.example.com, got %q", o)
		}
	}

	positive("max_message_bytes", c.MaxMessageBytes)
	positive("max_frame_bytes", c.MaxFrameBytes)
	if c.MaxMessageBytes > 0 && c.MaxFrameBytes > 0 && c.MaxMessageBytes >= c.MaxFrameBytes {
		bad("max_message_bytes", "%s must be less than max_frame_bytes %s (a message travels in one frame)",
			FormatByteSize(c.MaxMessageBytes), FormatByteSize(c.MaxFrameBytes))
	}
	if c.MessagesPerSecond <= 0 {
		bad("messages_per_second", "must be greater than 0, got %s", strconv.FormatFloat(c.MessagesPerSecond, 'g', -1, 64))
	}
	positive("messages_burst", int64(c.MessagesBurst))
	if c.AccountBudgetPerSecond < 0 {
		bad("account_budget_per_second", "must be 0 (unlimited) or more, got %s", strconv.FormatFloat(c.AccountBudgetPerSecond, 'g', -1, 64))
	}
	positive("account_budget_burst", int64(c.AccountBudgetBurst))
	nonNegative("conns_per_ip", int64(c.ConnsPerIP))
	nonNegative("conns_per_account", int64(c.ConnsPerAccount))
	positive("send_queue_bytes", c.SendQueueBytes)
	if c.SendQueueBytes > 0 && c.SendQueueBytes < c.MaxFrameBytes {
		bad("send_queue_bytes", "%s is smaller than max_frame_bytes %s",
			FormatByteSize(c.SendQueueBytes), FormatByteSize(c.MaxFrameBytes))
	}
	positiveDur("write_timeout", c.WriteTimeout)
	positiveDur("auth_timeout", c.AuthTimeout)
	positiveDur("ping_interval", c.PingInterval)
	positiveDur("typing_timeout", c.TypingTimeout)
	if c.WriteCoalesceRate <= 0 {
		bad("write_coalesce_rate", "must be greater than 0, got %s", strconv.FormatFloat(c.WriteCoalesceRate, 'g', -1, 64))
	}
	if c.WriteCoalesceDelay < 0 || c.WriteCoalesceDelay > time.Second {
		bad("write_coalesce_delay", "must be between 0 and 1s, got %s", c.WriteCoalesceDelay)
	}
	nonNegative("presence_max_members", int64(c.PresenceMaxMembers))
	positive("sync_limit", int64(c.SyncLimit))

	positive("upload_image_max", c.UploadImageMax)
	positive("upload_voice_max", c.UploadVoiceMax)
	positive("upload_file_max", c.UploadFileMax)
	positive("commit_batch_max", int64(c.CommitBatchMax))
	positiveDur("shutdown_timeout", c.ShutdownTimeout)

	return errors.Join(errs...)
}

// checkAddr accepts host:port with a numeric port 0-65535 (0 picks a free
// port); the host may be empty (all interfaces), an IP or a name.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port such as :8080 or 127.0.0.1:8080, got %q", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("invalid port %q in %q", port, addr)
	}
	return nil
}

// checkBlobURL checks the form of blob_url (the S3 parameters are checked
// when the store opens).
func checkBlobURL(s string) string {
	if p, ok := strings.CutPrefix(s, "file:"); ok {
		if strings.TrimPrefix(p, "//") == "" {
			return "file: needs a path, e.g. file:/var/lib/parley/blobs"
		}
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" {
		return "want file:PATH or s3://[KEY:SECRET@]HOST[:PORT]/BUCKET[/PREFIX] (or empty for data_dir/blobs)"
	}
	if u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return "s3:// needs an endpoint and a bucket: s3://HOST[:PORT]/BUCKET[/PREFIX]"
	}
	return ""
}

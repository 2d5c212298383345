// Package config holds Parley's settings and loads them from four layers, each
// overriding the one before:
//
//	built-in defaults < YAML file (--config FILE or PARLEY_CONFIG) < PARLEY_* environment < command-line flags
//
// Every setting is defined once, as a field of [Config] whose struct tags give
// its YAML key, environment variable, flag name, default and one-line help.
// Defaults, YAML decoding, environment and flag parsing, [Usage] and the
// documentation test in this package are all derived from those tags, so a
// new setting needs only a new field (and a line in docs/configuration.md,
// which the tests insist on).
//
// Tags:
//
//	yaml:"max_message_bytes"          key in the YAML file
//	env:"PARLEY_MAX_MESSAGE_BYTES"    environment variable
//	flag:"max-message-bytes"          command-line flag (--max-message-bytes)
//	default:"8KiB"                    default, in the same text form as env and flags
//	help:"..."                        one line for --help and the docs
//	unit:"bytes"                      on an int64: a byte size ("10MB", "10MiB", "512KiB", "8192")
//
// Supported field types: string, int, int64, float64, bool, time.Duration,
// []string and int64 byte sizes. Text forms (environment, flags, YAML scalars):
// durations as time.ParseDuration ("10s", "1h30m"); booleans as
// strconv.ParseBool; lists comma-separated ("a,b"; a YAML sequence works too);
// byte sizes are a whole number with an optional unit, B, KB/MB/GB/TB
// (powers of 1000) or KiB/MiB/GiB/TiB (powers of 1024), case-insensitive.
package config

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// Config is every setting of a Parley server. Use [Default] or [Load] to get
// one; the zero value is not valid. Each field's doc gives its default; the
// struct tags are the single source of truth for keys, names and defaults.
type Config struct {
	// --- Server ---

	// Addr is the HTTP listen address, host:port. Defaults to ":8080".
	Addr string `yaml:"addr" env:"PARLEY_ADDR" flag:"addr" default:":8080" help:"HTTP listen address"`
	// DataDir holds the SQLite database and uploaded files. Defaults to "./parley-data".
	DataDir string `yaml:"data_dir" env:"PARLEY_DATA_DIR" flag:"data-dir" default:"./parley-data" help:"directory for the SQLite database and uploaded files"`
	// PublicURL is the URL people open, e.g. "https://chat.example.com".
	// Defaults to empty, meaning derived from Addr; see [Config.PublicURLOrDefault].
	PublicURL string `yaml:"public_url" env:"PARLEY_PUBLIC_URL" flag:"public-url" default:"" help:"URL people open (empty = derived from addr)"`
	// TrustProxyHeaders takes the client IP from X-Forwarded-For. Enable only
	// behind a trusted reverse proxy. Defaults to false.
	TrustProxyHeaders bool `yaml:"trust_proxy_headers" env:"PARLEY_TRUST_PROXY_HEADERS" flag:"trust-proxy-headers" default:"false" help:"take the client IP from X-Forwarded-For (only behind a trusted proxy)"`
	// ShutdownTimeout is how long SIGTERM waits for connections to drain. Defaults to 15s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" env:"PARLEY_SHUTDOWN_TIMEOUT" flag:"shutdown-timeout" default:"15s" help:"how long SIGTERM waits for connections to drain"`

	// --- Logging ---

	// LogLevel is one of debug, info, warn, error. Defaults to "info".
	LogLevel string `yaml:"log_level" env:"PARLEY_LOG_LEVEL" flag:"log-level" default:"info" help:"log level: debug, info, warn or error"`
	// LogFormat is text or json. Defaults to "text".
	LogFormat string `yaml:"log_format" env:"PARLEY_LOG_FORMAT" flag:"log-format" default:"text" help:"log format: text or json"`

	// --- Authentication ---

	// Secret signs tokens. Defaults to empty, meaning one is generated on
	// first start and kept in the database. If set, at least 32 bytes.
	Secret string `yaml:"secret" env:"PARLEY_SECRET" flag:"secret" default:"" help:"token signing secret, at least 32 bytes (empty = generated on first start and kept in the database)"`
	// TokenTTL is the default lifetime of access tokens the server mints. Defaults to 24h.
	TokenTTL time.Duration `yaml:"token_ttl" env:"PARLEY_TOKEN_TTL" flag:"token-ttl" default:"24h" help:"default lifetime of access tokens the server mints"`
	// TokenMaxTTL is the longest token lifetime accepted. Defaults to 720h (30 days).
	TokenMaxTTL time.Duration `yaml:"token_max_ttl" env:"PARLEY_TOKEN_MAX_TTL" flag:"token-max-ttl" default:"720h" help:"longest token lifetime accepted"`
	// AllowedOrigins lists the WebSocket/CORS origins allowed, e.g.
	// "https://chat.example.com". Defaults to empty, meaning any origin
	// (tokens, not cookies, authenticate).
	AllowedOrigins []string `yaml:"allowed_origins" env:"PARLEY_ALLOWED_ORIGINS" flag:"allowed-origins" default:"" help:"WebSocket/CORS origins allowed, comma-separated (empty = any; tokens, not cookies, authenticate)"`

	// VisitorTokenTTL is the lifetime of a widget visitor's session token. Defaults to 24h.
	VisitorTokenTTL time.Duration `yaml:"visitor_token_ttl" env:"PARLEY_VISITOR_TOKEN_TTL" flag:"visitor-token-ttl" default:"24h" help:"lifetime of a widget visitor's session token (the widget renews it)"`
	// ConsoleSessionTTL is the lifetime of a console sign-in (the console
	// renews it while open). Defaults to 12h.
	ConsoleSessionTTL time.Duration `yaml:"console_session_ttl" env:"PARLEY_CONSOLE_SESSION_TTL" flag:"console-session-ttl" default:"12h" help:"lifetime of a console sign-in (renewed while the console is open)"`
	// AddressAttemptsPerMinute limits, per client IP, lookups of inbox
	// addresses: widget loads, visitor sessions and /chat/ADDRESS pages.
	// Defaults to 60.
	AddressAttemptsPerMinute int `yaml:"address_attempts_per_minute" env:"PARLEY_ADDRESS_ATTEMPTS_PER_MINUTE" flag:"address-attempts-per-minute" default:"60" help:"per client IP: widget loads, visitor sessions and chat pages per minute"`
	// LoginAttemptsPerMinute limits, per client IP, console sign-in attempts
	// (passwords, one-time links, invitations). Defaults to 10.
	LoginAttemptsPerMinute int `yaml:"login_attempts_per_minute" env:"PARLEY_LOGIN_ATTEMPTS_PER_MINUTE" flag:"login-attempts-per-minute" default:"10" help:"per client IP: console sign-in attempts per minute"`

	// PushSubject identifies this server to browsers' push services (the
	// VAPID "sub"): a mailto: or https: URL. Defaults to empty, meaning the public URL.
	PushSubject string `yaml:"push_subject" env:"PARLEY_PUSH_SUBJECT" flag:"push-subject" default:"" help:"contact for browsers' push services, mailto: or https: (empty = the public URL)"`
	// PushAllowPrivateEndpoints lets push endpoints be loopback or private
	// addresses (a push service on your own network). Defaults to false.
	PushAllowPrivateEndpoints bool `yaml:"push_allow_private_endpoints" env:"PARLEY_PUSH_ALLOW_PRIVATE_ENDPOINTS" flag:"push-allow-private-endpoints" default:"false" help:"allow Web Push endpoints on loopback and private addresses"`

	// --- Calls ---

	// CallRingTimeout ends an unanswered call as missed. Defaults to 30s.
	CallRingTimeout time.Duration `yaml:"call_ring_timeout" env:"PARLEY_CALL_RING_TIMEOUT" flag:"call-ring-timeout" default:"30s" help:"an unanswered call ends as missed after this long"`
	// CallReconnectGrace is how long a call waits for a party whose
	// connection dropped. Defaults to 10s.
	CallReconnectGrace time.Duration `yaml:"call_reconnect_grace" env:"PARLEY_CALL_RECONNECT_GRACE" flag:"call-reconnect-grace" default:"10s" help:"how long a call waits for a party whose connection dropped"`

	// CallMaxBitrate caps the video bitrate of a call, in kbps. Defaults to 2500.
	CallMaxBitrate int `yaml:"call_max_bitrate" env:"PARLEY_CALL_MAX_BITRATE" flag:"call-max-bitrate" default:"2500" help:"the most video a call sends, kbps (clients adapt below it)"`

	// --- Calls: TURN/STUN ---

	// TURNEnabled runs the embedded TURN/STUN server. Defaults to true.
	TURNEnabled bool `yaml:"turn_enabled" env:"PARLEY_TURN_ENABLED" flag:"turn-enabled" default:"true" help:"run the embedded TURN/STUN server"`
	// TURNListen is its UDP and TCP address (port 0 picks a free one). Defaults to ":3478".
	TURNListen string `yaml:"turn_listen" env:"PARLEY_TURN_LISTEN" flag:"turn-listen" default:":3478" help:"TURN/STUN UDP and TCP listen address"`
	// TURNTLSListen is the turns: (TLS) address, used with a certificate. Defaults to ":5349".
	TURNTLSListen string `yaml:"turn_tls_listen" env:"PARLEY_TURN_TLS_LISTEN" flag:"turn-tls-listen" default:":5349" help:"TURN over TLS listen address (with turn_cert_file)"`
	// TURNCertFile and TURNKeyFile enable turns: with this certificate. Default empty.
	TURNCertFile string `yaml:"turn_cert_file" env:"PARLEY_TURN_CERT_FILE" flag:"turn-cert-file" default:"" help:"certificate (PEM) for TURN over TLS"`
	TURNKeyFile  string `yaml:"turn_key_file" env:"PARLEY_TURN_KEY_FILE" flag:"turn-key-file" default:"" help:"private key (PEM) for TURN over TLS"`
	// TURNPublicIP is the relay address peers reach. Defaults to empty:
	// turn_listen's IP, or the first non-loopback IPv4 when it listens on all.
	// An address the host does not have is a NAT's (said in the log at start).
	TURNPublicIP string `yaml:"turn_public_ip" env:"PARLEY_TURN_PUBLIC_IP" flag:"turn-public-ip" default:"" help:"IPv4 relay address peers reach (empty = turn_listen's IP, or the first non-loopback IPv4 when it listens on all; one this host lacks means a NAT forwards it)"`
	// TURNHost is the name in the advertised turn: URLs. Defaults to empty: the public URL's host.
	TURNHost string `yaml:"turn_host" env:"PARLEY_TURN_HOST" flag:"turn-host" default:"" help:"host name in the advertised TURN URLs (empty = the public URL's host)"`
	// TURNRelayPortMin and TURNRelayPortMax bound relay ports. Default 49152-65535.
	TURNRelayPortMin int `yaml:"turn_relay_port_min" env:"PARLEY_TURN_RELAY_PORT_MIN" flag:"turn-relay-port-min" default:"49152" help:"lowest relay port"`
	TURNRelayPortMax int `yaml:"turn_relay_port_max" env:"PARLEY_TURN_RELAY_PORT_MAX" flag:"turn-relay-port-max" default:"65535" help:"highest relay port"`
	// TURNSecret is the TURN REST shared secret (coturn's static-auth-secret).
	// Defaults to empty: generated on first start and kept in the database.
	TURNSecret string `yaml:"turn_secret" env:"PARLEY_TURN_SECRET" flag:"turn-secret" default:"" help:"TURN REST shared secret, as coturn's static-auth-secret (empty = generated and kept)"`
	// TURNCredentialTTL is how long minted TURN credentials work. Defaults to 12h.
	TURNCredentialTTL time.Duration `yaml:"turn_credential_ttl" env:"PARLEY_TURN_CREDENTIAL_TTL" flag:"turn-credential-ttl" default:"12h" help:"lifetime of minted TURN credentials"`
	// TURNAllocationsPerUser bounds one user's open TURN allocations. Defaults to 10.
	TURNAllocationsPerUser int `yaml:"turn_allocations_per_user" env:"PARLEY_TURN_ALLOCATIONS_PER_USER" flag:"turn-allocations-per-user" default:"10" help:"open TURN allocations per user"`
	// TURNAllowPrivatePeers lets relays reach loopback, private, shared,
	// link-local and unique-local addresses. Defaults to false.
	TURNAllowPrivatePeers bool `yaml:"turn_allow_private_peers" env:"PARLEY_TURN_ALLOW_PRIVATE_PEERS" flag:"turn-allow-private-peers" default:"false" help:"let TURN relays reach loopback, private, shared (100.64/10), link-local and unique-local addresses"`
	// TURNURLs are more TURN servers handed to clients with the same
	// credentials (an external coturn with the same secret). Default empty.
	TURNURLs []string `yaml:"turn_urls" env:"PARLEY_TURN_URLS" flag:"turn-urls" default:"" help:"more TURN URLs handed to clients with the same credentials (e.g. an external coturn)"`

	// --- Group calls and broadcasts: the SFU ---

	// SFUUDPAddr is the one UDP address all SFU media goes through (port 0:
	// a free one, for tests; empty: no SFU, rooms and channels are off).
	// Defaults to ":7882".
	SFUUDPAddr string `yaml:"sfu_udp_addr" env:"PARLEY_SFU_UDP_ADDR" flag:"sfu-udp-addr" default:":7882" help:"UDP address of the SFU's media (empty = no rooms or channels)"`
	// SFUPublicIP is the address announced in the SFU's ICE candidates
	// (behind 1:1 NAT, e.g. a cloud VM's public IP). Defaults to empty: the
	// interfaces' addresses.
	SFUPublicIP string `yaml:"sfu_public_ip" env:"PARLEY_SFU_PUBLIC_IP" flag:"sfu-public-ip" default:"" help:"IP announced in the SFU's ICE candidates (empty = the interfaces' addresses)"`
	// SFUMaxBitrate caps each video track published to the SFU, in kbps
	// (0: no cap). Defaults to 3000.
	SFUMaxBitrate int `yaml:"sfu_max_bitrate" env:"PARLEY_SFU_MAX_BITRATE" flag:"sfu-max-bitrate" default:"3000" help:"the most a video track published to the SFU may send, kbps (0 = no cap)"`
	// RoomMaxParticipants is the most participants of a room (channels have
	// no limit on viewers). Defaults to 16.
	RoomMaxParticipants int `yaml:"room_max_participants" env:"PARLEY_ROOM_MAX_PARTICIPANTS" flag:"room-max-participants" default:"16" help:"the most participants of a group call room"`

	// --- Messages and connections ---

	// MaxMessageBytes is the longest message text in bytes. Defaults to 8KiB.
	MaxMessageBytes int64 `yaml:"max_message_bytes" env:"PARLEY_MAX_MESSAGE_BYTES" flag:"max-message-bytes" default:"8KiB" unit:"bytes" help:"longest message text in bytes"`
	// MaxFrameBytes is the largest WebSocket frame a client may send. Defaults to 64KiB.
	MaxFrameBytes int64 `yaml:"max_frame_bytes" env:"PARLEY_MAX_FRAME_BYTES" flag:"max-frame-bytes" default:"64KiB" unit:"bytes" help:"largest WebSocket frame a client may send"`
	// MessagesPerSecond is each user's request budget: the units a second
	// it refills, one unit being about one message into a small
	// conversation (docs/operations.md prices every request). Defaults to 10.
	MessagesPerSecond float64 `yaml:"messages_per_second" env:"PARLEY_MESSAGES_PER_SECOND" flag:"messages-per-second" default:"10" help:"each user's request budget, units per second (one unit: a message into a small conversation)"`
	// MessagesBurst is each user's budget burst, in units. Defaults to 20.
	MessagesBurst int `yaml:"messages_burst" env:"PARLEY_MESSAGES_BURST" flag:"messages-burst" default:"20" help:"each user's request budget burst, units"`
	// AccountBudgetPerSecond is each account's request budget, shared by
	// all its users; 0 is unlimited. Defaults to 1000.
	AccountBudgetPerSecond float64 `yaml:"account_budget_per_second" env:"PARLEY_ACCOUNT_BUDGET_PER_SECOND" flag:"account-budget-per-second" default:"1000" help:"each account's request budget, units per second, shared by its users (0 = unlimited)"`
	// AccountBudgetBurst is each account's budget burst, in units. Defaults to 2000.
	AccountBudgetBurst int `yaml:"account_budget_burst" env:"PARLEY_ACCOUNT_BUDGET_BURST" flag:"account-budget-burst" default:"2000" help:"each account's request budget burst, units"`
	// ConnsPerIP limits open WebSocket connections per client IP; 0 is unlimited. Defaults to 200.
	ConnsPerIP int `yaml:"conns_per_ip" env:"PARLEY_CONNS_PER_IP" flag:"conns-per-ip" default:"200" help:"open WebSocket connections per client IP (0 = unlimited)"`
	// ConnsPerAccount limits open WebSocket connections per account; 0 is unlimited. Defaults to 20000.
	ConnsPerAccount int `yaml:"conns_per_account" env:"PARLEY_CONNS_PER_ACCOUNT" flag:"conns-per-account" default:"20000" help:"open WebSocket connections per account (0 = unlimited)"`
	// SendQueueBytes is the per-connection outgoing queue; a connection over
	// it is closed as a slow consumer. Defaults to 4MiB.
	SendQueueBytes int64 `yaml:"send_queue_bytes" env:"PARLEY_SEND_QUEUE_BYTES" flag:"send-queue-bytes" default:"4MiB" unit:"bytes" help:"per-connection outgoing queue; a connection over it is closed (slow consumer)"`
	// WriteTimeout closes a connection whose write is blocked this long. Defaults to 10s.
	WriteTimeout time.Duration `yaml:"write_timeout" env:"PARLEY_WRITE_TIMEOUT" flag:"write-timeout" default:"10s" help:"a write blocked this long closes the connection"`
	// AuthTimeout is the time a new WebSocket has to authenticate. Defaults to 10s.
	AuthTimeout time.Duration `yaml:"auth_timeout" env:"PARLEY_AUTH_TIMEOUT" flag:"auth-timeout" default:"10s" help:"time a new WebSocket has to authenticate"`
	// PingInterval is how often the server pings idle connections. Defaults to 30s.
	PingInterval time.Duration `yaml:"ping_interval" env:"PARLEY_PING_INTERVAL" flag:"ping-interval" default:"30s" help:"how often the server pings idle connections"`
	// WriteCoalesceRate is the delivery rate (frames/s) above which writes
	// are coalesced. Defaults to 150000.
	WriteCoalesceRate float64 `yaml:"write_coalesce_rate" env:"PARLEY_WRITE_COALESCE_RATE" flag:"write-coalesce-rate" default:"150000" help:"deliveries per second above which writes to each connection are coalesced"`
	// WriteCoalesceDelay is how long flushers wait, above that rate, so that
	// one write carries many frames (0 = never wait). Defaults to 10ms.
	WriteCoalesceDelay time.Duration `yaml:"write_coalesce_delay" env:"PARLEY_WRITE_COALESCE_DELAY" flag:"write-coalesce-delay" default:"10ms" help:"under heavy fan-out, wait this long before writing so one write carries many frames (0 = never)"`
	// TypingTimeout expires a typing indicator that is not refreshed. Defaults to 5s.
	TypingTimeout time.Duration `yaml:"typing_timeout" env:"PARLEY_TYPING_TIMEOUT" flag:"typing-timeout" default:"5s" help:"typing indicator expiry without refresh"`
	// PresenceMaxMembers: presence changes are pushed to groups of up to this
	// many members (0 = to no groups). Defaults to 100.
	PresenceMaxMembers int `yaml:"presence_max_members" env:"PARLEY_PRESENCE_MAX_MEMBERS" flag:"presence-max-members" default:"100" help:"presence changes are pushed to groups up to this size"`
	// SyncLimit is the most messages replayed per conversation per chat:sync. Defaults to 1000.
	SyncLimit int `yaml:"sync_limit" env:"PARLEY_SYNC_LIMIT" flag:"sync-limit" default:"1000" help:"most messages replayed per conversation per chat:sync"`

	// --- Uploads ---

	// UploadImageMax is the largest image upload in bytes. Defaults to 10MiB.
	UploadImageMax int64 `yaml:"upload_image_max" env:"PARLEY_UPLOAD_IMAGE_MAX" flag:"upload-image-max" default:"10MiB" unit:"bytes" help:"largest image upload"`
	// UploadVoiceMax is the largest voice-message upload in bytes. Defaults to 20MiB.
	UploadVoiceMax int64 `yaml:"upload_voice_max" env:"PARLEY_UPLOAD_VOICE_MAX" flag:"upload-voice-max" default:"20MiB" unit:"bytes" help:"largest voice message upload"`
	// UploadFileMax is the largest file upload in bytes. Defaults to 25MiB.
	UploadFileMax int64 `yaml:"upload_file_max" env:"PARLEY_UPLOAD_FILE_MAX" flag:"upload-file-max" default:"25MiB" unit:"bytes" help:"largest file upload"`

	// --- Storage ---

	// CommitBatchMax is the most messages in one SQLite group commit. Defaults to 512.
	CommitBatchMax int `yaml:"commit_batch_max" env:"PARLEY_COMMIT_BATCH_MAX" flag:"commit-batch-max" default:"512" help:"most messages in one SQLite group commit"`
	// DatabaseURL is a postgres:// (or postgresql://) URL of a PostgreSQL
	// database shared by every node. Defaults to empty: the SQLite file in
	// data_dir (one node).
	DatabaseURL string `yaml:"database_url" env:"PARLEY_DATABASE_URL" flag:"database-url" default:"" help:"PostgreSQL URL, postgres://... (empty = the SQLite file in data_dir, one node)"`
	// BlobURL says where uploaded files live: file:PATH (a folder; nodes
	// may share it on a shared disk) or
	// s3://[KEY:SECRET@]HOST[:PORT]/BUCKET[/PREFIX][?region=…&secure=false&path_style=false&redirect=true]
	// (an S3-compatible bucket, shared by every node). Defaults to empty:
	// the blobs folder in data_dir.
	BlobURL string `yaml:"blob_url" env:"PARLEY_BLOB_URL" flag:"blob-url" default:"" help:"where uploads live: file:PATH or s3://KEY:SECRET@HOST/BUCKET[/PREFIX]?... (empty = data_dir/blobs)"`

	// --- Many nodes ---

	// RedisURL is a redis:// (or rediss://, unix://) URL of the Redis that
	// carries events between nodes and their shared state (request
	// budgets). Defaults to empty: in-process bus and memory state (one node).
	RedisURL string `yaml:"redis_url" env:"PARLEY_REDIS_URL" flag:"redis-url" default:"" help:"Redis URL, redis://... , for events and shared state between nodes (empty = in-process, one node)"`
	// RedisPrefix starts every Redis key and channel, so deployments (and
	// tests) can share one Redis. Defaults to "parley:".
	RedisPrefix string `yaml:"redis_prefix" env:"PARLEY_REDIS_PREFIX" flag:"redis-prefix" default:"parley:" help:"prefix of every Redis key and channel"`
	// NodeID names this node to the others (and in Redis's CLIENT LIST).
	// Defaults to empty: the host name and a random suffix.
	NodeID string `yaml:"node_id" env:"PARLEY_NODE_ID" flag:"node-id" default:"" help:"this node's name among the nodes (empty = host name and a random suffix)"`
	// ClusterTTL is how long a node that stopped heartbeating counts as
	// alive: its connections, slots and rooms pass to others after it.
	ClusterTTL time.Duration `yaml:"cluster_ttl" env:"PARLEY_CLUSTER_TTL" flag:"cluster-ttl" default:"15s" help:"how long a silent node counts as alive (its rooms move to other nodes after it)"`
}

// Default returns the built-in defaults.
func Default() Config {
	var c Config
	if err := applyDefaults(&c); err != nil {
		panic(err) // a malformed default tag; TestDefault catches it
	}
	return c
}

// Load builds a Config from, in increasing precedence: the defaults, the YAML
// file named by --config (or by PARLEY_CONFIG when the flag is absent), the
// PARLEY_* variables in environ ("KEY=value" pairs, as from os.Environ), and
// the flags at the front of args. Parsing stops at the first non-flag
// argument or at "--"; the rest of args is returned untouched.
//
// Unknown flags, unknown YAML keys and malformed values are errors naming the
// setting (as a *SettingError where one applies). -h, -help and --help return
// flag.ErrHelp so the caller can print [Usage]. Unknown PARLEY_* variables and
// empty ones are ignored. The result is checked with [Config.Validate].
func Load(args []string, environ []string) (Config, []string, error) {
	var c Config
	rest, err := load(&c, args, environ)
	if err != nil {
		return Config{}, nil, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, nil, err
	}
	return c, rest, nil
}

// Usage describes --config and every setting: flag, value type, help,
// default and environment variable. `parley --help` prints it.
func Usage() string {
	return usage(settingsOf(configType))
}

// PublicURLOrDefault returns PublicURL without a trailing slash if it is set,
// else a URL derived from Addr: "http://localhost:8080" for ":8080",
// "http://127.0.0.1:9000" for "127.0.0.1:9000", "http://localhost" for ":80".
// Wildcard hosts (empty, 0.0.0.0, ::) become localhost.
func (c Config) PublicURLOrDefault() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return "http://localhost"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	if port == "80" || port == "" {
		if strings.Contains(host, ":") {
			return "http://[" + host + "]"
		}
		return "http://" + host
	}
	return "http://" + net.JoinHostPort(host, port)
}

// SettingError reports a bad value for one setting.
type SettingError struct {
	Key    string // YAML key of the setting, e.g. "max_message_bytes"
	Source string // where the value came from: "flag --x", "env PARLEY_X", "file.yaml line 3"; empty from Validate
	Value  string // the offending text, if any
	Err    error
}

func (e *SettingError) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	b.WriteString(e.Key)
	if e.Source != "" {
		fmt.Fprintf(&b, " (%s)", e.Source)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *SettingError) Unwrap() error { return e.Err }

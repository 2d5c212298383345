package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeFile writes a temporary YAML file and returns its path.
func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "parley.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSettingsConsistent(t *testing.T) {
	seen := map[string]bool{} // each name prefixed with its namespace
	for _, s := range settingsOf(configType) {
		if want := "PARLEY_" + strings.ToUpper(s.key); s.env != want {
			t.Errorf("%s: env %q, want %q", s.key, s.env, want)
		}
		if want := strings.ReplaceAll(s.key, "_", "-"); s.flag != want {
			t.Errorf("%s: flag %q, want %q", s.key, s.flag, want)
		}
		for _, name := range []string{"yaml " + s.key, "env " + s.env, "flag " + s.flag} {
			if seen[name] {
				t.Errorf("%s: name %q used twice", s.key, name)
			}
			seen[name] = true
		}
		if s.key == configFlag || s.env == configEnv {
			t.Errorf("%s: clashes with --config / PARLEY_CONFIG", s.key)
		}
		if strings.Contains(s.help, "\n") {
			t.Errorf("%s: help must be one line", s.key)
		}
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	want := Config{
		Addr: ":8080", DataDir: "./parley-data", PublicURL: "",
		LogLevel: "info", LogFormat: "text",
		Secret: "", TokenTTL: 24 * time.Hour, TokenMaxTTL: 720 * time.Hour, AllowedOrigins: nil,
		VisitorTokenTTL: 24 * time.Hour, ConsoleSessionTTL: 12 * time.Hour, AddressAttemptsPerMinute: 60, LoginAttemptsPerMinute: 10, PushSubject: "", PushAllowPrivateEndpoints: false,
		CallRingTimeout: 30 * time.Second, CallReconnectGrace: 10 * time.Second, CallMaxBitrate: 2500,
		TURNEnabled: true, TURNListen: ":3478", TURNTLSListen: ":5349", TURNRelayPortMin: 49152, TURNRelayPortMax: 65535,
		TURNCredentialTTL: 12 * time.Hour, TURNAllocationsPerUser: 10,
		SFUUDPAddr: ":7882", SFUMaxBitrate: 3000, RoomMaxParticipants: 16,
		MaxMessageBytes: 8192, MaxFrameBytes: 64 << 10,
		MessagesPerSecond: 10, MessagesBurst: 20, AccountBudgetPerSecond: 1000, AccountBudgetBurst: 2000,
		ConnsPerIP: 200, ConnsPerAccount: 20000,
		SendQueueBytes: 4 << 20, WriteTimeout: 10 * time.Second, AuthTimeout: 10 * time.Second,
		PingInterval: 30 * time.Second, TypingTimeout: 5 * time.Second,
		WriteCoalesceRate: 150000, WriteCoalesceDelay: 10 * time.Millisecond,
		PresenceMaxMembers: 100, SyncLimit: 1000,
		UploadImageMax: 10 << 20, UploadVoiceMax: 20 << 20, UploadFileMax: 25 << 20,
		ClusterTTL:     15 * time.Second,
		CommitBatchMax: 512, ShutdownTimeout: 15 * time.Second, TrustProxyHeaders: false,
		DatabaseURL: "", RedisURL: "", RedisPrefix: "parley:", NodeID: "",
		BlobURL: "",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Default() =\n%+v\nwant\n%+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	got, rest, err := Load(nil, nil)
	if err != nil || len(rest) != 0 || !reflect.DeepEqual(got, c) {
		t.Errorf("Load(nil, nil) = %+v, %q, %v; want the defaults", got, rest, err)
	}
}

func TestPrecedence(t *testing.T) {
	path := writeFile(t, `
addr: 127.0.0.1:9000
log_level: debug
sync_limit: 10
typing_timeout: 7s
`)
	environ := []string{
		"HOME=/root",
		"PARLEY_LOG_LEVEL=warn",
		"PARLEY_SYNC_LIMIT=20",
		"PARLEY_CONNS_PER_IP=5",
	}
	args := []string{"--config", path, "--sync-limit=30", "--conns-per-account", "7"}
	c, rest, err := Load(args, environ)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 0 {
		t.Errorf("rest = %q", rest)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"addr (yaml only)", c.Addr, "127.0.0.1:9000"},
		{"typing_timeout (yaml only)", c.TypingTimeout, 7 * time.Second},
		{"log_level (yaml < env)", c.LogLevel, "warn"},
		{"sync_limit (yaml < env < flag)", c.SyncLimit, 30},
		{"conns_per_ip (env only)", c.ConnsPerIP, 5},
		{"conns_per_account (flag only)", c.ConnsPerAccount, 7},
		{"data_dir (default)", c.DataDir, "./parley-data"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestConfigFileSelection(t *testing.T) {
	fromEnv := writeFile(t, "addr: :1111\n")
	fromFlag := writeFile(t, "addr: :2222\n")

	c, _, err := Load(nil, []string{"PARLEY_CONFIG=" + fromEnv})
	if err != nil || c.Addr != ":1111" {
		t.Errorf("PARLEY_CONFIG: addr %q, err %v; want :1111", c.Addr, err)
	}
	c, _, err = Load([]string{"--config=" + fromFlag}, []string{"PARLEY_CONFIG=" + fromEnv})
	if err != nil || c.Addr != ":2222" {
		t.Errorf("--config over PARLEY_CONFIG: addr %q, err %v; want :2222", c.Addr, err)
	}
	c, _, err = Load([]string{"--config="}, []string{"PARLEY_CONFIG=" + fromEnv})
	if err != nil || c.Addr != ":8080" {
		t.Errorf("--config= disables the file: addr %q, err %v; want :8080", c.Addr, err)
	}
	_, _, err = Load([]string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, nil)
	if err == nil {
		t.Error("missing config file: no error")
	}
	for _, text := range []string{"", "# only a comment\n", "---\n"} {
		if _, _, err := Load([]string{"--config", writeFile(t, text)}, nil); err != nil {
			t.Errorf("config file %q: %v", text, err)
		}
	}
	if _, _, err := Load([]string{"--config", writeFile(t, "- a\n- b\n")}, nil); err == nil {
		t.Error("config file holding a list: no error")
	}
	if _, _, err := Load([]string{"--config", writeFile(t, "addr: [\n")}, nil); err == nil {
		t.Error("malformed YAML: no error")
	}
}

// allTypes has one setting of every supported type, so every type can be
// tested from every layer.
type allTypes struct {
	S  string        `yaml:"s" env:"PARLEY_S" flag:"s" default:"x" help:"string"`
	I  int           `yaml:"i" env:"PARLEY_I" flag:"i" default:"1" help:"int"`
	I6 int64         `yaml:"i6" env:"PARLEY_I6" flag:"i6" default:"1" help:"int64"`
	F  float64       `yaml:"f" env:"PARLEY_F" flag:"f" default:"1.5" help:"float64"`
	B  bool          `yaml:"b" env:"PARLEY_B" flag:"b" default:"false" help:"bool"`
	D  time.Duration `yaml:"d" env:"PARLEY_D" flag:"d" default:"1s" help:"duration"`
	L  []string      `yaml:"l" env:"PARLEY_L" flag:"l" default:"a,b" help:"list"`
	Z  int64         `yaml:"z" env:"PARLEY_Z" flag:"z" default:"1KiB" unit:"bytes" help:"bytes"`
}

func TestEveryTypeEveryLayer(t *testing.T) {
	want := allTypes{
		S: "hello world", I: -42, I6: 1 << 40, F: 0.25, B: true,
		D: 90 * time.Minute, L: []string{"https://a.example", "https://b.example"}, Z: 10 << 20,
	}
	var def allTypes
	if err := applyDefaults(&def); err != nil {
		t.Fatal(err)
	}
	if wantDef := (allTypes{S: "x", I: 1, I6: 1, F: 1.5, D: time.Second, L: []string{"a", "b"}, Z: 1024}); !reflect.DeepEqual(def, wantDef) {
		t.Errorf("defaults = %+v, want %+v", def, wantDef)
	}

	layers := map[string]struct {
		args, environ []string
	}{
		"yaml": {args: []string{"--config", writeFile(t, `
s: hello world
i: -42
i6: 1099511627776
f: 0.25
b: true
d: 1h30m
l:
  - https://a.example
  - https://b.example
z: 10MiB
`)}},
		"env": {environ: []string{
			"PARLEY_S=hello world", "PARLEY_I=-42", "PARLEY_I6=1099511627776", "PARLEY_F=0.25",
			"PARLEY_B=true", "PARLEY_D=1h30m", "PARLEY_L=https://a.example, https://b.example", "PARLEY_Z=10MiB",
		}},
		"flags": {args: []string{
			"--s", "hello world", "--i=-42", "-i6", "1099511627776", "--f=0.25", "--b",
			"--d", "1h30m", "--l=https://a.example,https://b.example", "--z", "10 MiB",
		}},
		"repeated list flag": {args: []string{
			"--s=hello world", "--i=-42", "--i6=1099511627776", "--f=.25", "--b=true",
			"--d=90m", "--l=https://a.example", "--l=https://b.example", "--z=10485760",
		}},
	}
	// Quoted scalars and a flow-style list.
	layers["yaml flow list and quoting"] = struct{ args, environ []string }{args: []string{"--config", writeFile(t, `
s: "hello world"
i: "-42"
i6: 1099511627776
f: .25
b: True
d: "1h30m"
l: [https://a.example, "https://b.example"]
z: 10 MiB
`)}}
	for name, l := range layers {
		t.Run(name, func(t *testing.T) {
			var got allTypes
			if _, err := load(&got, l.args, l.environ); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestYAMLNullAndScalarList(t *testing.T) {
	var got allTypes
	if _, err := load(&got, []string{"--config", writeFile(t, "s:\nl: a, b ,c\nb: false\n")}, nil); err != nil {
		t.Fatal(err)
	}
	if got.S != "" || !slices.Equal(got.L, []string{"a", "b", "c"}) {
		t.Errorf("s = %q, l = %q; want empty and [a b c]", got.S, got.L)
	}
	// An empty environment variable is ignored; an empty flag clears.
	if _, err := load(&got, []string{"--l="}, []string{"PARLEY_S=", "PARLEY_I="}); err != nil {
		t.Fatal(err)
	}
	if got.S != "x" || got.I != 1 || got.L != nil {
		t.Errorf("got %+v; want s and i defaults, l empty", got)
	}
}

func TestBadValues(t *testing.T) {
	bad := map[string]string{ // key -> bad text
		"i": "1.5", "i6": "ten", "f": "NaN", "b": "maybe", "d": "10", "z": "10 bits",
	}
	for key, text := range bad {
		flagName := key
		env := "PARLEY_" + strings.ToUpper(key)
		cases := map[string]struct{ args, environ []string }{
			"yaml": {args: []string{"--config", writeFile(t, key+": "+text+"\n")}},
			"env":  {environ: []string{env + "=" + text}},
			"flag": {args: []string{"--" + flagName + "=" + text}},
		}
		for layer, c := range cases {
			var got allTypes
			_, err := load(&got, c.args, c.environ)
			var se *SettingError
			if !errors.As(err, &se) || se.Key != key {
				t.Errorf("%s %s=%q: error %v, want a *SettingError for %q", layer, key, text, err, key)
				continue
			}
			if !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), text) {
				t.Errorf("%s %s=%q: error %q should name the setting and the value", layer, key, text, err)
			}
		}
	}
	// And through Load, naming the real setting.
	_, _, err := Load([]string{"--max-message-bytes=lots"}, nil)
	if err == nil || !strings.Contains(err.Error(), "max_message_bytes") || !strings.Contains(err.Error(), "--max-message-bytes") {
		t.Errorf("bad flag: %v", err)
	}
	_, _, err = Load(nil, []string{"PARLEY_WRITE_TIMEOUT=soon"})
	if err == nil || !strings.Contains(err.Error(), "PARLEY_WRITE_TIMEOUT") {
		t.Errorf("bad env: %v", err)
	}
	_, _, err = Load([]string{"--config", writeFile(t, "addr: :1\n\nsync_limit: many\n")}, nil)
	if err == nil || !strings.Contains(err.Error(), "sync_limit") || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("bad yaml value: %v", err)
	}
	_, _, err = Load([]string{"--config", writeFile(t, "addr: [a, b]\n")}, nil)
	if err == nil || !strings.Contains(err.Error(), "addr") {
		t.Errorf("list for a string setting: %v", err)
	}
}

func TestUnknownNames(t *testing.T) {
	_, _, err := Load([]string{"--max-mesage-bytes=1"}, nil)
	if err == nil || !strings.Contains(err.Error(), "max-mesage-bytes") {
		t.Errorf("unknown flag: %v", err)
	}
	_, _, err = Load([]string{"--config", writeFile(t, "addr: :1\nmax_mesage_bytes: 1\n")}, nil)
	if err == nil || !strings.Contains(err.Error(), "max_mesage_bytes") || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("unknown yaml key: %v", err)
	}
	_, _, err = Load([]string{"--config", writeFile(t, "addr: :1\naddr: :2\n")}, nil)
	if err == nil || !strings.Contains(err.Error(), "addr") {
		t.Errorf("repeated yaml key: %v", err)
	}
	_, _, err = Load([]string{"--config", writeFile(t, "server:\n  addr: :1\n")}, nil)
	if err == nil || !strings.Contains(err.Error(), "server") {
		t.Errorf("nested yaml: %v", err)
	}
	// Unknown PARLEY_* variables are ignored: other tools share the prefix.
	if _, _, err := Load(nil, []string{"PARLEY_NOT_A_SETTING=1", "NOEQUALS"}); err != nil {
		t.Errorf("unknown env: %v", err)
	}
	_, _, err = Load([]string{"--addr"}, nil)
	if err == nil || !strings.Contains(err.Error(), "addr") {
		t.Errorf("flag missing its value: %v", err)
	}
}

func TestRemainingArgs(t *testing.T) {
	tests := []struct {
		args, rest []string
	}{
		{nil, []string{}},
		{[]string{"--addr", ":1", "NAME", "--sync-limit=5"}, []string{"NAME", "--sync-limit=5"}},
		{[]string{"--trust-proxy-headers", "serve"}, []string{"serve"}},
		{[]string{"--addr=:1", "--", "--sync-limit=5"}, []string{"--sync-limit=5"}},
		{[]string{"a", "b", "c"}, []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		c, rest, err := Load(tt.args, nil)
		if err != nil {
			t.Errorf("Load(%q): %v", tt.args, err)
			continue
		}
		if !slices.Equal(rest, tt.rest) {
			t.Errorf("Load(%q) rest = %#v, want %q", tt.args, rest, tt.rest)
		}
		if c.SyncLimit != 1000 {
			t.Errorf("Load(%q) parsed a flag after the first argument", tt.args)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		if _, _, err := Load([]string{"--addr=:1", arg}, nil); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("Load(%q) error %v, want flag.ErrHelp", arg, err)
		}
	}
}

func TestByteSize(t *testing.T) {
	good := map[string]int64{
		"0": 0, "8192": 8192, "512B": 512, "1b": 1,
		"1KB": 1000, "10MB": 10_000_000, "2GB": 2_000_000_000, "1TB": 1e12,
		"1KiB": 1024, "512KiB": 512 << 10, "10MiB": 10 << 20, "3GiB": 3 << 30, "1TiB": 1 << 40,
		"10mib": 10 << 20, "10 MiB": 10 << 20, " 64KiB ": 64 << 10, "8kb": 8000,
		"9223372036854775807": 1<<63 - 1,
	}
	for in, want := range good {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.5MiB", "10M", "10K", "10 bits", "0x10", "9223372036854775808", "9000000TiB", "1 0MiB"} {
		if got, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) = %d, want an error", in, got)
		}
	}
	for n, want := range map[int64]string{0: "0", 1000: "1000", 8192: "8KiB", 10 << 20: "10MiB", 1 << 40: "1TiB", 1536: "1536"} {
		if got := FormatByteSize(n); got != want {
			t.Errorf("FormatByteSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		key    string
		mutate func(*Config)
	}{
		{"addr", func(c *Config) { c.Addr = "8080" }},
		{"addr", func(c *Config) { c.Addr = ":99999" }},
		{"addr", func(c *Config) { c.Addr = ":http" }},
		{"data_dir", func(c *Config) { c.DataDir = "" }},
		{"public_url", func(c *Config) { c.PublicURL = "chat.example.com" }},
		{"public_url", func(c *Config) { c.PublicURL = "ftp://chat.example.com" }},
		{"log_level", func(c *Config) { c.LogLevel = "verbose" }},
		{"log_format", func(c *Config) { c.LogFormat = "xml" }},
		{"secret", func(c *Config) { c.Secret = "hunter2" }},
		{"token_ttl", func(c *Config) { c.TokenTTL = 0 }},
		{"token_ttl", func(c *Config) { c.TokenTTL = 1000 * time.Hour }},
		{"token_max_ttl", func(c *Config) { c.TokenMaxTTL = -time.Hour }},
		{"allowed_origins", func(c *Config) { c.AllowedOrigins = []string{"https://ok.example", "example.com"} }},
		{"allowed_origins", func(c *Config) { c.AllowedOrigins = []string{"https://example.com/path"} }},
		{"max_message_bytes", func(c *Config) { c.MaxMessageBytes = 0 }},
		{"max_message_bytes", func(c *Config) { c.MaxMessageBytes = c.MaxFrameBytes }},
		{"max_frame_bytes", func(c *Config) { c.MaxFrameBytes = -1 }},
		{"messages_per_second", func(c *Config) { c.MessagesPerSecond = 0 }},
		{"messages_burst", func(c *Config) { c.MessagesBurst = 0 }},
		{"account_budget_per_second", func(c *Config) { c.AccountBudgetPerSecond = -1 }},
		{"account_budget_burst", func(c *Config) { c.AccountBudgetBurst = 0 }},
		{"conns_per_ip", func(c *Config) { c.ConnsPerIP = -1 }},
		{"conns_per_account", func(c *Config) { c.ConnsPerAccount = -1 }},
		{"send_queue_bytes", func(c *Config) { c.SendQueueBytes = 0 }},
		{"send_queue_bytes", func(c *Config) { c.SendQueueBytes = 1024 }},
		{"write_timeout", func(c *Config) { c.WriteTimeout = 0 }},
		{"auth_timeout", func(c *Config) { c.AuthTimeout = -time.Second }},
		{"ping_interval", func(c *Config) { c.PingInterval = 0 }},
		{"write_coalesce_rate", func(c *Config) { c.WriteCoalesceRate = 0 }},
		{"write_coalesce_delay", func(c *Config) { c.WriteCoalesceDelay = -time.Millisecond }},
		{"write_coalesce_delay", func(c *Config) { c.WriteCoalesceDelay = 2 * time.Second }},
		{"typing_timeout", func(c *Config) { c.TypingTimeout = 0 }},
		{"presence_max_members", func(c *Config) { c.PresenceMaxMembers = -1 }},
		{"sync_limit", func(c *Config) { c.SyncLimit = 0 }},
		{"upload_image_max", func(c *Config) { c.UploadImageMax = 0 }},
		{"upload_voice_max", func(c *Config) { c.UploadVoiceMax = 0 }},
		{"upload_file_max", func(c *Config) { c.UploadFileMax = 0 }},
		{"commit_batch_max", func(c *Config) { c.CommitBatchMax = 0 }},
		{"shutdown_timeout", func(c *Config) { c.ShutdownTimeout = 0 }},
		{"turn_public_ip", func(c *Config) { c.TURNPublicIP = "turn.example.com" }},
		{"turn_public_ip", func(c *Config) { c.TURNPublicIP = "2001:db8::1" }}, // the relays are IPv4
		{"database_url", func(c *Config) { c.DatabaseURL = "mysql://db/parley" }},
		{"database_url", func(c *Config) { c.DatabaseURL = "parley.db" }},
		{"redis_url", func(c *Config) { c.RedisURL = "localhost:6379" }},
		{"node_id", func(c *Config) { c.NodeID = "node one" }},
		{"blob_url", func(c *Config) { c.BlobURL = "/var/lib/parley/blobs" }},
		{"blob_url", func(c *Config) { c.BlobURL = "file:" }},
		{"blob_url", func(c *Config) { c.BlobURL = "s3://bucket-only" }},
		{"blob_url", func(c *Config) { c.BlobURL = "gs://host/bucket" }},
	}
	for _, tt := range tests {
		c := Default()
		tt.mutate(&c)
		err := c.Validate()
		var se *SettingError
		if !errors.As(err, &se) || se.Key != tt.key || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("%s: Validate() = %v, want an error naming %s", tt.key, err, tt.key)
		}
	}

	// Allowed edge values.
	c := Default()
	c.Addr, c.PublicURL = "127.0.0.1:0", "https://chat.example.com/"
	c.Secret = strings.Repeat("s", 32)
	c.AllowedOrigins = []string{"https://chat.example.com", "http://localhost:8080"}
	c.ConnsPerIP, c.ConnsPerAccount, c.PresenceMaxMembers = 0, 0, 0
	c.DatabaseURL, c.RedisURL, c.NodeID = "postgresql://u:p@db:5432/parley?sslmode=disable", "rediss://r:6380/1", "eu-1"
	if err := c.Validate(); err != nil {
		t.Errorf("edge values: %v", err)
	}
	for _, u := range []string{"file:/srv/blobs", "file:///srv/blobs", "file:blobs", "s3://k:s@127.0.0.1:9000/b/p?secure=false"} {
		c := Default()
		c.BlobURL = u
		if err := c.Validate(); err != nil {
			t.Errorf("blob_url %q: %v", u, err)
		}
	}

	// Every problem is reported, and Load validates.
	c = Default()
	c.SyncLimit, c.LogLevel = 0, "loud"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "sync_limit") || !strings.Contains(err.Error(), "log_level") {
		t.Errorf("two problems: %v", err)
	}
	if _, _, err := Load([]string{"--sync-limit=0"}, nil); err == nil || !strings.Contains(err.Error(), "sync_limit") {
		t.Errorf("Load does not validate: %v", err)
	}
}

func TestUsage(t *testing.T) {
	u := Usage()
	if !strings.Contains(u, "--config FILE") || !strings.Contains(u, "PARLEY_CONFIG") {
		t.Error("Usage does not mention --config / PARLEY_CONFIG")
	}
	for _, s := range settingsOf(configType) {
		for _, want := range []string{"--" + s.flag, s.env, s.help, displayDefault(s)} {
			if !strings.Contains(u, want) {
				t.Errorf("Usage lacks %q for %s", want, s.key)
			}
		}
	}
}

func TestPublicURLOrDefault(t *testing.T) {
	tests := []struct{ addr, public, want string }{
		{":8080", "", "http://localhost:8080"},
		{"0.0.0.0:9000", "", "http://localhost:9000"},
		{"[::]:9000", "", "http://localhost:9000"},
		{"127.0.0.1:9000", "", "http://127.0.0.1:9000"},
		{"[::1]:9000", "", "http://[::1]:9000"},
		{"chat.lan:80", "", "http://chat.lan"},
		{":80", "", "http://localhost"},
		{":8080", "https://chat.example.com/", "https://chat.example.com"},
	}
	for _, tt := range tests {
		c := Default()
		c.Addr, c.PublicURL = tt.addr, tt.public
		if got := c.PublicURLOrDefault(); got != tt.want {
			t.Errorf("addr %q public %q: got %q, want %q", tt.addr, tt.public, got, tt.want)
		}
	}
}

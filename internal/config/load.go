package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// configFlag and configEnv name the YAML file. They are not settings: the
// file cannot name itself.
const (
	configFlag = "config"
	configEnv  = "PARLEY_CONFIG"
)

var (
	configType   = reflect.TypeFor[Config]()
	durationType = reflect.TypeFor[time.Duration]()
)

type kind int

const (
	kString kind = iota
	kInt
	kInt64
	kFloat
	kBool
	kDuration
	kList
	kBytes
)

// setting is one field's definition, read from its struct tags.
type setting struct {
	index int
	key   string // yaml
	env   string
	flag  string
	def   string
	help  string
	kind  kind
}

var settingsCache sync.Map // reflect.Type -> []setting

// settingsOf reads the settings of struct type t. It panics on a field it
// cannot handle: that is a programming error the tests catch.
func settingsOf(t reflect.Type) []setting {
	if s, ok := settingsCache.Load(t); ok {
		return s.([]setting)
	}
	var out []setting
	for i := range t.NumField() {
		f := t.Field(i)
		s := setting{
			index: i,
			key:   f.Tag.Get("yaml"),
			env:   f.Tag.Get("env"),
			flag:  f.Tag.Get("flag"),
			def:   f.Tag.Get("default"),
			help:  f.Tag.Get("help"),
		}
		if s.key == "" || s.env == "" || s.flag == "" || s.help == "" {
			panic(fmt.Sprintf("config: field %s needs yaml, env, flag and help tags", f.Name))
		}
		switch {
		case f.Type == durationType:
			s.kind = kDuration
		case f.Type.Kind() == reflect.String:
			s.kind = kString
		case f.Type.Kind() == reflect.Int:
			s.kind = kInt
		case f.Type.Kind() == reflect.Int64 && f.Tag.Get("unit") == "bytes":
			s.kind = kBytes
		case f.Type.Kind() == reflect.Int64:
			s.kind = kInt64
		case f.Type.Kind() == reflect.Float64:
			s.kind = kFloat
		case f.Type.Kind() == reflect.Bool:
			s.kind = kBool
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
			s.kind = kList
		default:
			panic(fmt.Sprintf("config: field %s has unsupported type %s", f.Name, f.Type))
		}
		if u := f.Tag.Get("unit"); u != "" && s.kind != kBytes {
			panic(fmt.Sprintf("config: field %s: unit %q needs an int64", f.Name, u))
		}
		out = append(out, s)
	}
	settingsCache.Store(t, out)
	return out
}

// parseInto parses text into v according to k.
func parseInto(v reflect.Value, k kind, text string) error {
	switch k {
	case kString:
		v.SetString(text)
	case kInt, kInt64:
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid integer %q", text)
		}
		v.SetInt(n)
	case kBytes:
		n, err := ParseByteSize(text)
		if err != nil {
			return err
		}
		v.SetInt(n)
	case kFloat:
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("invalid number %q", text)
		}
		v.SetFloat(f)
	case kBool:
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return fmt.Errorf("invalid boolean %q (want true or false)", text)
		}
		v.SetBool(b)
	case kDuration:
		d, err := time.ParseDuration(strings.TrimSpace(text))
		if err != nil {
			return fmt.Errorf("invalid duration %q (want e.g. 10s, 5m, 24h)", text)
		}
		v.SetInt(int64(d))
	case kList:
		v.Set(reflect.ValueOf(splitList(text)))
	}
	return nil
}

// splitList splits a comma-separated list, trimming spaces and dropping
// empty items; "" is the empty list (nil).
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func applyDefaults(ptr any) error {
	v := reflect.ValueOf(ptr).Elem()
	for _, s := range settingsOf(v.Type()) {
		if err := parseInto(v.Field(s.index), s.kind, s.def); err != nil {
			return &SettingError{Key: s.key, Source: "default tag", Value: s.def, Err: err}
		}
	}
	return nil
}

// load fills *ptr (a pointer to a settings struct) from all four layers,
// without validating ranges.
func load(ptr any, args, environ []string) ([]string, error) {
	v := reflect.ValueOf(ptr).Elem()
	settings := settingsOf(v.Type())
	if err := applyDefaults(ptr); err != nil {
		return nil, err
	}

	// Flags are parsed first, into a scratch struct, because --config
	// decides which file to read; they are copied over last.
	flagged := reflect.New(v.Type()).Elem()
	fs := flag.NewFlagSet("parley", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	configPath := fs.String(configFlag, "", "YAML configuration file")
	values := make([]*flagValue, len(settings))
	for i, s := range settings {
		values[i] = &flagValue{s: s, v: flagged.Field(s.index)}
		fs.Var(values[i], s.flag, s.help)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, flag.ErrHelp
		}
		for _, fv := range values {
			if fv.err != nil {
				return nil, fv.err
			}
		}
		return nil, fmt.Errorf("config: %w", err)
	}

	env := make(map[string]string)
	for _, kv := range environ {
		if k, val, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "PARLEY_") {
			env[k] = val
		}
	}

	path := env[configEnv]
	flagSet := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { flagSet[f.Name] = true })
	if flagSet[configFlag] {
		path = *configPath
	}
	if path != "" {
		if err := loadYAML(v, settings, path); err != nil {
			return nil, err
		}
	}

	for _, s := range settings {
		text, ok := env[s.env]
		if !ok || text == "" {
			continue
		}
		if err := parseInto(v.Field(s.index), s.kind, text); err != nil {
			return nil, &SettingError{Key: s.key, Source: "env " + s.env, Value: text, Err: err}
		}
	}

	for _, s := range settings {
		if flagSet[s.flag] {
			v.Field(s.index).Set(flagged.Field(s.index))
		}
	}
	return fs.Args(), nil
}

// flagValue is a flag.Value for one setting. A list flag given more than
// once accumulates.
type flagValue struct {
	s   setting
	v   reflect.Value
	set bool
	err *SettingError
}

func (f *flagValue) String() string {
	if f == nil || !f.v.IsValid() {
		return ""
	}
	return f.s.def
}

func (f *flagValue) Set(text string) error {
	var err error
	if f.s.kind == kList && f.set {
		f.v.Set(reflect.AppendSlice(f.v, reflect.ValueOf(splitList(text))))
	} else {
		err = parseInto(f.v, f.s.kind, text)
	}
	f.set = true
	if err != nil {
		f.err = &SettingError{Key: f.s.key, Source: "flag --" + f.s.flag, Value: text, Err: err}
	}
	return err
}

// IsBoolFlag lets a bool setting be given as a bare --flag.
func (f *flagValue) IsBoolFlag() bool { return f.s.kind == kBool }

// loadYAML applies the settings in the YAML file at path to v. The file is a
// flat mapping of setting keys; unknown and repeated keys are errors.
func loadYAML(v reflect.Value, settings []setting, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: reading config file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // empty file or only comments
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("config: %s line %d: want a mapping of setting: value", path, root.Line)
	}
	byKey := make(map[string]setting, len(settings))
	for _, s := range settings {
		byKey[s.key] = s
	}
	seen := make(map[string]int)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, val := root.Content[i], root.Content[i+1]
		where := fmt.Sprintf("%s line %d", path, k.Line)
		s, ok := byKey[k.Value]
		if !ok {
			return fmt.Errorf("config: %s: unknown setting %q", where, k.Value)
		}
		if line, dup := seen[k.Value]; dup {
			return &SettingError{Key: s.key, Source: where, Err: fmt.Errorf("already set on line %d", line)}
		}
		seen[k.Value] = k.Line
		if err := setYAML(v.Field(s.index), s, val); err != nil {
			return &SettingError{Key: s.key, Source: where, Value: val.Value, Err: err}
		}
	}
	return nil
}

func setYAML(v reflect.Value, s setting, n *yaml.Node) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		v.Set(reflect.Zero(v.Type()))
		return nil
	case n.Kind == yaml.ScalarNode:
		return parseInto(v, s.kind, n.Value)
	case n.Kind == yaml.SequenceNode && s.kind == kList:
		list := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: list items must be strings", item.Line)
			}
			if item.Value = strings.TrimSpace(item.Value); item.Value != "" {
				list = append(list, item.Value)
			}
		}
		v.Set(reflect.ValueOf(list))
		return nil
	default:
		return errors.New("want a single value")
	}
}

// ParseByteSize parses a byte size: a whole number with an optional unit,
// B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024),
// case-insensitive, with optional space between: "8192", "512KiB",
// "10MB" (10,000,000), "10MiB" (10,485,760).
func ParseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid byte size %q (want e.g. 8192, 512KiB, 10MB)", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid byte size %q: out of range", s)
	}
	unit := strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := byteUnits[unit]
	if !ok {
		return 0, fmt.Errorf("invalid byte size %q: unknown unit %q (want B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)", s, t[i:])
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid byte size %q: out of range", s)
	}
	return n * mult, nil
}

var byteUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// FormatByteSize writes n in the largest binary unit that divides it
// exactly ("8KiB", "10MiB", "1000"), the inverse of [ParseByteSize].
func FormatByteSize(n int64) string {
	for _, u := range []struct {
		name string
		mult int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// usage renders the settings for --help.
func usage(settings []setting) string {
	var b strings.Builder
	b.WriteString("Settings, in increasing precedence: defaults < YAML file < PARLEY_* environment < flags.\n")
	b.WriteString("Durations: 10s, 5m, 24h. Sizes: 8192, 512KiB, 10MiB (KiB=1024) or 10MB (KB=1000). Lists: a,b.\n\n")
	fmt.Fprintf(&b, "  --%s FILE\n        YAML configuration file (env %s)\n", configFlag, configEnv)
	for _, s := range settings {
		b.WriteString("  --" + s.flag)
		if s.kind != kBool {
			b.WriteString(" " + kindName[s.kind])
		}
		def := displayDefault(s)
		if s.kind == kString {
			def = strconv.Quote(s.def)
		}
		fmt.Fprintf(&b, "\n        %s (default %s, env %s)\n", s.help, def, s.env)
	}
	return b.String()
}

var kindName = map[kind]string{
	kString: "string", kInt: "int", kInt64: "int", kFloat: "number", kBool: "bool",
	kDuration: "duration", kList: "list", kBytes: "size",
}

// displayDefault is a setting's default as docs/configuration.md shows it.
func displayDefault(s setting) string {
	if s.def != "" {
		return s.def
	}
	if s.kind == kList {
		return "[]"
	}
	return `""`
}

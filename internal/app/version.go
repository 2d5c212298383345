package app

import (
	"fmt"
	"runtime/debug"
)

// version is set at build time for releases:
//
//	go build -ldflags "-X github.com/parley-chat/parley/internal/app.version=v1.2.3" ./cmd/parley
//
// Otherwise it is the module version Go recorded (v0.0.0-… or "(devel)").
var version = ""

// Version describes this binary: version, commit (with "+dirty" when built
// from a modified tree), commit time and Go version, on one line.
func Version() string {
	v, commit, when, goVersion := version, "unknown", "", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if v == "" {
			v = bi.Main.Version
		}
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
				if len(commit) > 12 {
					commit = commit[:12]
				}
			case "vcs.time":
				when = " " + s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty {
			commit += "+dirty"
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return fmt.Sprintf("parley %s (commit %s%s, %s)", v, commit, when, goVersion)
}

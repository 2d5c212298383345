package inbox

import (
	"regexp"
	"strings"
)

// Browser describes a User-Agent for people: "Chrome 131 on Windows".
// It knows the browsers and systems visitors use; anything else is "".
func Browser(ua string) string {
	name, ver := "", ""
	for _, b := range browsers {
		if m := b.re.FindStringSubmatch(ua); m != nil {
			name, ver = b.name, m[1]
			break
		}
	}
	sys := ""
	for _, o := range systems {
		if strings.Contains(ua, o.token) {
			sys = o.name
			break
		}
	}
	switch {
	case name == "" && sys == "":
		return ""
	case name == "":
		return sys
	}
	out := name
	if ver != "" {
		out += " " + ver
	}
	if sys != "" {
		out += " on " + sys
	}
	return out
}

// Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari".
var browsers = []struct {
	name string
	re   *regexp.Regexp
}{
	{"Edge", regexp.MustCompile(`Edg(?:e|A|iOS)?/(\d+)`)},
	{"Opera", regexp.MustCompile(`(?:OPR|Opera)/(\d+)`)},
	{"Samsung Internet", regexp.MustCompile(`SamsungBrowser/(\d+)`)},
	{"Firefox", regexp.MustCompile(`(?:Firefox|FxiOS)/(\d+)`)},
	{"Chrome", regexp.MustCompile(`(?:HeadlessChrome|Chrome|CriOS)/(\d+)`)},
	{"Safari", regexp.MustCompile(`Version/(\d+)(?:\.\d+)*.*Safari/`)},
}

var systems = []struct{ token, name string }{
	{"Windows", "Windows"},
	{"iPhone", "iOS"},
	{"iPad", "iPadOS"},
	{"Android", "Android"},
	{"CrOS", "ChromeOS"},
	{"Mac OS X", "macOS"},
	{"Linux", "Linux"},
}

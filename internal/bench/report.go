package bench

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// machine describes where the figures were taken.
type machine struct {
	CPUs      int    `json:"cpus"`
	Model     string `json:"cpu_model"`
	MemoryGiB string `json:"memory_gib"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	NoFile    string `json:"nofile_limit"`
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), Model: "unknown", MemoryGiB: "unknown", Kernel: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				fs := strings.Fields(rest)
				if kb, err := strconv.ParseFloat(fs[0], 64); err == nil {
					m.MemoryGiB = strconv.FormatFloat(kb/(1<<20), 'f', 1, 64)
				}
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if n, err := raiseNoFile(); err == nil {
		m.NoFile = strconv.FormatUint(n, 10)
	}
	return m
}

func (m machine) String() string {
	return fmt.Sprintf("machine: %d CPUs (%s), %s GiB RAM, Linux %s, %s, open-file limit %s\n",
		m.CPUs, m.Model, m.MemoryGiB, m.Kernel, m.Go, m.NoFile)
}

// line is one result as a line of text.
func (r result) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-8s run %d:", r.Scenario, r.Run)
	for i, m := range r.Metrics {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %s %s", m.Name, fmtValue(m.Value, m.Unit))
		if m.Goal != "" {
			fmt.Fprintf(&b, " (target %s %s: %s)", m.Goal, fmtNum(m.Target), verdict(m.Value, m.Goal, m.Target))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n         note: %s", n)
	}
	if r.Err != "" {
		fmt.Fprintf(&b, "\n         FAILED: %s", r.Err)
	}
	if r.Profile != "" {
		fmt.Fprintf(&b, "\n         profile: %s", r.Profile)
	}
	return b.String()
}

func verdict(v float64, goal string, target float64) string {
	if (goal == "<=" && v <= target) || (goal == ">=" && v >= target) {
		return "met"
	}
	if goal == ">=" {
		return fmt.Sprintf("MISSED by %.0f%%", (target-v)/target*100)
	}
	return fmt.Sprintf("MISSED by %.0f%%", (v-target)/target*100)
}

func fmtNum(v float64) string {
	a := v
	if a < 0 {
		a = -a
	}
	if v == math.Trunc(v) && a < 1e15 {
		return groupDigits(strconv.FormatFloat(v, 'f', 0, 64))
	}
	switch {
	case a >= 1000:
		return groupDigits(strconv.FormatFloat(v, 'f', 0, 64))
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a == 0:
		return "0"
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// groupDigits writes 1234567 as 1,234,567.
func groupDigits(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtValue(v float64, unit string) string {
	if unit == "" {
		return fmtNum(v)
	}
	return fmtNum(v) + " " + unit
}

// summary is one figure over all runs.
type summary struct {
	Scenario string    `json:"scenario"`
	Name     string    `json:"name"`
	Unit     string    `json:"unit"`
	Median   float64   `json:"median"`
	Min      float64   `json:"min"`
	Max      float64   `json:"max"`
	Values   []float64 `json:"values"`
	Target   float64   `json:"target,omitempty"`
	Goal     string    `json:"goal,omitempty"`
}

func summarize(results []result) []summary {
	var out []summary
	index := map[string]int{}
	for _, r := range results {
		for _, m := range r.Metrics {
			k := r.Scenario + "\x00" + m.Name
			i, ok := index[k]
			if !ok {
				i = len(out)
				index[k] = i
				out = append(out, summary{Scenario: r.Scenario, Name: m.Name, Unit: m.Unit, Target: m.Target, Goal: m.Goal})
			}
			out[i].Values = append(out[i].Values, m.Value)
		}
	}
	for i := range out {
		v := slices.Clone(out[i].Values)
		slices.Sort(v)
		out[i].Min, out[i].Max = v[0], v[len(v)-1]
		if n := len(v); n%2 == 1 {
			out[i].Median = v[n/2]
		} else {
			out[i].Median = (v[n/2-1] + v[n/2]) / 2
		}
	}
	return out
}

func (s summary) spread() string {
	if len(s.Values) < 2 {
		return "—"
	}
	return fmtNum(s.Min) + " – " + fmtNum(s.Max)
}

func (s summary) targetText() string {
	if s.Goal == "" {
		return ""
	}
	g := "≤"
	if s.Goal == ">=" {
		g = "≥"
	}
	return g + " " + fmtNum(s.Target) + ": " + verdict(s.Median, s.Goal, s.Target)
}

func summaryText(sums []summary, runs int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nsummary (median of %d run(s); spread = min – max):\n", runs)
	for _, s := range sums {
		fmt.Fprintf(&b, "  %-8s %-36s %16s  %-22s %s\n", s.Scenario, s.Name, fmtValue(s.Median, s.Unit), s.spread(), s.targetText())
	}
	return b.String()
}

func summaryMarkdown(sums []summary, runs int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| scenario | figure | median of %d | spread (min – max) | target |\n|---|---|---:|---:|---|\n", runs)
	for _, s := range sums {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", s.Scenario, s.Name, fmtValue(s.Median, s.Unit), s.spread(), s.targetText())
	}
	return b.String()
}

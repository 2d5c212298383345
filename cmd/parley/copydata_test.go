package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestCopySource: --from takes sqlite:PATH or PATH, a file or a data
// directory; without it the data directory of the server settings.
func TestCopySource(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "other.db")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		from string
		rest []string
		want string
	}{
		{"sqlite:" + dir, nil, filepath.Join(dir, "parley.db")},
		{dir, nil, filepath.Join(dir, "parley.db")},
		{"sqlite:" + file, nil, file},
		{"", []string{"--data-dir", dir}, filepath.Join(dir, "parley.db")},
	} {
		got, err := copySource(tt.from, tt.rest, io.Discard)
		if err != nil || got != tt.want {
			t.Errorf("copySource(%q, %q) = %q, %v; want %q", tt.from, tt.rest, got, err, tt.want)
		}
	}
	for _, from := range []string{"postgres://db/parley", "sqlite:mysql://x"} {
		if got, err := copySource(from, nil, io.Discard); err == nil {
			t.Errorf("copySource(%q) = %q, want an error", from, got)
		}
	}
}

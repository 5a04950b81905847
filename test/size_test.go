package test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The house limits (PROTOCOL.md, issue 11): a file over them holds more than one
// responsibility and is split by responsibility.
const (
	maxSourceLines = 600
	maxTestLines   = 800
)

// oversized lists the files allowed over the limit for now, each with its owner and why. The
// test fails when a listed file is back under the limit, so an exception never outlives the
// reason for it.
var oversized = map[string]string{}

// goFileLines counts the lines of every Go file of the module below root (not .git, not
// testdata: fuzz corpora and golden files are data).
func goFileLines(t *testing.T, root string) map[string]int {
	t.Helper()
	lines := map[string]int{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != root && (n == ".git" || n == "testdata" || strings.HasPrefix(n, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		n := bytes.Count(b, []byte("\n"))
		if len(b) > 0 && b[len(b)-1] != '\n' {
			n++
		}
		lines[filepath.ToSlash(rel)] = n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// tooLong returns the limit a file of n lines passes, or 0.
func tooLong(path string, n int) int {
	limit := maxSourceLines
	if strings.HasSuffix(path, "_test.go") {
		limit = maxTestLines
	}
	if n > limit {
		return limit
	}
	return 0
}

// TestFileSizes: no non-test Go file over 600 lines, no test file over 800.
func TestFileSizes(t *testing.T) {
	lines := goFileLines(t, "..")
	if len(lines) < 100 {
		t.Fatalf("found only %d Go files: wrong root?", len(lines))
	}
	for p, n := range lines {
		limit := tooLong(p, n)
		why, excepted := oversized[p]
		switch {
		case limit > 0 && !excepted:
			t.Errorf("%s has %d lines (limit %d): split it by responsibility", p, n, limit)
		case limit == 0 && excepted:
			t.Errorf("%s has %d lines, within the limit: remove its exception (%s)", p, n, why)
		}
	}
	for p := range oversized {
		if _, ok := lines[p]; !ok {
			t.Errorf("exception for %s, which does not exist: remove it", p)
		}
	}
}

// TestFileSizeLimits proves the check is not vacuous.
func TestFileSizeLimits(t *testing.T) {
	for _, c := range []struct {
		path string
		n    int
		want int
	}{
		{"a.go", 600, 0}, {"a.go", 601, 600}, {"a_test.go", 800, 0}, {"a_test.go", 801, 800}, {"a_test.go", 700, 0},
	} {
		if got := tooLong(c.path, c.n); got != c.want {
			t.Errorf("tooLong(%s, %d) = %d, want %d", c.path, c.n, got, c.want)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.go"), []byte(strings.Repeat("x\n", 601)+"y"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n := goFileLines(t, dir)["x.go"]; n != 602 {
		t.Errorf("counted %d lines, want 602", n)
	}
}

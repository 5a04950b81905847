package base

import (
	"bytes"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/pmezard/go-difflib/difflib"
)

// ErrNotText is returned by Diff for binary content (NUL bytes or invalid UTF-8).
var ErrNotText = errors.New("not a text file")

// ErrNoBase is returned by Diff when the base image has no copy of the file to compare with.
var ErrNoBase = errors.New("no copy in the base image")

// Diff returns the unified diff (3 lines of context) from the base image's copy of path to now;
// "" when they are equal.
func (img *Image) Diff(p string, now []byte) (string, error) {
	old, ok := img.File(p)
	if !ok {
		return "", ErrNoBase
	}
	if !isText(old) || !isText(now) {
		return "", ErrNotText
	}
	if bytes.Equal(old, now) {
		return "", nil
	}
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: splitLines(string(old)), B: splitLines(string(now)),
		FromFile: "base:" + Clean(p), ToFile: "checkpoint:" + Clean(p), Context: 3,
	})
}

// splitLines splits s after each newline, every line ending in one (difflib.SplitLines adds an
// empty last line to text that ends in a newline, which showed as a line of the file).
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		return lines[:len(lines)-1]
	}
	lines[len(lines)-1] += "\n"
	return lines
}

func isText(b []byte) bool { return bytes.IndexByte(b, 0) < 0 && utf8.Valid(b) }

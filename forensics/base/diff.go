package base

import (
	"bytes"
	"errors"
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
		A: difflib.SplitLines(string(old)), B: difflib.SplitLines(string(now)),
		FromFile: "base:" + Clean(p), ToFile: "checkpoint:" + Clean(p), Context: 3,
	})
}

func isText(b []byte) bool { return bytes.IndexByte(b, 0) < 0 && utf8.Valid(b) }

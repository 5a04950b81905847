package report

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/base"
	"github.com/podsleuth/podsleuth/forensics/content"
)

// Bounds of the rootfs diffs a report carries: a hostile container can rewrite a huge text
// file, and the report must stay readable and small.
const (
	// MaxDiffLines is the most lines of one file's diff kept (the rest is cut, Truncated set).
	MaxDiffLines = 200
	// MaxDiffBytes is the most bytes of one file's diff kept.
	MaxDiffBytes = 32 << 10
	// MaxDiffFiles is the most modified files diffed per checkpoint.
	MaxDiffFiles = 50
)

// RootfsDiff is how one modified file of the rootfs changes differs from the container's base
// image: the unified diff for a text file, or a note saying why there is none.
type RootfsDiff struct {
	Path string `json:"path"`
	// Diff is the unified diff (base image -> checkpoint, 3 lines of context), cut at
	// MaxDiffLines lines or MaxDiffBytes bytes (Truncated then says so).
	Diff      string `json:"diff,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
	// Note says why there is no diff (binary content, too large, same content).
	Note string `json:"note,omitempty"`
}

// RootfsDiffs diffs every modified file of the rootfs changes against the base image of the
// analysis (Result.Base, from analysis.Options.Rootfs), reading the file from the saved
// contents (Result.Content). It is nil without a base image or without the contents. Call it
// before res.Close.
func RootfsDiffs(cp *forensics.Checkpoint, res *analysis.Result) []RootfsDiff {
	if cp == nil || res == nil || res.Base == nil || res.Content == nil {
		return nil
	}
	var out []RootfsDiff
	for _, rc := range cp.Rootfs {
		if rc.Kind != forensics.RootfsModified || rc.Type != "file" {
			continue
		}
		if len(out) == MaxDiffFiles {
			out = append(out, RootfsDiff{Path: "…", Note: fmt.Sprintf("more modified files than the %d a report diffs: see `podsleuth files cat --diff`", MaxDiffFiles)})
			break
		}
		out = append(out, diffOne(res, rc.Path))
	}
	return out
}

func diffOne(res *analysis.Result, p string) RootfsDiff {
	d := RootfsDiff{Path: p}
	o, err := res.Content.Find(content.KindRootfs + ":" + p)
	r := (io.Reader)(nil)
	if err == nil {
		r = o.Reader()
	}
	if r == nil {
		d.Note = "its content is not in the checkpoint"
		return d
	}
	if o.Size > base.DefaultMaxFile {
		d.Note = fmt.Sprintf("%d bytes: larger than the %d a diff reads", o.Size, base.DefaultMaxFile)
		return d
	}
	now, err := io.ReadAll(io.LimitReader(r, base.DefaultMaxFile+1))
	if err != nil {
		d.Note = "reading it failed: " + err.Error()
		return d
	}
	text, err := res.Base.Diff(p, now)
	switch {
	case errors.Is(err, base.ErrNotText):
		d.Note = "binary content: no text diff"
	case errors.Is(err, base.ErrNoBase):
		d.Note = fmt.Sprintf("the base image's copy is not a regular file of at most %d bytes", base.DefaultMaxFile)
	case err != nil:
		d.Note = "diff failed: " + err.Error()
	case text == "":
		d.Note = "same content as in the base image (only its metadata changed)"
	default:
		d.Diff, d.Truncated = clipDiff(text)
	}
	return d
}

// clipDiff keeps at most MaxDiffLines lines and MaxDiffBytes bytes of a diff, cut at a line end.
func clipDiff(s string) (string, bool) {
	lines := strings.SplitAfter(s, "\n")
	n, cut := 0, false
	for i, l := range lines {
		if i == MaxDiffLines || n+len(l) > MaxDiffBytes {
			cut = true
			break
		}
		n += len(l)
	}
	return s[:n], cut
}

package tui

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/content"
	"github.com/podsleuth/podsleuth/forensics/report"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
)

// maxHashed bounds what is read to hash the checkpoint's copy of one modified file for its
// detail view (a hostile container can write a huge file).
const maxHashed = 64 << 20

// rootfsDiffs are the detail views' diffs of the modified files: the report's diffs (the same
// bounded text), with the size and hash of the base image's copy and of the checkpoint's. It
// reads the saved contents, so it runs inside the loading Cmd; nil without a base image.
func rootfsDiffs(res *analysis.Result, diffs []report.RootfsDiff) map[string]checkpoint.RootfsDiff {
	if res == nil || res.Base == nil || len(diffs) == 0 {
		return nil
	}
	out := make(map[string]checkpoint.RootfsDiff, len(diffs))
	for _, d := range diffs {
		rd := checkpoint.RootfsDiff{RootfsDiff: d}
		if e, ok := res.Base.Lookup(d.Path); ok {
			rd.BaseType, rd.BaseSize = e.Type, e.Size
		}
		if b, ok := res.Base.File(d.Path); ok {
			rd.BaseSHA256 = sum(b)
		}
		rd.SHA256, rd.HashNote = hashContent(res.Content, d.Path)
		out[d.Path] = rd
	}
	return out
}

// hashContent hashes the checkpoint's copy of a rootfs file; a note says why it was not.
func hashContent(set *content.Set, p string) (string, string) {
	if set == nil {
		return "", "the saved contents could not be listed"
	}
	o, err := set.Find(content.KindRootfs + ":" + p)
	if err != nil {
		return "", "its content is not in the checkpoint"
	}
	r := o.Reader()
	switch {
	case r == nil:
		return "", "its content is not in the checkpoint"
	case o.Size > maxHashed:
		return "", fmt.Sprintf("not hashed: larger than %s", forensics.HumanBytes(maxHashed))
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", "reading it failed: " + err.Error()
	}
	return hex.EncodeToString(h.Sum(nil)), ""
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

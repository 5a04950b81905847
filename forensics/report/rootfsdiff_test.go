package report_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/open"
	"github.com/podsleuth/podsleuth/forensics/report"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

// writeBase writes a root filesystem tar (a base image as --rootfs takes it) holding files.
func writeBase(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for n, s := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: "./" + n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(s))}))
		_, err := tw.Write([]byte(s))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	p := filepath.Join(t.TempDir(), "base.tar")
	require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o600))
	return p
}

// TestReportRootfsDiffs: with a base image, the report (JSON, Markdown, HTML) shows how each
// modified text file of podman-crun.tar's rootfs changes differs from it, drawn from the one
// analysis: the lines of the base and of the checkpoint, a hostile escape in the base's copy
// shown escaped (never raw) in the human formats, a long diff cut with a mark, and a binary
// file named with why it has no diff. Without a base there is no diff section.
func TestReportRootfsDiffs(t *testing.T) {
	ctx := context.Background()
	var long strings.Builder
	for i := range 300 {
		fmt.Fprintf(&long, "old-line-%03d\n", i)
	}
	rootfs := writeBase(t, map[string]string{
		// the checkpoint's copy starts "pid 1\nchild 8\nmode full\n"
		"work/target.info":     "pid 1\nchild 8\nmode \x1b]0;pwned\x07shipped\n",
		"work/target-data.txt": long.String(),
		"tmp/.x/miner":         "\x7fELF\x00an older binary",
	})
	src := filepath.Join(fixtures.Dir(), "archives/podman-crun.tar")
	in, err := report.OpenInput(ctx, open.Config{Arg: src, NoStore: true, CacheDir: t.TempDir()}, analysis.Options{Rootfs: rootfs})
	require.NoError(t, err)
	byPath := map[string]report.RootfsDiff{}
	for _, d := range in.RootfsDiffs {
		byPath[d.Path] = d
	}
	require.Len(t, byPath, 3, "the three modified files: %+v", in.RootfsDiffs)

	info := byPath["/work/target.info"]
	require.Contains(t, info.Diff, "--- base:/work/target.info")
	require.Contains(t, info.Diff, "-mode \x1b]0;pwned\x07shipped\n")
	require.Contains(t, info.Diff, "+mode full\n")
	require.Contains(t, info.Diff, "+ipv6 yes\n")
	require.False(t, info.Truncated)

	data := byPath["/work/target-data.txt"]
	require.True(t, data.Truncated)
	require.Equal(t, report.MaxDiffLines, strings.Count(data.Diff, "\n"))
	require.Contains(t, data.Diff, "-old-line-000\n")
	require.NotContains(t, data.Diff, "old-line-299")

	require.Empty(t, byPath["/tmp/.x/miner"].Diff)
	require.Contains(t, byPath["/tmp/.x/miner"].Note, "binary")

	r, err := report.Build([]report.Input{in}, report.Options{Generated: time.Unix(0, 0)})
	require.NoError(t, err)
	var js bytes.Buffer
	require.NoError(t, r.Render(&js, report.JSON))
	var doc struct {
		Checkpoints []struct {
			RootfsDiffs []report.RootfsDiff `json:"rootfs_diffs"`
		}
	}
	require.NoError(t, json.Unmarshal(js.Bytes(), &doc))
	require.Len(t, doc.Checkpoints[0].RootfsDiffs, 3)
	for _, f := range []report.Format{report.Markdown, report.HTML} {
		var b bytes.Buffer
		require.NoError(t, r.Render(&b, f))
		out := b.String()
		require.False(t, strings.Contains(out, "\x1b"), "%s", f)
		if f == report.HTML {
			out = html.UnescapeString(out)
		}
		require.Contains(t, out, "Modified files against the base image", "%s", f)
		require.True(t, strings.Contains(out, "+mode full"), "%s: %s", f, tail(out, "Modified files against"))
		require.True(t, strings.Contains(out, `\x1b]0;pwned\x07shipped`), "%s: the escape is shown, not sent", f)
		require.True(t, strings.Contains(out, "binary content: no text diff"), "%s", f)
		require.True(t, strings.Contains(out, "files cat --diff"), "%s: a cut diff says where the whole one is", f)
	}

	in, err = report.OpenInput(ctx, open.Config{Arg: src, NoStore: true, CacheDir: t.TempDir()}, analysis.Options{})
	require.NoError(t, err)
	require.Nil(t, in.RootfsDiffs, "no base image, no diff")
}

// tail is s from the first sep on, at most 2000 bytes (a failure message without the page).
func tail(s, sep string) string {
	if i := strings.Index(s, sep); i >= 0 {
		s = s[i:]
	}
	return s[:min(len(s), 2000)]
}

package tui

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/forensics"
	fevidence "github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/forensics/report"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
	"github.com/podsleuth/podsleuth/tui/screens/evidence"
)

// persistFixture and persistBase are the Podman checkpoint with persistence changes and its
// base image, relative to the package directory (the goldens do not depend on the checkout).
var (
	persistFixture = filepath.Join("..", "test", "fixtures", "archives", "podman-persist.tar")
	persistBase    = filepath.Join("..", "test", "fixtures", "archives", "podman-persist.base.tar.gz")
)

// openPersist opens the persistence fixture through the ":" command line, as a responder types
// it (":open ARCHIVE" and " --rootfs BASE" when rootfs is not empty).
func openPersist(t *testing.T, w, h int, rootfs string) (*App, *Jobs, *checkpoint.Model) {
	t.Helper()
	cfg := &config.Config{CacheDir: t.TempDir(), DataDir: filepath.Join(t.TempDir(), "data")}
	cfg.Limits = config.Limits{MaxMemberBytes: 1 << 30, MaxTotalBytes: 4 << 30, MaxEntries: 100000}
	cfg.Report.Format = "json"
	jobs := NewJobs(cfg, "test")
	a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "test", Loader: jobs.Loader()})
	a.Update(tea.WindowSizeMsg{Width: w, Height: h})
	line := ":open " + persistFixture
	if rootfs != "" {
		line += " --rootfs " + rootfs
	}
	typeKeys(t, a, line)
	_, cmd := a.Update(special(tea.KeyEnter))
	run(t, a, cmd)
	cp, ok := a.Top().(*checkpoint.Model)
	require.True(t, ok, "the case is open")
	require.NotNil(t, cp.Loaded(), "decoded")
	return a, jobs, cp
}

// TestRootfsDiffDetail: opened with its base image (:open ... --rootfs BASE), the Rootfs tab of
// the persistence fixture says modified for /etc/passwd and added for the files the base lacks,
// as the model's kinds say; enter on /etc/passwd shows the report's diff, the uid-0 line added;
// esc returns to the same row. Goldens at 80x24 and 160x45, plain and coloured.
func TestRootfsDiffDetail(t *testing.T) {
	for _, sz := range []struct{ w, h int }{{80, 24}, {160, 45}} {
		a, _, cp := openPersist(t, sz.w, sz.h, persistBase)
		c := cp.Loaded().Checkpoint
		require.Contains(t, c.RootfsBase, "podman-persist.base.tar.gz")
		kinds := map[string]string{}
		for _, r := range c.Rootfs {
			kinds[r.Path] = r.Kind
		}
		require.Equal(t, forensics.RootfsModified, kinds["/etc/passwd"])
		require.Equal(t, forensics.RootfsAdded, kinds["/etc/ld.so.preload"])
		a.Update(press(rune('1' + checkpoint.TabRootfs)))
		tbl := cp.Table(checkpoint.TabRootfs)
		for i := 0; i < tbl.Len(); i++ {
			r, _ := cp.Table(checkpoint.TabRootfs).Selected()
			_, p, _ := strings.Cut(r.Key, ":")
			require.Equal(t, c.Rootfs[slicesIndex(c, p, r.Key)].Kind, r.Cells[0], "the KIND column is the model's kind")
			a.Update(press('j'))
		}

		k := drillInto(t, a, cp, checkpoint.TabRootfs, "/etc/passwd")
		text := strings.Join(cp.DrillLines(), "\n")
		require.Contains(t, text, "change      modified")
		require.Contains(t, text, "Diff against the base image")
		require.Contains(t, text, "  --- base:/etc/passwd")
		require.Contains(t, text, "  +backdoor::0:0:backdoor:/root:/bin/sh")
		require.Contains(t, text, "   root:x:0:0:root:/root:/bin/sh", "context lines are kept")
		require.Equal(t, 1, strings.Count(text, "+backdoor::0:0:"), "the diff, not the content, is shown")
		frame := a.Render()
		require.Len(t, strings.Split(ansi.Strip(frame), "\n"), sz.h)
		require.Contains(t, ansi.Strip(frame), "+backdoor::0:0:backdoor:/root:/bin/sh", "the added line is on the first screen")
		name := fmt.Sprintf("drill-rootfs-diff-%dx%d", sz.w, sz.h)
		golden(t, name, frame)
		setDark(a)
		colourGolden(t, name, a.Render())

		a.Update(special(tea.KeyEscape))
		require.False(t, cp.DrillOpen())
		r, _ := cp.Table(checkpoint.TabRootfs).Selected()
		require.Equal(t, k, r.Key, "esc returns to the same row")
		require.Equal(t, 2, a.Depth(), "the case is still open")

		// an added file: not in the base, its content shown
		drillInto(t, a, cp, checkpoint.TabRootfs, "/etc/ld.so.preload")
		text = strings.Join(cp.DrillLines(), "\n")
		require.Contains(t, text, "Added: the base image has no /etc/ld.so.preload")
		require.Contains(t, text, "Content: rootfs:/etc/ld.so.preload")
		a.Update(special(tea.KeyEscape))
	}
}

func slicesIndex(c *forensics.Checkpoint, p, key string) int {
	for i, r := range c.Rootfs {
		if r.Path == p && r.Kind+":"+r.Path == key {
			return i
		}
	}
	return -1
}

// TestRootfsNoBaseDetail: without a base image nothing tells added from modified: the KIND
// column says "added or modified" and the detail of /etc/passwd says why there is no diff.
// Goldens at 80x24 and 160x45.
func TestRootfsNoBaseDetail(t *testing.T) {
	for _, sz := range []struct{ w, h int }{{80, 24}, {160, 45}} {
		a, _, cp := openPersist(t, sz.w, sz.h, "")
		require.Empty(t, cp.Loaded().Checkpoint.RootfsBase)
		require.Nil(t, cp.Loaded().RootfsDiffs)
		drillInto(t, a, cp, checkpoint.TabRootfs, "/etc/passwd")
		r, _ := cp.Table(checkpoint.TabRootfs).Selected()
		require.Equal(t, "added/mod", r.Cells[0], "added or modified: nothing tells")
		text := strings.Join(cp.DrillLines(), "\n")
		require.Contains(t, text, "change      added or modified")
		require.Contains(t, text, "No diff: no base image given: --rootfs BASE.tar")
		require.Contains(t, text, "Content: rootfs:/etc/passwd", "the content instead")
		frame := a.Render()
		require.Contains(t, ansi.Strip(frame), "no base image given: --rootfs BASE.tar")
		golden(t, fmt.Sprintf("drill-rootfs-nobase-%dx%d", sz.w, sz.h), frame)
	}
}

// writeBaseTar writes a root filesystem tar holding one /etc/passwd.
func writeBaseTar(t *testing.T, passwd []byte) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "./etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(passwd))}))
	_, err := tw.Write(passwd)
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	base := filepath.Join(t.TempDir(), "base.tar")
	require.NoError(t, os.WriteFile(base, buf.Bytes(), 0o600))
	return base
}

// TestRootfsDiffCut: a diff longer than the report's bounds is cut where the report cuts it,
// and the detail says so.
func TestRootfsDiffCut(t *testing.T) {
	var long strings.Builder
	for i := range 300 {
		fmt.Fprintf(&long, "user%03d:x:%d:%d::/home/user%03d:/bin/sh\n", i, 1000+i, 1000+i, i)
	}
	a, _, cp := openPersist(t, 120, 40, writeBaseTar(t, []byte(long.String())))
	drillInto(t, a, cp, checkpoint.TabRootfs, "/etc/passwd")
	lines := cp.DrillLines()
	text := strings.Join(lines, "\n")
	require.Contains(t, text, "-user000:x:1000:1000::/home/user000:/bin/sh")
	require.NotContains(t, text, "user299", "cut")
	require.Contains(t, text, fmt.Sprintf("… cut at %d lines or 32.0 KiB, as the report cuts it", report.MaxDiffLines))
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "  -") || strings.HasPrefix(l, "  +") || strings.HasPrefix(l, "   ") || strings.HasPrefix(l, "  @@") {
			n++
		}
	}
	require.LessOrEqual(t, n, report.MaxDiffLines+4, "at most the report's lines (and the content's two)")
}

// TestRootfsBinaryModified: a file whose base copy is binary has no text diff: the detail says
// so and shows both sides' sizes and SHA-256.
func TestRootfsBinaryModified(t *testing.T) {
	old := []byte("\x7fELF\x00\x01\x02not a passwd")
	a, _, cp := openPersist(t, 120, 40, writeBaseTar(t, old))
	drillInto(t, a, cp, checkpoint.TabRootfs, "/etc/passwd")
	text := strings.Join(cp.DrillLines(), "\n")
	require.Contains(t, text, "No diff: binary content: no text diff")
	require.Contains(t, text, fmt.Sprintf("base size   file, %d B (%d bytes)", len(old), len(old)))
	require.Contains(t, text, "base sha256 "+sum(old))
	o, err := cp.Loaded().Contents.Find("rootfs:/etc/passwd")
	require.NoError(t, err)
	now, err := io.ReadAll(o.Reader())
	require.NoError(t, err)
	require.Contains(t, string(now), "backdoor::0:0:")
	require.Contains(t, text, "now sha256  "+sum(now))
	require.NotContains(t, text, "Diff against the base image")
}

// TestReportExportCarriesRootfsDiffs: started as `podsleuth open podman-persist.tar --rootfs
// BASE` (Options.Rootfs), esc to the evidence view and x exports the opened case's report with
// the rootfs diffs, as podsleuth report --rootfs writes them (TestTUIReportRootfsEqualsCLI in
// cmd/podsleuth compares the two).
func TestReportExportCarriesRootfsDiffs(t *testing.T) {
	dir := t.TempDir()
	st, err := fevidence.Open(dir)
	require.NoError(t, err)
	cfg := &config.Config{CacheDir: t.TempDir(), DataDir: dir}
	cfg.Limits = config.Limits{MaxMemberBytes: 1 << 30, MaxTotalBytes: 4 << 30, MaxEntries: 100000}
	cfg.Report.Format = "json"
	cfg.Report.Dir = t.TempDir()
	jobs := NewJobs(cfg, "test")
	a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "not used: opening files", Loader: jobs.Loader(),
		Archives: []string{persistFixture}, Rootfs: persistBase,
		Evidence: evidence.Source{Store: st, Actions: evidence.Actions{Report: jobs.Report, Restore: jobs.Restore, Add: jobs.Add}}})
	a.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
	run(t, a, a.Init())
	cp, ok := a.Top().(*checkpoint.Model)
	require.True(t, ok, "the archive is open")
	require.NotEmpty(t, cp.Loaded().Checkpoint.RootfsBase, "with its base")
	_, cmd := a.Update(special(tea.KeyEscape))
	run(t, a, cmd)
	require.Equal(t, 1, a.Depth())

	_, cmd = a.Update(press('x'))
	run(t, a, cmd)
	status, errLine := a.Status()
	require.Empty(t, errLine)
	file, ok := strings.CutPrefix(status, "report: ")
	require.True(t, ok, status)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	var rep struct {
		Checkpoints []struct {
			RootfsChanges []forensics.RootfsChange `json:"rootfs_changes"`
			RootfsDiffs   []report.RootfsDiff      `json:"rootfs_diffs"`
		} `json:"checkpoints"`
	}
	require.NoError(t, json.Unmarshal(data, &rep))
	require.Len(t, rep.Checkpoints, 1)
	c := rep.Checkpoints[0]
	kinds := map[string]string{}
	for _, r := range c.RootfsChanges {
		kinds[r.Path] = r.Kind
	}
	require.Equal(t, forensics.RootfsModified, kinds["/etc/passwd"])
	require.Len(t, c.RootfsDiffs, 1, "one modified file: %+v", c.RootfsDiffs)
	require.Equal(t, "/etc/passwd", c.RootfsDiffs[0].Path)
	require.Contains(t, c.RootfsDiffs[0].Diff, "+backdoor::0:0:backdoor:/root:/bin/sh\n")

	// enter on the listed case opens it again with the same base
	_, cmd = a.Update(special(tea.KeyEnter))
	run(t, a, cmd)
	cp, ok = a.Top().(*checkpoint.Model)
	require.True(t, ok)
	require.Equal(t, cp.Loaded().Checkpoint.RootfsBase, "rootfs tar "+persistBase)
}

// TestRootfsBadBase: a base image that cannot be read fails the opening with the cause said
// once (the analyst asked for it: nothing is shown as if classified).
func TestRootfsBadBase(t *testing.T) {
	cfg := &config.Config{CacheDir: t.TempDir()}
	jobs := NewJobs(cfg, "test")
	a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "test", Loader: jobs.Loader()})
	a.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
	typeKeys(t, a, ":open "+persistFixture+" --rootfs /nonexistent/base.tar")
	_, cmd := a.Update(special(tea.KeyEnter))
	run(t, a, cmd)
	_, errLine := a.Status()
	require.Contains(t, errLine, "/nonexistent/base.tar")
	require.Equal(t, 1, strings.Count(errLine, "/nonexistent/base.tar"), errLine)
	require.Contains(t, errLine, "no such file or directory")

	typeKeys(t, a, ":open "+persistFixture+" --rootfs")
	_, cmd = a.Update(special(tea.KeyEnter))
	run(t, a, cmd)
	_, errLine = a.Status()
	require.Contains(t, errLine, ":open --rootfs needs the base image")
}

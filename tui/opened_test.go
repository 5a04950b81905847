package tui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/config"
	fevidence "github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/test/fixtures"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
	"github.com/podsleuth/podsleuth/tui/screens/evidence"
)

// openedApp is the workbench started as `podsleuth open ARCHIVE` on a real fixture outside an
// (empty, real) evidence store, with the real jobs behind x, A and v.
func openedApp(t *testing.T, archive string) (*App, *fevidence.Store, *config.Config) {
	t.Helper()
	dir := t.TempDir()
	st, err := fevidence.Open(dir)
	require.NoError(t, err)
	cfg := &config.Config{CacheDir: t.TempDir(), DataDir: dir}
	cfg.Limits = config.Limits{MaxMemberBytes: 1 << 30, MaxTotalBytes: 4 << 30, MaxEntries: 100000}
	cfg.Report.Format = "json"
	cfg.Report.Dir = t.TempDir()
	jobs := NewJobs(cfg, "test")
	a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "not used: opening files", Loader: jobs.Loader(),
		Archives: []string{archive},
		Evidence: evidence.Source{Store: st, Actions: evidence.Actions{Report: jobs.Report, Restore: jobs.Restore, Add: jobs.Add}}})
	a.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
	run(t, a, a.Init())
	_, ok := a.Top().(*checkpoint.Model)
	require.True(t, ok, "the archive is open")
	return a, st, cfg
}

func selectedKey(t *testing.T, a *App) string {
	t.Helper()
	ev, ok := a.Top().(*evidence.Model)
	require.True(t, ok, "on the evidence view")
	r, ok := ev.Table().Selected()
	require.True(t, ok)
	return r.Key
}

// TestOpenedCaseStaysListed: esc from any tab of a case opened from outside the store returns
// to the evidence view with that case listed ("not in store") and selected; x exports its
// report, v says why there is nothing to verify, A adds it to the store (the store's import
// job), after which it is the store item, selected, and v verifies it. A second case opened
// with :open is listed too, and esc returns to it.
func TestOpenedCaseStaysListed(t *testing.T) {
	archive := filepath.Join(fixtures.Dir(), "archives", "podman-crun.tar.zst")
	abs, err := filepath.Abs(archive)
	require.NoError(t, err)
	a, st, cfg := openedApp(t, archive)
	a.Update(press('3'))
	_, cmd := a.Update(special(tea.KeyEscape))
	run(t, a, cmd)
	require.Equal(t, 1, a.Depth())
	require.Equal(t, "opened:"+abs, selectedKey(t, a), "the case is selected")
	f := ansi.Strip(a.Render())
	require.Contains(t, f, "not in store")
	require.Contains(t, f, "podman-crun.tar.zst")

	// x: the report of the opened case
	_, cmd = a.Update(press('x'))
	run(t, a, cmd)
	status, errLine := a.Status()
	require.Empty(t, errLine)
	file, ok := strings.CutPrefix(status, "report: ")
	require.True(t, ok, status)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Contains(t, string(data), "podman-crun.tar.zst")
	require.Equal(t, cfg.Report.Dir, filepath.Dir(file))

	// v: not in the store, nothing to verify against
	_, cmd = a.Update(press('v'))
	run(t, a, cmd)
	status, _ = a.Status()
	require.Contains(t, status, "not in the evidence store")

	// enter opens it again; esc comes back to it
	_, cmd = a.Update(special(tea.KeyEnter))
	run(t, a, cmd)
	require.Equal(t, 2, a.Depth())
	_, cmd = a.Update(special(tea.KeyEscape))
	run(t, a, cmd)
	require.Equal(t, "opened:"+abs, selectedKey(t, a))

	// A: into the store; the row becomes the store item, still selected
	_, cmd = a.Update(press('A'))
	run(t, a, cmd)
	status, errLine = a.Status()
	require.Empty(t, errLine)
	require.Contains(t, status, "added "+abs+" to the evidence store as ")
	items, err := st.List()
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.Equal(t, abs, items[0].Manifest.SourcePath)
	require.Equal(t, items[0].ID, selectedKey(t, a))
	require.NotContains(t, ansi.Strip(a.Render()), "not in store")
	_, cmd = a.Update(press('v'))
	run(t, a, cmd)
	status, errLine = a.Status()
	require.Empty(t, errLine)
	require.Contains(t, status, items[0].ID+" verified: sha256")

	// :open a second case from outside the store: both stay listed, esc selects the second
	second := filepath.Join(fixtures.Dir(), "images", "full")
	typeKeys(t, a, ":open "+second)
	_, cmd = a.Update(special(tea.KeyEnter))
	run(t, a, cmd)
	require.Equal(t, 2, a.Depth())
	_, cmd = a.Update(special(tea.KeyEscape))
	run(t, a, cmd)
	require.Equal(t, "opened:"+second, selectedKey(t, a))
	f = ansi.Strip(a.Render())
	require.Contains(t, f, items[0].ID)
	require.Contains(t, f, "images/full")
	// a CRIU image directory is not an archive: A says so by name
	_, cmd = a.Update(press('A'))
	run(t, a, cmd)
	_, errLine = a.Status()
	require.Contains(t, errLine, "image directory cannot be added")
}

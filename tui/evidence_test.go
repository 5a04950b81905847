package tui

import (
	"context"
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
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/screens/evidence"
)

// storeApp is the evidence view over a real store holding the real Podman fixture archive.
func storeApp(t *testing.T) (*App, *fevidence.Store, *fevidence.Item) {
	t.Helper()
	st, err := fevidence.Open(t.TempDir())
	require.NoError(t, err)
	it, err := st.Import(t.Context(), filepath.Join(fixtures.Dir(), "archives", "podman-crun.tar.zst"),
		fevidence.Manifest{CaseID: "IR-7", Namespace: "prod", Pod: "web-1", Container: "app", Node: "node-a"})
	require.NoError(t, err)
	a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "test", Evidence: evidence.Source{Store: st}})
	a.Update(tea.WindowSizeMsg{Width: 140, Height: 30})
	run(t, a, a.Init())
	return a, st, it
}

func TestEvidenceVerifyAndTamper(t *testing.T) {
	a, _, it := storeApp(t)
	f := ansi.Strip(a.Render())
	require.Contains(t, f, it.ID)
	require.Contains(t, f, "IR-7")
	require.Contains(t, f, "not verified")
	_, cmd := a.Update(press('v'))
	run(t, a, cmd)
	status, errLine := a.Status()
	require.Empty(t, errLine)
	require.Contains(t, status, "verified: sha256")
	require.Contains(t, ansi.Strip(a.Render()), "verified ")

	// tamper with the archive (the store keeps it read-only: an attacker with root would not care)
	require.NoError(t, os.Chmod(it.Archive, 0o600))
	fh, err := os.OpenFile(it.Archive, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = fh.WriteAt([]byte("X"), 100)
	require.NoError(t, err)
	require.NoError(t, fh.Close())
	_, cmd = a.Update(press('v'))
	run(t, a, cmd)
	_, errLine = a.Status()
	require.Contains(t, errLine, "integrity check failed")
	require.Contains(t, a.hint, "treat it as tampered")
	require.Contains(t, ansi.Strip(a.Render()), "MISMATCH")
}

func TestEvidenceOpenSendsOpen(t *testing.T) {
	a, _, it := storeApp(t)
	_, cmd := a.Update(special(tea.KeyEnter))
	require.NotNil(t, cmd)
	msg := cmd().(nav.OpenCheckpointMsg)
	require.Equal(t, it.Archive, msg.Path)
	require.Equal(t, "prod/web-1/app", msg.Label)
}

// TestOpeningEvidenceIsRecorded: opening an evidence item in the workbench (enter in the
// evidence view, decoded by the real Loader) adds an "opened" event to its custody log and says so.
func TestOpeningEvidenceIsRecorded(t *testing.T) {
	dir := t.TempDir()
	st, err := fevidence.Open(dir)
	require.NoError(t, err)
	it, err := st.Import(t.Context(), filepath.Join(fixtures.Dir(), "archives", "podman-crun.tar.zst"), fevidence.Manifest{CaseID: "IR-8"})
	require.NoError(t, err)
	cfg := &config.Config{CacheDir: t.TempDir(), DataDir: dir}
	cfg.Limits = config.Limits{MaxMemberBytes: 1 << 30, MaxTotalBytes: 4 << 30, MaxEntries: 100000}
	a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "test", Evidence: evidence.Source{Store: st}, Loader: NewLoader(cfg)})
	a.Update(tea.WindowSizeMsg{Width: 140, Height: 30})
	run(t, a, a.Init())
	_, cmd := a.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	run(t, a, cmd)
	status, errLine := a.Status()
	require.Empty(t, errLine)
	require.Contains(t, status, "opening recorded in the custody log of "+it.ID)
	evs, err := st.Custody(it.ID)
	require.NoError(t, err)
	last := evs[len(evs)-1]
	require.Equal(t, fevidence.ActionOpened, last.Action)
	require.Equal(t, "podsleuth TUI", last.Details["by"])
	vr, err := st.Verify(t.Context(), it.ID)
	require.NoError(t, err)
	require.True(t, vr.OK)
}

// TestRestoreAsksForTheBaseRootfs: R on an evidence item asks for the container's base root
// filesystem (and the sinkhole, tab) before restoring; the answer reaches the restore engine,
// esc restores nothing, and the next question offers the last answer.
func TestRestoreAsksForTheBaseRootfs(t *testing.T) {
	st, err := fevidence.Open(t.TempDir())
	require.NoError(t, err)
	it, err := st.Import(t.Context(), filepath.Join(fixtures.Dir(), "archives", "podman-crun.tar.zst"),
		fevidence.Manifest{CaseID: "IR-9", Namespace: "prod", Pod: "web-1", Container: "app"})
	require.NoError(t, err)
	type call struct {
		path string
		o    evidence.RestoreOptions
	}
	var calls []call
	restore := func(_ context.Context, path string, o evidence.RestoreOptions) (string, error) {
		calls = append(calls, call{path, o})
		return "restored into sandbox sb-1", nil
	}
	a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "test",
		Evidence: evidence.Source{Store: st, Actions: evidence.Actions{Restore: restore}}})
	a.Update(tea.WindowSizeMsg{Width: 140, Height: 30})
	run(t, a, a.Init())

	_, cmd := a.Update(press('R'))
	run(t, a, cmd)
	frame := ansi.Strip(a.Render())
	require.Len(t, strings.Split(frame, "\n"), 30)
	require.Contains(t, frame, "Restore prod/web-1/app into an isolated sandbox?")
	require.Contains(t, frame, "sinkhole (answers and records every outbound attempt): off")
	require.Contains(t, frame, "base rootfs: █")
	typeKeys(t, a, "/srv/rootfs.tar")
	_, cmd = a.Update(tea.KeyPressMsg{Code: tea.KeyTab})
	run(t, a, cmd)
	require.Contains(t, ansi.Strip(a.Render()), "outbound attempt): on")
	require.Empty(t, calls, "nothing runs before enter")
	_, cmd = a.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	run(t, a, cmd)
	require.Equal(t, []call{{it.Archive, evidence.RestoreOptions{Rootfs: "/srv/rootfs.tar", Sinkhole: true}}}, calls)
	status, _ := a.Status()
	require.Contains(t, status, "restored into sandbox sb-1")
	require.NotContains(t, ansi.Strip(a.Render()), "base rootfs:", "the question is gone")

	// asked again: the last rootfs is offered; esc cancels
	_, cmd = a.Update(press('R'))
	run(t, a, cmd)
	require.Contains(t, ansi.Strip(a.Render()), "base rootfs: /srv/rootfs.tar█")
	_, cmd = a.Update(tea.KeyPressMsg{Code: tea.KeyEscape})
	run(t, a, cmd)
	require.Len(t, calls, 1, "esc restores nothing")
	status, _ = a.Status()
	require.Contains(t, status, "restore cancelled")
	require.NotContains(t, ansi.Strip(a.Render()), "base rootfs:")
}

// TestArtifactsViewer: a on an item pulled with its pod context lists the artifacts; enter shows
// one line by line (JSON indented), the filter finds a log line, and the viewing is recorded in
// the custody log. An item without artifacts says so.
func TestArtifactsViewer(t *testing.T) {
	st, err := fevidence.Open(t.TempDir())
	require.NoError(t, err)
	arts := []fevidence.ArtifactData{
		{Artifact: fevidence.Artifact{Name: "logs-app.txt", Description: "logs of container app"}, Data: []byte("2026-11-23T10:00:00Z starting\n2026-11-23T10:00:05Z beacon to c2.evil.example\n")},
		{Artifact: fevidence.Artifact{Name: "pod.json", Description: "the pod object"}, Data: []byte(`{"kind":"Pod","metadata":{"name":"web-1"}}`)},
	}
	f, err := os.Open(filepath.Join(fixtures.Dir(), "archives", "podman-crun.tar.zst"))
	require.NoError(t, err)
	defer f.Close()
	it, err := st.AcquireWith(t.Context(), f, fevidence.Manifest{ArchiveName: "checkpoint.tar.zst", Namespace: "prod", Pod: "web-1", Container: "app"},
		fevidence.AcquireOptions{ArtifactsFunc: func(context.Context) ([]fevidence.ArtifactData, error) { return arts, nil }})
	require.NoError(t, err)
	a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "test", Evidence: evidence.Source{Store: st}})
	a.Update(tea.WindowSizeMsg{Width: 140, Height: 30})
	run(t, a, a.Init())

	_, cmd := a.Update(press('a'))
	run(t, a, cmd)
	frame := ansi.Strip(a.Render())
	require.Contains(t, frame, "logs-app.txt")
	require.Contains(t, frame, "logs of container app")
	require.Contains(t, frame, "pod.json")

	_, cmd = a.Update(tea.KeyPressMsg{Code: tea.KeyEnter}) // the first row: logs-app.txt
	run(t, a, cmd)
	frame = ansi.Strip(a.Render())
	require.Contains(t, frame, "2026-11-23T10:00:05Z beacon to c2.evil.example")
	_, cmd = a.Update(press('/'))
	run(t, a, cmd)
	typeKeys(t, a, "beacon")
	_, cmd = a.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	run(t, a, cmd)
	frame = ansi.Strip(a.Render())
	require.Contains(t, frame, "beacon to c2.evil.example")
	require.NotContains(t, frame, "starting", "filtered to the matching line")

	_, cmd = a.Update(tea.KeyPressMsg{Code: tea.KeyEscape}) // the filter first
	run(t, a, cmd)
	require.Contains(t, ansi.Strip(a.Render()), "starting", "esc cleared the filter")
	_, cmd = a.Update(tea.KeyPressMsg{Code: tea.KeyEscape}) // then back to the artifacts
	run(t, a, cmd)
	require.Contains(t, ansi.Strip(a.Render()), "logs of container app")
	_, cmd = a.Update(press('j'))
	run(t, a, cmd)
	_, cmd = a.Update(tea.KeyPressMsg{Code: tea.KeyEnter}) // pod.json, indented
	run(t, a, cmd)
	require.Contains(t, ansi.Strip(a.Render()), `  "kind": "Pod",`)

	evs, err := st.Custody(it.ID)
	require.NoError(t, err)
	var opened []string
	for _, e := range evs {
		if e.Action == fevidence.ActionOpened {
			opened = append(opened, e.Details["artifact"])
		}
	}
	require.Equal(t, []string{"logs-app.txt", "pod.json"}, opened)
}

func TestArtifactsKeyWithoutArtifacts(t *testing.T) {
	a, _, it := storeApp(t)
	_, cmd := a.Update(press('a'))
	run(t, a, cmd)
	status, _ := a.Status()
	require.Contains(t, status, "no artifacts were acquired with "+it.ID)
}

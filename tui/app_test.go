package tui

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"

	fevidence "github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/test/fixtures"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/screens/evidence"
	"github.com/podsleuth/podsleuth/tui/screens/pods"
)

// The -update flag rewrites the goldens (make golden). x/exp/golden, imported through teatest,
// registers it too; share it instead of redefining it.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// run executes a Cmd and feeds the resulting messages back into the App (one level of
// batches), like the runtime would.
func run(t *testing.T, a *App, cmd tea.Cmd) {
	t.Helper()
	if cmd == nil {
		return
	}
	msg := cmd()
	if cs, ok := subCmds(msg); ok {
		for _, c := range cs {
			run(t, a, c)
		}
		return
	}
	switch msg.(type) {
	case nil:
	default:
		if _, ok := msg.(tea.QuitMsg); ok {
			return
		}
		_, next := a.Update(msg)
		run(t, a, next)
	}
}

func typeKeys(t *testing.T, a *App, s string) {
	t.Helper()
	for _, r := range s {
		_, cmd := a.Update(press(r))
		run(t, a, cmd)
	}
}

func special(code rune) tea.KeyPressMsg { return tea.KeyPressMsg{Code: code} }

// evidenceApp is an App in the embedded default: no cluster, the real bundled samples and an
// empty evidence store.
func evidenceApp(t *testing.T, w, h int) *App {
	t.Helper()
	st, err := fevidence.Open(t.TempDir())
	require.NoError(t, err)
	a := New(Options{
		Keys:      keys.Default(),
		NoColor:   true,
		NoCluster: "no kubeconfig",
		Evidence:  evidence.Source{Store: st, Samples: func() ([]evidence.Sample, error) { return Samples(fixtures.FS) }},
	})
	a.Update(tea.WindowSizeMsg{Width: w, Height: h})
	run(t, a, a.Init())
	return a
}

// stableEvidenceApp shows only the two samples the goldens pin (images/full and the zstd
// Podman archive), so adding fixtures does not churn the goldens.
func stableEvidenceApp(t *testing.T, w, h int) *App {
	t.Helper()
	st, err := fevidence.Open(t.TempDir())
	require.NoError(t, err)
	samples := func() ([]evidence.Sample, error) {
		all, err := Samples(fixtures.FS)
		var keep []evidence.Sample
		for _, s := range all {
			if s.Name == "images/full" || s.Name == "archives/podman-crun.tar.zst" {
				keep = append(keep, s)
			}
		}
		return keep, err
	}
	a := New(Options{
		Keys:      keys.Default(),
		NoColor:   true,
		NoCluster: "no kubeconfig",
		Evidence:  evidence.Source{Store: st, Samples: samples},
	})
	a.Update(tea.WindowSizeMsg{Width: w, Height: h})
	run(t, a, a.Init())
	return a
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	// machine-independent: the fixture directory's absolute path
	got = strings.ReplaceAll(ansi.Strip(got), fixtures.Dir(), "<fixtures>")
	p := filepath.Join("testdata", name+".golden")
	if updating() {
		require.NoError(t, os.WriteFile(p, []byte(got), 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err, "run `make golden` to create %s", p)
	require.Equal(t, string(want), got)
}

func TestEmbeddedDefaultGolden(t *testing.T) {
	for _, sz := range []struct{ w, h int }{{80, 24}, {120, 40}} {
		a := stableEvidenceApp(t, sz.w, sz.h)
		frame := ansi.Strip(a.Render())
		lines := strings.Split(frame, "\n")
		require.Len(t, lines, sz.h)
		require.Contains(t, frame, "No cluster (no kubeconfig)")
		require.Contains(t, frame, "images/full")
		require.Contains(t, frame, "archives/podman-crun.tar.zst")
		golden(t, "evidence-"+itoa(sz.w)+"x"+itoa(sz.h), frame)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestCommandMode(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		wantErr string
		depth   int
	}{
		{"unknown command names it", "frobnicate", `unknown command "frobnicate"`, 1},
		{"pods without cluster explains", "pods", "needs a cluster: no kubeconfig", 1},
		{"ctx without cluster explains", "ctx prod", "needs a cluster", 1},
		{"open without path", "open", ":open needs a path", 1},
		{"evidence resets", "evidence", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := evidenceApp(t, 100, 30)
			_, cmd := a.Update(press(':'))
			require.Nil(t, cmd)
			v, on := a.Prompting()
			require.True(t, on)
			require.Empty(t, v)
			require.Contains(t, a.Render(), ":█")
			typeKeys(t, a, tt.line)
			_, cmd = a.Update(special(tea.KeyEnter))
			run(t, a, cmd)
			_, on = a.Prompting()
			require.False(t, on)
			_, errLine := a.Status()
			if tt.wantErr == "" {
				require.Empty(t, errLine)
			} else {
				require.Contains(t, errLine, tt.wantErr)
				require.Contains(t, ansi.Strip(a.Render()), tt.wantErr, "the error reaches the status bar")
			}
			require.Equal(t, tt.depth, a.Depth())
		})
	}
}

func TestQuitKeys(t *testing.T) {
	for _, k := range []tea.KeyPressMsg{press('q'), {Code: 'c', Mod: tea.ModCtrl}} {
		a := evidenceApp(t, 80, 24)
		_, cmd := a.Update(k)
		require.NotNil(t, cmd)
		require.IsType(t, tea.QuitMsg{}, cmd(), k.String())
	}
	// typing q into the filter does not quit
	a := evidenceApp(t, 80, 24)
	a.Update(press('/'))
	_, cmd := a.Update(press('q'))
	require.Nil(t, cmd)
	v, _ := a.Prompting()
	require.Equal(t, "q", v)
}

func TestFilterLiveAndEscRestores(t *testing.T) {
	samples, err := Samples(fixtures.FS)
	require.NoError(t, err)
	all, full, tars := len(samples), 0, 0
	for _, s := range samples {
		if strings.Contains(s.Name+"  "+s.Note, "full") {
			full++
		}
		if strings.Contains(s.Name+"  "+s.Note, "tar") {
			tars++
		}
	}
	require.Equal(t, 2, full, "images/full and images/full-t2")
	a := evidenceApp(t, 120, 40)
	ev := a.Top().(*evidence.Model)
	require.Equal(t, all, ev.Table().Len())
	typeKeys(t, a, "/full")
	require.Equal(t, full, ev.Table().Len(), "live filter while typing")
	_, cmd := a.Update(special(tea.KeyEnter))
	run(t, a, cmd)
	require.Equal(t, full, ev.Table().Len(), "kept after enter")
	require.Contains(t, a.Render(), "1/2 of "+itoa(all))
	typeKeys(t, a, "/")
	v, _ := a.Prompting()
	require.Equal(t, "full", v, "the prompt reopens with the current filter")
	a.Update(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
	typeKeys(t, a, "!")
	require.Equal(t, all, ev.Table().Len(), "bare ! matches all while typing")
	typeKeys(t, a, "tar")
	require.Equal(t, all-tars, ev.Table().Len(), "inverted: the image directories")
	a.Update(special(tea.KeyEscape))
	require.Equal(t, full, ev.Table().Len(), "esc restores the filter from before the prompt")
	a.Update(special(tea.KeyEscape))
	require.Equal(t, all, ev.Table().Len(), "esc on the root clears the filter")
	typeKeys(t, a, "/[")
	_, errLine := a.Status()
	require.Contains(t, errLine, "not a valid regular expression")
	require.Equal(t, all, ev.Table().Len(), "bad regex keeps the previous filter")
}

func TestHelpListsScreenKeys(t *testing.T) {
	a, _, _ := storeApp(t)
	a.Update(press('?'))
	f := ansi.Strip(a.Render())
	for _, want := range []string{"Keys of evidence", "verify hashes", "export report", "restore into sandbox", ":pods [NS]", "-l key=value"} {
		require.Contains(t, f, want)
	}
	require.NotContains(t, f, "add to store", "a store item is in the store")
	a.Update(press('x'))
	require.NotContains(t, ansi.Strip(a.Render()), "Keys of evidence", "any key closes help")
}

func TestReadonlyRefusesCheckpoint(t *testing.T) {
	src := manyPods(3)
	a := New(Options{Keys: keys.Default(), NoColor: true, Readonly: true, NoCluster: "test"})
	a.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
	called := false
	cp := func(ns, pod, ct string) tea.Cmd { called = true; return nil }
	p := pods.New(src, "", true, cp, a.th, a.km)
	a.Update(pushPage(p))
	a.Update(pods.PodsMsg{Gen: 1, Rows: src.Snapshot()})
	_, cmd := a.Update(press('c'))
	run(t, a, cmd)
	require.False(t, called, "no checkpoint request in read-only mode")
	require.False(t, p.Capturing(), "no confirmation either")
	_, errLine := a.Status()
	require.Contains(t, errLine, "read-only")
	require.NotContains(t, ansi.Strip(a.Render()), "checkpoint container", "the action is hidden from the help line")
	require.Contains(t, a.Render(), "[readonly]")
}

func TestCheckpointConfirmation(t *testing.T) {
	src := manyPods(3)
	a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "test"})
	a.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	var got []string
	cp := func(ns, pod, ct string) tea.Cmd { got = append(got, ns+"/"+pod+"/"+ct); return nav.Status("started") }
	p := pods.New(src, "", false, cp, a.th, a.km)
	a.Update(pushPage(p))
	a.Update(pods.PodsMsg{Gen: 1, Rows: src.Snapshot()})
	a.Update(press('c'))
	require.True(t, p.Capturing())
	f := ansi.Strip(a.Render())
	require.Contains(t, f, "keeps running and is not told")
	require.Contains(t, f, "all containers")
	_, cmd := a.Update(press('q'))
	require.NotNil(t, cmd)
	require.NotEqual(t, tea.QuitMsg{}, cmd(), "q cancels the dialog, it does not quit")
	require.Empty(t, got)
	a.Update(press('c'))
	a.Update(special(tea.KeyDown))
	a.Update(special(tea.KeyDown)) // "all containers"
	_, cmd = a.Update(press('y'))
	run(t, a, cmd)
	require.Equal(t, []string{"team-00/" + src.rows[0].Name + "/app", "team-00/" + src.rows[0].Name + "/istio-proxy"}, got)
}

// pushPage is the message that pushes a screen built outside the App (the cluster views do it
// with nav.Push).
func pushPage[S nav.Screen[S]](s S) tea.Msg { return nav.PushMsg{Page: nav.Wrap(s)} }

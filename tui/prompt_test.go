package tui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	k8stesting "k8s.io/client-go/testing"

	fevidence "github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/test/fixtures"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
)

// search submits a memory search and runs it to the end.
func search(t *testing.T, a *App, cp *checkpoint.Model, q string) {
	t.Helper()
	a.Update(press('/'))
	v, open := a.Prompting()
	require.True(t, open)
	require.Empty(t, v, "a memory search prompt starts empty")
	typeKeys(t, a, q)
	_, cmd := a.Update(special(tea.KeyEnter))
	runUntil(t, a, cmd, func() bool { return !cp.Searching() })
}

// TestMemorySearchHistoryAndMode: ↑/↓ on the memory search prompt walk the earlier searches of
// the session (not the table filters); m changes the mode of the next search only, the shown
// results keep the mode they were searched with.
func TestMemorySearchHistoryAndMode(t *testing.T) {
	a, cp := checkpointApp(t, 120, 40)
	a.Update(press('7'))
	search(t, a, cp, "CRIU-FORENSIC")
	require.NotEmpty(t, cp.Hits())
	require.Contains(t, ansi.Strip(a.Render()), `for literal "CRIU-FORENSIC"`)

	a.Update(press('m'))
	frame := ansi.Strip(a.Render())
	require.Contains(t, frame, `for literal "CRIU-FORENSIC"`, "m does not relabel the results")
	require.Contains(t, frame, "m mode (regex)")

	a.Update(press('/'))
	require.Contains(t, ansi.Strip(a.Render()), "search memory (regex", "the next search uses the new mode")
	a.Update(special(tea.KeyUp))
	v, _ := a.Prompting()
	require.Equal(t, "CRIU-FORENSIC", v, "↑ brings back the earlier search")
	a.Update(special(tea.KeyEscape))
	search(t, a, cp, "CRIU-F.RENSIC")
	require.NotEmpty(t, cp.Hits(), "searched as a regex")
	require.Contains(t, ansi.Strip(a.Render()), `for regex "CRIU-F.RENSIC"`)

	// a table filter on another tab has its own history
	a.Update(press('4'))
	typeKeys(t, a, "/pipe")
	a.Update(special(tea.KeyEnter))
	a.Update(press('/'))
	a.Update(special(tea.KeyUp))
	v, _ = a.Prompting()
	require.Equal(t, "pipe", v)
	a.Update(special(tea.KeyUp))
	v, _ = a.Prompting()
	require.Equal(t, "pipe", v, "the searches are not in the filter history")
	a.Update(special(tea.KeyEscape))

	a.Update(press('7'))
	a.Update(press('/'))
	for _, want := range []string{"CRIU-F.RENSIC", "CRIU-FORENSIC", "CRIU-FORENSIC"} {
		a.Update(special(tea.KeyUp))
		v, _ = a.Prompting()
		require.Equal(t, want, v)
	}
	a.Update(special(tea.KeyDown))
	a.Update(special(tea.KeyDown))
	v, _ = a.Prompting()
	require.Empty(t, v, "↓ past the newest is empty again")
	require.False(t, strings.Contains(v, "pipe"))
}

// suggestions returns the open prompt's value and suggestions.
func suggestions(a *App) (string, []string) { return a.prompt.Value, a.prompt.Suggestions }

func tab(t *testing.T, a *App) {
	t.Helper()
	_, cmd := a.Update(special(tea.KeyTab))
	run(t, a, cmd)
}

func TestCompleteCommandNames(t *testing.T) {
	a := evidenceApp(t, 80, 24)
	typeKeys(t, a, ":n")
	v, s := suggestions(a)
	require.Equal(t, "n", v)
	require.Equal(t, []string{"ns", "nodes"}, s)
	require.Contains(t, ansi.Strip(a.Render()), "tab:  ns  nodes", "the suggestion line")

	tab(t, a)
	v, _ = suggestions(a)
	require.Equal(t, "ns", v, "nothing in common to add: tab takes the first")
	tab(t, a)
	v, s = suggestions(a)
	require.Equal(t, "nodes", v, "and cycles")
	require.Equal(t, []string{"ns", "nodes"}, s, "cycling keeps the suggestions")
	a.Update(tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift})
	v, _ = suggestions(a)
	require.Equal(t, "ns", v, "shift+tab goes back")

	a.Update(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
	typeKeys(t, a, "ev")
	tab(t, a)
	v, s = suggestions(a)
	require.Equal(t, "evidence ", v, "one suggestion: taken whole")
	require.Empty(t, s, ":evidence takes no argument")

	a.Update(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
	typeKeys(t, a, "zz")
	tab(t, a)
	v, s = suggestions(a)
	require.Equal(t, "zz", v)
	require.Empty(t, s)
	require.NotContains(t, ansi.Strip(a.Render()), "tab:")
}

// namedSession is a ClusterSession over the fake clientset with these namespaces and a real
// kubeconfig file with these contexts.
func namedSession(t *testing.T, namespaces []string, contexts ...string) *ClusterSession {
	t.Helper()
	var objs []runtime.Object
	for _, n := range namespaces {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	s, _ := fakeSession(t, objs...)
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://192.0.2.1:6443\nusers:\n- name: u\n  user:\n    token: x\ncontexts:\n")
	for _, c := range contexts {
		b.WriteString("- name: " + c + "\n  context:\n    cluster: c\n    user: u\n")
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kc, []byte(b.String()), 0o600))
	s.flags = genericclioptions.NewConfigFlags(false)
	s.flags.KubeConfig = &kc
	return s
}

func TestCompleteNamespacesAndContexts(t *testing.T) {
	s := namedSession(t, []string{"default", "kube-public", "kube-system", "prod-payments"}, "staging", "prod-us", "prod-eu")
	a := evidenceApp(t, 80, 24)
	a.cluster = s

	typeKeys(t, a, ":ns kube")
	_, sug := suggestions(a)
	require.Equal(t, []string{"kube-public", "kube-system"}, sug, "listed by a Cmd (the informers have not started)")
	_, cmd := a.Update(press('-'))
	require.Nil(t, cmd, "listed once per prompt")
	a.Update(special(tea.KeyEscape))

	// once the session's informers run, their cache answers at once
	_, _, err := s.browse.browser()
	require.NoError(t, err)
	a.Update(press(':'))
	for _, r := range "pods p" {
		_, cmd := a.Update(press(r))
		require.Nil(t, cmd, "no Cmd: the names are in memory")
	}
	_, sug = suggestions(a)
	require.Equal(t, []string{"prod-payments"}, sug)
	a.Update(tea.KeyPressMsg{Code: tea.KeyBackspace})
	_, sug = suggestions(a)
	require.Equal(t, []string{"all", "default", "kube-public", "kube-system", "prod-payments"}, sug, ":pods also takes all")
	a.Update(special(tea.KeyEscape))

	typeKeys(t, a, ":hunt -l app=web -n kube-")
	_, sug = suggestions(a)
	require.Equal(t, []string{"kube-public", "kube-system"}, sug, ":hunt -n takes a namespace")
	a.Update(special(tea.KeyEscape))

	typeKeys(t, a, ":ctx ")
	_, sug = suggestions(a)
	require.Equal(t, []string{"prod-eu", "prod-us", "staging"}, sug, "from the kubeconfig")
	typeKeys(t, a, "prod-u")
	tab(t, a)
	v, _ := suggestions(a)
	require.Equal(t, "ctx prod-us ", v)
}

// TestCompleteSilentClusterOffersNothing: a cluster that does not answer gets the completion
// timeout, then nothing is offered (and the prompt stays usable meanwhile).
func TestCompleteSilentClusterOffersNothing(t *testing.T) {
	s, cs := fakeSession(t)
	cs.PrependReactor("list", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		time.Sleep(10 * time.Second)
		return true, &corev1.NamespaceList{}, nil
	})
	a := evidenceApp(t, 80, 24)
	a.cluster = s
	a.Update(press(':'))
	typeKeys(t, a, "ns")
	_, cmd := a.Update(press(' '))
	require.NotNil(t, cmd, "the names are listed in a Cmd")
	start := time.Now()
	msg := cmd()
	// the bound is cluster.NameTimeout (1 s); the margin is for a loaded machine, far below the
	// 10 s the server takes
	require.Less(t, time.Since(start), 3*time.Second)
	require.Equal(t, CompletionMsg{Key: namesNamespaces}, msg)
	a.Update(msg)
	_, sug := suggestions(a)
	require.Empty(t, sug)
}

// pathFixture makes a directory with known entries and makes it the current one; it returns
// the directory that was current.
func pathFixture(t *testing.T) string {
	wd, err := os.Getwd()
	require.NoError(t, err)
	dir := t.TempDir()
	for _, d := range []string{"captures/alps", "captures/.hidden-dir"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	for _, f := range []string{"case-a.tar", "case-b.tar.zst", "captures/alpha.tar", "captures/.secret"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), nil, 0o644))
	}
	t.Chdir(dir)
	return wd
}

func TestCompleteEvidenceIDsAndPaths(t *testing.T) {
	a := evidenceApp(t, 80, 24)
	st := a.o.Evidence.Store.(*fevidence.Store)
	it, err := st.Import(t.Context(), filepath.Join(fixtures.Dir(), "archives", "podman-crun.tar.zst"), fevidence.Manifest{CaseID: "IR-16"})
	require.NoError(t, err)
	pathFixture(t)

	typeKeys(t, a, ":open ")
	_, sug := suggestions(a)
	require.Equal(t, []string{it.ID, "captures/", "case-a.tar", "case-b.tar.zst"}, sug, "evidence IDs, then the current directory")
	typeKeys(t, a, it.ID[:6])
	tab(t, a)
	v, _ := suggestions(a)
	require.Equal(t, "open "+it.ID+" ", v)

	a.Update(special(tea.KeyEscape))
	typeKeys(t, a, ":o cas")
	tab(t, a)
	v, sug = suggestions(a)
	require.Equal(t, "o case-", v, "the common prefix first")
	require.Equal(t, []string{"case-a.tar", "case-b.tar.zst"}, sug)

	a.Update(tea.KeyPressMsg{Code: 'w', Mod: tea.ModCtrl})
	typeKeys(t, a, "cap")
	tab(t, a)
	v, sug = suggestions(a)
	require.Equal(t, "o captures/", v, "a directory is completed without a space")
	require.Equal(t, []string{"captures/alpha.tar", "captures/alps/"}, sug, "and its entries listed (hidden ones left out)")
	require.Contains(t, ansi.Strip(a.Render()), "tab:  alpha.tar  alps/", "a path shows its last element")
	tab(t, a)
	v, _ = suggestions(a)
	require.Equal(t, "o captures/alp", v)
	tab(t, a)
	v, _ = suggestions(a)
	require.Equal(t, "o captures/alpha.tar", v)

	a.Update(tea.KeyPressMsg{Code: 'w', Mod: tea.ModCtrl})
	typeKeys(t, a, "captures/.")
	_, sug = suggestions(a)
	require.Equal(t, []string{"captures/.hidden-dir/", "captures/.secret"}, sug, "hidden entries once a dot is typed")

	// :open PATH --rootfs BASE: the flag, then paths (no evidence IDs: a base is an image)
	a.Update(tea.KeyPressMsg{Code: 'w', Mod: tea.ModCtrl})
	typeKeys(t, a, "case-a.tar -")
	tab(t, a)
	v, _ = suggestions(a)
	require.Equal(t, "o case-a.tar --rootfs ", v)
	_, sug = suggestions(a)
	require.Equal(t, []string{"captures/", "case-a.tar", "case-b.tar.zst"}, sug)
}

// TestCompletePromptGolden: the ":" prompt with its suggestion line at 80x24, tab on the first.
func TestCompletePromptGolden(t *testing.T) {
	a := stableEvidenceApp(t, 80, 24)
	wd := pathFixture(t)
	typeKeys(t, a, ":open ca")
	tab(t, a)
	require.NoError(t, os.Chdir(wd)) // the goldens are in testdata
	golden(t, "prompt-complete-80x24", a.Render())
}

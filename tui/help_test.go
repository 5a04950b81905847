package tui

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/cluster"
	fevidence "github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/test/fixtures"
	"github.com/podsleuth/podsleuth/tui/components/table"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
	"github.com/podsleuth/podsleuth/tui/screens/evidence"
	"github.com/podsleuth/podsleuth/tui/screens/hunt"
	"github.com/podsleuth/podsleuth/tui/screens/list"
	"github.com/podsleuth/podsleuth/tui/screens/pods"
)

// keyPress is the key press whose name is s, as key bindings name keys ("pgdown", "ctrl+b",
// "shift+tab", "G").
func keyPress(t *testing.T, s string) tea.KeyPressMsg {
	t.Helper()
	named := map[string]rune{"up": tea.KeyUp, "down": tea.KeyDown, "left": tea.KeyLeft, "right": tea.KeyRight,
		"enter": tea.KeyEnter, "esc": tea.KeyEscape, "tab": tea.KeyTab, "pgup": tea.KeyPgUp, "pgdown": tea.KeyPgDown,
		"home": tea.KeyHome, "end": tea.KeyEnd}
	var k tea.KeyPressMsg
	switch {
	case s == "shift+tab":
		k = tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case strings.HasPrefix(s, "ctrl+") && len(s) == 6:
		k = tea.KeyPressMsg{Code: rune(s[5]), Mod: tea.ModCtrl}
	case named[s] != 0:
		k = tea.KeyPressMsg{Code: named[s]}
	default:
		r, _ := utf8.DecodeRuneInString(s)
		k = press(r)
	}
	require.Equal(t, s, k.String(), "key name")
	return k
}

// loadedApp is a fresh App showing ld (decoded once by the real Loader and shared: these
// Apps never close it).
func loadedApp(t *testing.T, ld *checkpoint.Loaded, w, h int) *App {
	t.Helper()
	a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "test"})
	a.Update(tea.WindowSizeMsg{Width: w, Height: h})
	l := *ld
	l.Close = nil
	a.Update(pushPage(checkpoint.NewLoaded(&l, a.th, a.km)))
	return a
}

// helpState is one screen in one state: start builds a fresh App in it.
type helpState struct {
	name  string
	start func(t *testing.T) *App
	// own is a key of a listed binding that needs no effect here (a tab's own number).
	own string
	// slow states (decoded anew by the real jobs each time) are left out of the sweep of
	// every unlisted key
	slow bool
}

// helpStates are every tab of the checkpoint view on the real fixtures, its inner views (a
// row's detail, the process detail, the hexdump at a real search hit), the evidence view on
// each kind of row, the pods, the hunt and a list screen (of several rows and of one).
func helpStates(t *testing.T) []helpState {
	_, full := checkpointApp(t, 100, 30)
	_, podman := openFixture(t, 100, 30, filepath.Join("archives", "podman-crun.tar.zst"))
	ldFull, ldPodman := full.Loaded(), podman.Loaded()
	// one real search for the marker; its hits are replayed into each fresh App
	sa, scp := checkpointApp(t, 100, 30)
	sa.Update(press('7'))
	typeKeys(t, sa, "/CRIU-FORENSIC-MARKER")
	_, cmd := sa.Update(special(tea.KeyEnter))
	runUntil(t, sa, cmd, func() bool { return !scp.Searching() })
	hits := scp.Hits()
	require.NotEmpty(t, hits)

	cpState := func(name string, ld *checkpoint.Loaded, tab int, then ...string) helpState {
		return helpState{name: name, own: string(rune('1' + tab)), start: func(t *testing.T) *App {
			a := loadedApp(t, ld, 160, 45) // the process detail beside the tree
			a.Update(press(rune('1' + tab)))
			if tab == checkpoint.TabMemory && len(then) > 0 {
				typeKeys(t, a, "/CRIU-FORENSIC-MARKER")
				a.Update(special(tea.KeyEnter)) // the search's Cmd is not run: its result is replayed
				a.Update(checkpoint.SearchDoneMsg{ID: 1, Query: checkpoint.Query{Text: "CRIU-FORENSIC-MARKER", Mode: "literal"}, Hits: hits})
			}
			for _, k := range then {
				_, cmd := a.Update(keyPress(t, k))
				run(t, a, cmd)
			}
			return a
		}}
	}
	var states []helpState
	for tab, name := range checkpoint.TabNames {
		ld := ldFull
		if tab == checkpoint.TabMounts || tab == checkpoint.TabRootfs {
			ld = ldPodman
		}
		states = append(states, cpState(name, ld, tab))
	}
	states = append(states,
		cpState("Files detail", ldFull, checkpoint.TabFiles, "enter"),
		cpState("Rootfs detail", ldPodman, checkpoint.TabRootfs, "enter"),
		cpState("process detail", ldFull, checkpoint.TabProcesses, "enter"),
		cpState("Memory hits", ldFull, checkpoint.TabMemory, "g"),
		cpState("hexdump", ldFull, checkpoint.TabMemory, "enter"),
		helpState{name: "evidence sample", start: func(t *testing.T) *App { return stableEvidenceApp(t, 100, 30) }},
		helpState{name: "evidence store item", start: func(t *testing.T) *App { a, _, _ := storeApp(t); return a }},
		helpState{name: "evidence opened case", slow: true, start: func(t *testing.T) *App {
			a, _, _ := openedApp(t, filepath.Join(fixtures.Dir(), "archives", "podman-crun.tar.zst"))
			_, cmd := a.Update(special(tea.KeyEscape))
			run(t, a, cmd)
			return a
		}},
		helpState{name: "pods", start: func(t *testing.T) *App { return podsHelpApp(t, 100, 30) }},
		helpState{name: "hunt planned", start: func(t *testing.T) *App {
			a, m := huntApp(t, 100, 30, nil)
			a.Update(m.Init()()) // planned; the confirmation's Cmd is not run
			return a
		}},
		helpState{name: "hunt running", start: func(t *testing.T) *App { return huntHelpApp(t, 100, 30) }},
		helpState{name: "list", start: func(t *testing.T) *App { return listHelpApp(t, 3) }},
		helpState{name: "list of one row", start: func(t *testing.T) *App { return listHelpApp(t, 1) }},
	)
	return states
}

// podsHelpApp is the pod list with enter opening a pod's detail, as the cluster session sets it.
func podsHelpApp(t *testing.T, w, h int) *App {
	a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "test"})
	a.Update(tea.WindowSizeMsg{Width: w, Height: h})
	src := fivePods()
	p := pods.New(src, "shop", false, func(string, string, string) tea.Cmd { return nil }, a.th, a.km)
	p.Detail = func(ns, name string) tea.Cmd { return func() tea.Msg { return openedForTest{ns + "/" + name} } }
	a.Update(pushPage(p))
	a.Update(pods.PodsMsg{Gen: 1, Rows: src.rows, Now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)})
	return a
}

// openedForTest stands for the screen the session would open (a pod's detail, a result).
type openedForTest struct{ what string }

// listHelpApp is a list screen (as the nodes, a pod's detail, the artifacts) of n rows with
// enter and a row action (L, as a pod's detail has).
func listHelpApp(t *testing.T, n int) *App {
	a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "test"})
	a.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	load := func(context.Context) ([]table.Row, error) {
		var rows []table.Row
		for i := range n {
			rows = append(rows, table.Row{Key: fmt.Sprint(i), Cells: []string{fmt.Sprintf("row-%d", n-i)}})
		}
		return rows, nil
	}
	open := func(r table.Row) tea.Cmd { return func() tea.Msg { return openedForTest{r.Key} } }
	l := list.New("help-list", "rows", []table.Column{{Title: "NAME", Flex: true}}, load, open, "open", a.th, a.km)
	l.Extras = []list.Extra{{Binding: a.km.Logs, Run: open}}
	a.Update(pushPage(l))
	run(t, a, l.Init())
	return a
}

// huntHelpApp is the golden hunt running, its results openable.
func huntHelpApp(t *testing.T, w, h int) *App {
	a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "test"})
	a.Update(tea.WindowSizeMsg{Width: w, Height: h})
	plan, evs := goldenHunt()
	m := hunt.New("g", hunt.Config{
		Plan: func(context.Context) (*cluster.HuntPlan, error) { return plan, nil },
		Open: func(o cluster.HuntOutcome) tea.Cmd { return func() tea.Msg { return openedForTest{o.Target.String()} } },
	}, a.th, a.km)
	a.Update(pushPage(m))
	a.Update(m.Init()())
	a.Update(hunt.StartMsg{ID: "g"})
	a.Update(hunt.EventsMsg{ID: "g", Events: evs})
	require.Equal(t, hunt.Running, m.State())
	return a
}

// listed returns the bindings the help lists for the top screen (enabled ones).
func listed(a *App) []key.Binding {
	var out []key.Binding
	for _, g := range a.top().FullHelp() {
		for _, b := range g {
			if b.Enabled() {
				out = append(out, b)
			}
		}
	}
	return out
}

// acts says whether pressing k does something in a fresh state after one of the preparations:
// the frame changes (the status line aside) or a Cmd brings something besides a status line or
// an error (a copy, an opened screen, a job's result, quitting). A key whose only effect is a
// message saying it did something (r where nothing is masked) does nothing.
func acts(t *testing.T, s helpState, k string, preps ...[]string) bool {
	t.Helper()
	if preps == nil {
		preps = [][]string{nil, {"j"}, {"G"}, {"s"}, {"-"}, {"h"}}
	}
	for _, prep := range preps {
		a := s.start(t)
		for _, p := range prep {
			_, cmd := a.Update(keyPress(t, p))
			run(t, a, cmd)
		}
		before := frameWithoutStatus(a)
		_, cmd := a.Update(keyPress(t, k))
		if frameWithoutStatus(a) != before || brings(cmd) {
			return true
		}
	}
	return false
}

// frameWithoutStatus is the frame with the status and error lines left out.
func frameWithoutStatus(a *App) string {
	st, er, hint := a.status, a.err, a.hint
	a.status, a.err, a.hint = "", "", ""
	defer func() { a.status, a.err, a.hint = st, er, hint }()
	return a.Render()
}

// brings runs cmd (and its batches) and says whether a message other than a status or an error
// comes back; a Cmd still working after 5 s brings something (a job).
func brings(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-done:
	case <-time.After(5 * time.Second):
		return true
	}
	if cs, ok := subCmds(msg); ok {
		return slices.ContainsFunc(cs, brings)
	}
	switch msg.(type) {
	case nil, nav.StatusMsg, nav.ErrMsg:
		return false
	}
	return true
}

// TestHelpListsOnlyWorkingKeys presses every key of every binding the help lists, on each tab
// of the checkpoint view (real fixtures), in its detail views and hexdump, on the evidence view
// (a sample, a store item, a case opened from a path), the pods, the hunt and a list: each does
// something. The global keys (: ? q, and esc below the root) do something everywhere.
func TestHelpListsOnlyWorkingKeys(t *testing.T) {
	for _, s := range helpStates(t) {
		t.Run(s.name, func(t *testing.T) {
			a := s.start(t)
			bs := listed(a)
			require.NotEmpty(t, bs)
			for _, b := range bs {
				for _, k := range b.Keys() {
					if k == s.own {
						continue
					}
					require.True(t, acts(t, s, k), "%s: help lists %q (%s) but it does nothing", s.name, k, b.Help().Desc)
				}
			}
			globals := []string{":", "?", "q"}
			if a.Depth() > 1 {
				globals = append(globals, "esc")
			}
			for _, k := range globals {
				require.True(t, acts(t, s, k), "%s: global key %q does nothing", s.name, k)
			}
		})
	}
}

// TestUnlistedKeysDoNothing: in the same states, every other key of the keymap (and the tab
// numbers, m) does nothing: what works is listed. The global keys are the App's.
func TestUnlistedKeysDoNothing(t *testing.T) {
	km := keys.Default()
	global := map[string]bool{}
	for _, b := range []key.Binding{km.Quit, km.Help, km.Command, km.Back} {
		for _, k := range b.Keys() {
			global[k] = true
		}
	}
	all := []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "m"}
	v := reflect.ValueOf(km)
	for i := range v.NumField() {
		all = append(all, v.Field(i).Interface().(key.Binding).Keys()...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	for _, s := range helpStates(t) {
		if s.slow {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			bs := listed(s.start(t))
			for _, k := range all {
				if global[k] || k == s.own || slices.ContainsFunc(bs, func(b key.Binding) bool { return slices.Contains(b.Keys(), k) }) {
					continue
				}
				require.False(t, acts(t, s, k, nil, []string{"j"}), "%s: %q works but the help does not list it", s.name, k)
			}
		})
	}
}

// helpKeys is the screen's own part of the help: the lines between its title and "Everywhere".
func helpKeys(t *testing.T, a *App) []string {
	t.Helper()
	lines := a.helpLines()
	end := slices.IndexFunc(lines, func(l string) bool { return ansi.Strip(l) == "Everywhere" })
	require.Positive(t, end)
	var out []string
	for _, l := range lines[1:end] {
		if l = strings.TrimSpace(ansi.Strip(l)); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// TestHelpDiffersPerTab: each tab's help has its own keys (sort and tree keys on Processes,
// the search prompt and mode on Memory, r where secrets are masked, enter where a row opens,
// y naming what it copies) and lacks the others'; the global keys and the commands are in
// every help.
func TestHelpDiffersPerTab(t *testing.T) {
	a, _ := checkpointApp(t, 100, 30)
	type want struct {
		has, lacks []string
	}
	wants := map[int]want{
		checkpoint.TabSummary:   {has: []string{"copy the summary", "↓/j"}, lacks: []string{"filter", "sort", "enter", "reveal", "←/h"}},
		checkpoint.TabProcesses: {has: []string{"process detail", "←/h", "→/l", "expand all", "collapse all", "sort by next column", "filter", "reveal/mask secrets", "copy the command line"}, lacks: []string{"search memory", "open the detail"}},
		checkpoint.TabNetwork:   {has: []string{"open the detail", "filter", "sort by next column", "copy the "}, lacks: []string{"reveal", "←/h", "expand all", "search memory"}},
		checkpoint.TabFiles:     {has: []string{"open the detail", "copy the path"}, lacks: []string{"reveal", "←/h"}},
		checkpoint.TabMemory:    {has: []string{"search memory", "search mode"}, lacks: []string{"filter", "sort", "enter", "copy", "←/h"}},
		checkpoint.TabIOCs:      {has: []string{"open the detail", "reveal/mask secrets", "copy the"}, lacks: []string{"←/h", "search memory"}},
		checkpoint.TabFindings:  {has: []string{"open the detail", "copy the finding"}, lacks: []string{"reveal", "←/h"}},
	}
	seen := map[string]string{}
	for tab, name := range checkpoint.TabNames {
		a.Update(press(rune('1' + tab)))
		got := helpKeys(t, a)
		joined := strings.Join(got, "\n")
		require.Equal(t, "Keys of "+name, ansi.Strip(a.helpLines()[0]), "the title names the tab")
		if w, ok := wants[tab]; ok {
			for _, s := range w.has {
				require.Contains(t, joined, s, "%s help", name)
			}
			for _, s := range w.lacks {
				require.NotContains(t, joined, s, "%s help", name)
			}
			require.NotContains(t, seen, joined, "%s has the help of %s", name, seen[joined])
			seen[joined] = name
		}
		all := ansi.Strip(strings.Join(a.helpLines(), "\n"))
		for _, g := range []string{"esc        back/cancel", ":          command", "?          help", "q          quit", ":open PATH", ":q"} {
			require.Contains(t, all, g, "%s: global key", name)
		}
		require.Equal(t, strings.Contains(joined, "/          filter"), strings.Contains(all, "-l key=value"), "%s: the filter syntax only with the filter", name)
	}
	// the inner views have their own keys and not the tabs'
	a.Update(press('4'))
	a.Update(special(tea.KeyEnter))
	d := strings.Join(helpKeys(t, a), "\n")
	require.Contains(t, d, "go to")
	require.Contains(t, d, "copy the detail")
	require.NotContains(t, d, "next tab")
	require.NotContains(t, d, "sort")
	a.Update(special(tea.KeyEscape))
	a.Update(press('2'))
	a.Update(special(tea.KeyEnter))
	d = strings.Join(helpKeys(t, a), "\n")
	require.Contains(t, d, "back to the tree")
	require.Contains(t, d, "reveal/mask secrets")
	require.NotContains(t, d, "next tab")
	require.NotContains(t, d, "filter")
}

// TestHelpGoldens: the help of each tab of the checkpoint view (real fixtures), of the evidence
// view (a store item), the pods and the running hunt, at 80x24 and 160x45, plain and coloured.
// At 80x24 nothing is cut: a help taller than the screen scrolls and says so.
func TestHelpGoldens(t *testing.T) {
	for _, sz := range []struct{ w, h int }{{80, 24}, {160, 45}} {
		suffix := fmt.Sprintf("-%dx%d", sz.w, sz.h)
		check := func(name string, a *App) {
			t.Helper()
			a.Update(press('?'))
			frame := ansi.Strip(a.Render())
			lines := strings.Split(frame, "\n")
			require.Len(t, lines, sz.h)
			_, bh := a.bodySize()
			body := lines[1 : 1+bh]
			for _, l := range body {
				require.NotContains(t, l, "…", "%s%s: a help line is cut: %q", name, suffix, l)
			}
			if len(a.helpLines()) > bh && sz.w < 100 {
				require.Contains(t, body[bh-1], fmt.Sprintf("lines 1-%d of %d", bh-1, len(a.helpLines())), name)
			}
			golden(t, "help-"+name+suffix, a.Render())
			setDark(a)
			colourGolden(t, "help-"+name+suffix, a.Render())
		}
		for tab, name := range checkpoint.TabNames {
			rel := "images/full"
			if tab == checkpoint.TabMounts || tab == checkpoint.TabRootfs {
				rel = "archives/podman-crun.tar.zst"
			}
			a, _ := openFixture(t, sz.w, sz.h, filepath.FromSlash(rel))
			a.Update(press(rune('1' + tab)))
			check(strings.ToLower(name), a)
		}
		st, err := fevidence.Open(t.TempDir())
		require.NoError(t, err)
		_, err = st.Import(t.Context(), filepath.Join(fixtures.Dir(), "archives", "podman-crun.tar.zst"),
			fevidence.Manifest{CaseID: "IR-7", Namespace: "prod", Pod: "web-1", Container: "app", Node: "node-a"})
		require.NoError(t, err)
		a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "test", Evidence: evidence.Source{Store: st}})
		a.Update(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
		run(t, a, a.Init())
		check("evidence", a)
		check("pods", podsHelpApp(t, sz.w, sz.h))
		check("hunt", huntHelpApp(t, sz.w, sz.h))
	}
}

// TestScrollStaysInText: the Summary and the process detail scroll within their text: past the
// end j does nothing and k scrolls back at once (keys and wheel alike).
func TestScrollStaysInText(t *testing.T) {
	a, _ := checkpointApp(t, 80, 24)
	top := a.Render()
	a.Update(press('G'))
	end := a.Render()
	require.NotEqual(t, top, end, "G goes to the end of the summary")
	a.Update(press('j'))
	a.Update(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	require.Equal(t, end, a.Render(), "nothing past the end")
	a.Update(press('k'))
	require.NotEqual(t, end, a.Render(), "k scrolls back at once")
	a.Update(press('g'))
	require.Equal(t, top, a.Render())

	a.Update(press('2'))
	a.Update(special(tea.KeyEnter))
	first := a.Render()
	for range 200 {
		a.Update(press('j'))
	}
	last := a.Render()
	require.NotEqual(t, first, last)
	a.Update(press('k'))
	require.NotEqual(t, last, a.Render(), "k scrolls back at once")
}

package tui

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/test/fixtures"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/screens/acquire"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
	"github.com/podsleuth/podsleuth/tui/screens/pods"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// colourGolden compares the frame with its ANSI sequences kept (one coloured golden per
// screen, dark theme).
func colourGolden(t *testing.T, name, got string) {
	t.Helper()
	got = strings.ReplaceAll(got, fixtures.Dir(), "<fixtures>")
	p := filepath.Join("testdata", name+".ansi.golden")
	if updating() {
		require.NoError(t, os.WriteFile(p, []byte(got), 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err, "run `make golden` to create %s", p)
	require.Equal(t, string(want), got)
}

func setDark(a *App) {
	a.o.NoColor = false
	a.o.Theme = "auto"
	a.Update(tea.BackgroundColorMsg{Color: colorBlack{}})
}

type colorBlack struct{}

func (colorBlack) RGBA() (r, g, b, a uint32) { return 0, 0, 0, 0xffff }

// fivePods is the pod list the layout goldens use (the live list is tested on the real
// cluster in test/e2e).
func fivePods() *staticPods {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s := &staticPods{ch: make(chan struct{})}
	for i, st := range []string{"Running", "CrashLoopBackOff", "Pending", "Completed", "Running"} {
		s.rows = append(s.rows, pods.PodRow{Namespace: "shop", Name: "checkout-5d9f7-" + string(rune('a'+i)), Ready: "1/1", Status: st,
			Restarts: i * 3, Node: "node-" + string(rune('1'+i%2)), Created: now.Add(-time.Duration(i+1) * 37 * time.Minute),
			Containers: []string{"app", "envoy"}, Labels: map[string]string{"app": "checkout"}})
	}
	return s
}

func podsGoldenApp(t *testing.T, w, h int) *App {
	a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "test"})
	a.Update(tea.WindowSizeMsg{Width: w, Height: h})
	src := fivePods()
	p := pods.New(src, "shop", false, func(string, string, string) tea.Cmd { return nil }, a.th, a.km)
	a.Update(pushPage(p))
	a.Update(pods.PodsMsg{Gen: 1, Rows: src.rows, Now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)})
	return a
}

func TestScreenGoldens(t *testing.T) {
	for _, sz := range []struct{ w, h int }{{80, 24}, {120, 40}} {
		suffix := "-" + itoa(sz.w) + "x" + itoa(sz.h)
		a := podsGoldenApp(t, sz.w, sz.h)
		golden(t, "pods"+suffix, a.Render())
		a.Update(press('c'))
		golden(t, "pods-confirm"+suffix, a.Render())

		a = New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "test"})
		a.Update(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
		ac := acquire.New("g", "shop/checkout-5d9f7-a/app", nil, nil, a.th, a.km)
		a.Update(pushPage(ac))
		ac.Update(acquire.ProgressMsg{ID: "g", P: acquire.Progress{Phase: "stream", Bytes: 96 << 20, Total: 256 << 20, Rate: 32 << 20, Elapsed: 4 * time.Second}})
		golden(t, "acquire"+suffix, a.Render())
	}
}

var sgrColour = regexp.MustCompile(`\x1b\[[0-9;]*(3[0-9]|4[0-9]|38;|48;)[0-9;]*m`)

func TestColourGoldensAndNoColor(t *testing.T) {
	a := stableEvidenceApp(t, 80, 24)
	require.False(t, sgrColour.MatchString(a.Render()), "NO_COLOR: no colour sequences at all")
	setDark(a)
	require.True(t, sgrColour.MatchString(a.Render()), "the dark theme colours")
	colourGolden(t, "evidence-80x24", a.Render())

	a, _ = checkpointApp(t, 80, 24)
	require.False(t, sgrColour.MatchString(a.Render()))
	setDark(a)
	colourGolden(t, "checkpoint-summary-80x24", a.Render())

	a = podsGoldenApp(t, 80, 24)
	setDark(a)
	colourGolden(t, "pods-80x24", a.Render())
	_ = theme.Plain
}

// TestTinyTerminalsDoNotPanic renders every screen at sizes far below 80x24: frames keep the
// exact size and nothing panics.
func TestTinyTerminalsDoNotPanic(t *testing.T) {
	a, cp := checkpointApp(t, 80, 24)
	for _, sz := range [][2]int{{1, 1}, {10, 3}, {20, 5}, {40, 10}, {79, 23}} {
		a.Update(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		for tab := range checkpoint.TabNames {
			a.Update(press(rune('1' + tab)))
			require.Equal(t, tab, cp.Tab())
			lines := strings.Split(ansi.Strip(a.Render()), "\n")
			require.Len(t, lines, max(sz[1], 4), "size %v tab %d", sz, tab)
		}
	}
	p := podsGoldenApp(t, 10, 4)
	p.Update(press('c'))
	_ = p.Render()
	e := stableEvidenceApp(t, 5, 2)
	_ = e.Render()
}

// TestRandomKeysNeverPanic presses 3,000 pseudo-random keys (fixed seed) on the real decoded
// fixture; every frame keeps the terminal's size.
func TestRandomKeysNeverPanic(t *testing.T) {
	a, _ := checkpointApp(t, 100, 30)
	keysPool := []tea.KeyPressMsg{
		{Code: tea.KeyUp}, {Code: tea.KeyDown}, {Code: tea.KeyLeft}, {Code: tea.KeyRight}, {Code: tea.KeyEnter},
		{Code: tea.KeyEscape}, {Code: tea.KeyTab}, {Code: tea.KeyTab, Mod: tea.ModShift}, {Code: tea.KeyPgDown}, {Code: tea.KeyPgUp},
		{Code: tea.KeyBackspace}, {Code: 'u', Mod: tea.ModCtrl}, {Code: 't', Mod: tea.ModCtrl},
	}
	for _, r := range "123456789jkgGsSrm+-/?:xX4[(" {
		keysPool = append(keysPool, press(r))
	}
	seed := uint64(42)
	for i := range 3000 {
		seed = seed*6364136223846793005 + 1442695040888963407
		k := keysPool[(seed>>33)%uint64(len(keysPool))]
		_, cmd := a.Update(k)
		run(t, a, cmd)
		if n := len(strings.Split(a.Render(), "\n")); n != 30 {
			t.Fatalf("key %d (%s): frame has %d lines", i, k, n)
		}
	}
}

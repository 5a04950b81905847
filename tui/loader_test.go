package tui

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/test/fixtures"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
)

// checkpointApp opens the real fixture images/full through the real Loader.
func checkpointApp(t *testing.T, w, h int) (*App, *checkpoint.Model) {
	t.Helper()
	cfg := &config.Config{CacheDir: t.TempDir()}
	cfg.Limits = config.Limits{MaxMemberBytes: 1 << 30, MaxTotalBytes: 4 << 30, MaxEntries: 100000}
	a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "test", Loader: NewLoader(cfg)})
	a.Update(tea.WindowSizeMsg{Width: w, Height: h})
	path := filepath.Join(fixtures.Dir(), "images", "full")
	_, cmd := a.Update(openMsg(path, "images/full"))
	run(t, a, cmd)
	cp, ok := a.Top().(*checkpoint.Model)
	require.True(t, ok)
	require.NotNil(t, cp.Loaded(), "decoded")
	return a, cp
}

func TestCheckpointScreensOnRealFixture(t *testing.T) {
	for _, sz := range []struct{ w, h int }{{80, 24}, {120, 40}} {
		a, cp := checkpointApp(t, sz.w, sz.h)
		for tab, name := range checkpoint.TabNames {
			a.Update(press(rune('1' + tab)))
			require.Equal(t, tab, cp.Tab())
			frame := ansi.Strip(a.Render())
			require.Len(t, strings.Split(frame, "\n"), sz.h)
			golden(t, "checkpoint-"+strings.ToLower(name)+"-"+itoa(sz.w)+"x"+itoa(sz.h), frame)
		}
	}
}

func TestProcessTreeAndSecrets(t *testing.T) {
	a, cp := checkpointApp(t, 120, 40)
	a.Update(press('2'))
	tbl := cp.Table(checkpoint.TabProcesses)
	n := len(cp.Loaded().Checkpoint.Processes)
	require.Equal(t, n, tbl.Len(), "the tree starts fully expanded for a small tree")
	a.Update(tea.KeyPressMsg{Code: tea.KeyLeft}) // collapse the root
	require.Equal(t, 1, cp.Table(checkpoint.TabProcesses).Len())
	require.Contains(t, ansi.Strip(a.Render()), "(+")
	a.Update(tea.KeyPressMsg{Code: tea.KeyRight})
	require.Equal(t, n, cp.Table(checkpoint.TabProcesses).Len())
	frame := ansi.Strip(a.Render())
	require.NotContains(t, frame, "hunter2-env-marker", "secret env values are masked")
	require.Contains(t, frame, "FORENSIC_SECRET=••••••")
	a.Update(press('r'))
	require.Contains(t, ansi.Strip(a.Render()), "FORENSIC_SECRET=hunter2-env-marker")
	// tab cycles, shift+tab back
	a.Update(tea.KeyPressMsg{Code: tea.KeyTab})
	require.Equal(t, checkpoint.TabNetwork, cp.Tab())
	a.Update(tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift})
	require.Equal(t, checkpoint.TabProcesses, cp.Tab())
	// esc pops back to the evidence view
	a.Update(tea.KeyPressMsg{Code: tea.KeyEscape})
	require.Equal(t, 1, a.Depth())
}

func TestMemorySearchFindsPlantedMarker(t *testing.T) {
	a, cp := checkpointApp(t, 120, 40)
	a.Update(press('7'))
	typeKeys(t, a, "/CRIU-FORENSIC-MARKER")
	_, cmd := a.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	require.True(t, cp.Searching())
	runUntil(t, a, cmd, func() bool { return !cp.Searching() })
	require.NotEmpty(t, cp.Hits())
	h := cp.Hits()[0]
	require.NotZero(t, h.PID)
	frame := ansi.Strip(a.Render())
	require.Contains(t, frame, "CRIU-FORENSIC-MARKER")
	// enter opens the hexdump at the hit
	_, cmd = a.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	require.True(t, cp.HexOpen())
	run(t, a, cmd)
	frame = ansi.Strip(a.Render())
	require.Contains(t, frame, "|CRIU-FORENSIC-MA", "the hexdump shows the marker bytes")
	a.Update(tea.KeyPressMsg{Code: tea.KeyEscape})
	require.False(t, cp.HexOpen())
	require.Equal(t, 2, a.Depth(), "esc closed the viewer, not the screen")
}

// runUntil runs cmd's messages (progress Cmds block on their channel, so they run in
// goroutines) until done() or a timeout.
func runUntil(t *testing.T, a *App, cmd tea.Cmd, done func() bool) {
	t.Helper()
	msgs := make(chan tea.Msg, 64)
	var start func(c tea.Cmd)
	start = func(c tea.Cmd) {
		if c == nil {
			return
		}
		go func() { msgs <- c() }()
	}
	start(cmd)
	deadline := time.After(60 * time.Second)
	for !done() {
		select {
		case m := <-msgs:
			switch m := m.(type) {
			case nil:
			case tea.BatchMsg:
				for _, c := range m {
					start(c)
				}
			default:
				_, next := a.Update(m)
				start(next)
			}
		case <-deadline:
			t.Fatal("timed out")
		}
	}
}

func openMsg(path, label string) tea.Msg { return navOpen(path, label) }

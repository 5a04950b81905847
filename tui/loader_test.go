package tui

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
)

// checkpointApp opens the real fixture images/full through the real Loader.
func checkpointApp(t *testing.T, w, h int) (*App, *checkpoint.Model) {
	t.Helper()
	return openFixture(t, w, h, filepath.Join("images", "full"))
}

// openFixture opens a real fixture (relative to test/fixtures) through the real Loader.
func openFixture(t *testing.T, w, h int, rel string) (*App, *checkpoint.Model) {
	t.Helper()
	cfg := &config.Config{CacheDir: t.TempDir()}
	cfg.Limits = config.Limits{MaxMemberBytes: 1 << 30, MaxTotalBytes: 4 << 30, MaxEntries: 100000}
	a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "test", Loader: NewLoader(cfg)})
	a.Update(tea.WindowSizeMsg{Width: w, Height: h})
	// relative to the package directory, so the paths in the goldens do not depend on where the
	// repository is checked out
	path := filepath.Join("..", "test", "fixtures", rel)
	_, cmd := a.Update(openMsg(path, filepath.ToSlash(rel)))
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

// TestContainerArchiveGoldens: the Podman archive carries container metadata and rootfs
// changes that bare image directories do not.
func TestContainerArchiveGoldens(t *testing.T) {
	a, cp := openFixture(t, 120, 40, filepath.Join("archives", "podman-crun.tar.zst"))
	require.NotNil(t, cp.Loaded().Checkpoint.Container)
	golden(t, "podman-summary-120x40", a.Render())
	a.Update(press('6'))
	require.NotZero(t, cp.Table(checkpoint.TabRootfs).Len())
	golden(t, "podman-rootfs-120x40", a.Render())
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
			if cs, ok := subCmds(m); ok {
				for _, c := range cs {
					start(c)
				}
				continue
			}
			switch m := m.(type) {
			case nil:
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

func TestMemorySearchModesAndErrors(t *testing.T) {
	a, cp := checkpointApp(t, 120, 40)
	a.Update(press('7'))
	tests := []struct {
		name, mode, query, err string
	}{
		{"bad regex", "regex", "CRIU-(", "not a valid regular expression"},
		{"odd hex", "hex", "435", "odd number of digits"},
		{"not hex", "hex", "zz", "not a hex digit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.Update(press('/'))
			a.Update(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
			for !strings.Contains(ansi.Strip(a.Render()), "search memory ("+tt.mode) {
				a.Update(tea.KeyPressMsg{Code: 't', Mod: tea.ModCtrl}) // cycles the mode inside the prompt
			}
			typeKeys(t, a, tt.query)
			_, cmd := a.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
			require.Nil(t, cmd, "no search started")
			require.False(t, cp.Searching())
			_, errLine := a.Status()
			require.Contains(t, errLine, tt.err)
		})
	}
	// hex search for "CRIU-FORENSIC" finds the same bytes as the literal
	a.Update(press('/'))
	a.Update(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
	for !strings.Contains(ansi.Strip(a.Render()), "search memory (hex") {
		a.Update(tea.KeyPressMsg{Code: 't', Mod: tea.ModCtrl})
	}
	typeKeys(t, a, "43 52 49 55 2d 46 4f 52 45 4e 53 49 43")
	_, cmd := a.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	runUntil(t, a, cmd, func() bool { return !cp.Searching() })
	require.NotEmpty(t, cp.Hits())
	require.Contains(t, cp.Hits()[0].Preview, "CRIU-FORENSIC")
}

// TestProcessesFilterFlattensSortKeepsTheTree: a filter shows the flat list (every process
// searchable); a sort keeps the tree and orders the siblings (TestSortKeepsTheProcessTree).
func TestProcessesFilterFlattensSortKeepsTheTree(t *testing.T) {
	a, cp := checkpointApp(t, 120, 40)
	a.Update(press('2'))
	require.Contains(t, ansi.Strip(a.Render()), "└─")
	typeKeys(t, a, "/grand")
	require.Equal(t, 1, cp.Table(checkpoint.TabProcesses).Len())
	frame := ansi.Strip(a.Render())
	require.NotContains(t, frame, "└─", "filtered: a flat list, every process searchable")
	a.Update(tea.KeyPressMsg{Code: tea.KeyEscape}) // cancel: back to no filter
	require.Equal(t, len(cp.Loaded().Checkpoint.Processes), cp.Table(checkpoint.TabProcesses).Len())
	require.Contains(t, ansi.Strip(a.Render()), "└─", "the tree is back")
	a.Update(press('s'))
	col, _ := cp.Table(checkpoint.TabProcesses).Sort()
	require.Equal(t, 0, col)
	frame = ansi.Strip(a.Render())
	require.Contains(t, frame, "└─", "sorted: still the tree")
	require.Contains(t, frame, "PID↑")
}

func TestMouseWheelScrollsTheTopScreen(t *testing.T) {
	a, cp := checkpointApp(t, 120, 40)
	a.Update(press('4')) // Files: more rows than fit? the wheel moves the cursor either way
	before := cp.Table(checkpoint.TabFiles).Cursor()
	a.Update(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	require.Equal(t, min(before+3, cp.Table(checkpoint.TabFiles).Len()-1), cp.Table(checkpoint.TabFiles).Cursor())
	a.Update(tea.MouseWheelMsg{Button: tea.MouseWheelUp})
	require.Equal(t, before, cp.Table(checkpoint.TabFiles).Cursor())
}

func TestRevealTogglesIOCs(t *testing.T) {
	a, cp := checkpointApp(t, 160, 40)
	a.Update(press('8'))
	require.NotEmpty(t, cp.Loaded().IOCs)
	frame := ansi.Strip(a.Render())
	require.NotContains(t, frame, "hunter2-env-marker")
	require.NotContains(t, frame, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	require.Contains(t, frame, "sha256:", "redacted values keep their hash for correlation")
	a.Update(press('r'))
	require.True(t, cp.Revealed())
	frame = ansi.Strip(a.Render())
	require.Contains(t, frame, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	a.Update(press('r'))
	require.NotContains(t, ansi.Strip(a.Render()), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
}

func TestHexdumpScrollsThroughTheRegion(t *testing.T) {
	a, cp := checkpointApp(t, 100, 30)
	a.Update(press('7'))
	typeKeys(t, a, "/CRIU-FORENSIC-MARKER")
	_, cmd := a.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	runUntil(t, a, cmd, func() bool { return !cp.Searching() })
	h := cp.Hits()[0]
	_, cmd = a.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	run(t, a, cmd)
	require.Contains(t, ansi.Strip(a.Render()), "|CRIU-FORENSIC-MA")
	// G goes to the end of the region: a new window is read and the last line is shown
	_, cmd = a.Update(press('G'))
	run(t, a, cmd)
	last := fmt.Sprintf("%012x", (h.VMAEnd-1)&^15)
	require.Contains(t, ansi.Strip(a.Render()), last)
	// g back to the start of the region
	_, cmd = a.Update(press('g'))
	run(t, a, cmd)
	require.Contains(t, ansi.Strip(a.Render()), fmt.Sprintf("%012x  ", h.VMAStart&^15))
}

// TestFilesTabShowsFDState: the Files tab of the real images/fds fixture shows what each
// special fd holds (the same FDDetail as `inspect --files`).
func TestFilesTabShowsFDState(t *testing.T) {
	a, cp := openFixture(t, 240, 24, filepath.Join("images", "fds"))
	a.Update(press('4'))
	require.Equal(t, checkpoint.TabFiles, cp.Tab())
	frame := ansi.Strip(a.Render())
	for _, want := range []string{"counter 7", "CLOCK_MONOTONIC", "every 5s", "signals SIGHUP|SIGUSR2",
		"2 watches: watch 1", "IN_MODIFY|IN_CLOSE_WRITE", "2 targets: target fd 3", "PTY master, pts 0, window 40 rows x 132 cols"} {
		require.Contains(t, frame, want)
	}
	golden(t, "checkpoint-files-fds-240x24", frame)
}

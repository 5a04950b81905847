package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"

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

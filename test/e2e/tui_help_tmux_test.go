package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/test/fixtures"
)

// TestTUIHelpInTmux runs the real binary with `podsleuth open FIXTURE` in an 80x24 tmux: ? on the
// Processes tab lists its tree and sort keys and scrolls (j/k, G) to the global keys and the :
// commands; on the Memory tab the help has the search prompt and its mode and no sort or filter;
// on the Summary no filter; in a row's detail view "go to" and no tab keys; every frame keeps
// the terminal's 24 lines.
func TestTUIHelpInTmux(t *testing.T) {
	path := filepath.Join(fixtures.Dir(), "images", "full")
	tm := newTmux(t, []string{"KUBECONFIG=" + filepath.Join(t.TempDir(), "none")}, []string{"open", path}, 80, 24)
	tm.waitFor("decoded", 60*time.Second)
	lines := func(s string) int { return len(strings.Split(strings.TrimRight(s, "\n"), "\n")) }

	tm.keys("2", "?")
	s := tm.waitFor("Keys of Processes", 5*time.Second)
	for _, want := range []string{"←/h", "collapse/left", "expand all", "sort by next column", "process detail", "lines 1-20 of"} {
		require.Contains(t, s, want)
	}
	require.NotContains(t, s, "search memory")
	require.LessOrEqual(t, lines(s), 24)
	tm.keys("G")
	s = tm.waitFor(":open PATH", 5*time.Second)
	for _, want := range []string{"q          quit", ":q", "any key closes this help"} {
		require.Contains(t, s, want)
	}
	tm.keys("Escape")
	tm.waitFor("1 Sum", 5*time.Second)

	tm.keys("7", "?")
	s = tm.waitFor("Keys of Memory", 5*time.Second)
	require.Contains(t, s, "search memory")
	require.Contains(t, s, "search mode")
	require.NotContains(t, s, "sort by next column")
	require.NotContains(t, s, "/          filter")
	tm.keys("Escape")
	tm.waitFor("1 Sum", 5*time.Second)

	tm.keys("1", "?")
	s = tm.waitFor("Keys of Summary", 5*time.Second)
	require.Contains(t, s, "copy the summary")
	require.NotContains(t, s, "filter")
	tm.keys("Escape")
	tm.waitFor("1 Sum", 5*time.Second)

	tm.keys("4", "Enter")
	tm.waitFor("Holders (descriptors of the same open file)", 5*time.Second)
	tm.keys("?")
	s = tm.waitFor("Keys of Files › fd", 5*time.Second)
	require.Contains(t, s, "go to")
	require.Contains(t, s, "copy the detail")
	require.NotContains(t, s, "next tab")
	tm.keys("Escape", "Escape", "q")
	tm.waitExit(10 * time.Second)
}

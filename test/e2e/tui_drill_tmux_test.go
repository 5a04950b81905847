package e2e

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/test/fixtures"
)

// TestTUIDrillAndCopyInTmux runs the real binary with `podsleuth open FIXTURE` in tmux with
// set-clipboard on: enter drills into a row of the Network, Files, IOCs and Findings tabs and esc
// comes back; y copies the whole C2 URL (OSC 52, read back with tmux show-buffer); esc clears
// the filter before it leaves the case.
func TestTUIDrillAndCopyInTmux(t *testing.T) {
	path := filepath.Join(fixtures.Dir(), "images", "full")
	tm := newTmux(t, []string{"KUBECONFIG=" + filepath.Join(t.TempDir(), "none")}, []string{"open", path}, 100, 30)
	tm.run("set-option", "-g", "set-clipboard", "on")
	tm.waitFor("decoded", 60*time.Second)
	tm.keys("3", "Enter")
	tm.waitFor("Owners (", 5*time.Second)
	tm.keys("Escape")
	tm.waitFor("SENDQ", 5*time.Second)
	tm.keys("4", "Enter")
	tm.waitFor("Holders (descriptors of the same open file)", 5*time.Second)
	tm.keys("Escape", "9", "Enter")
	tm.waitFor("Reason", 5*time.Second)
	tm.keys("Escape", "8", "/", "c2.evil.example:8443", "Enter")
	tm.waitFor("1/1 of", 5*time.Second)
	tm.keys("y")
	tm.waitFor("copied the value", 5*time.Second)
	require.Contains(t, tm.run("show-buffer"), "http://c2.evil.example:8443/beacon")
	tm.keys("Enter")
	tm.waitFor("Seen at (1)", 5*time.Second)
	tm.keys("Escape")
	tm.waitFor("1/1 of", 5*time.Second)
	tm.keys("Escape")
	tm.waitFor("filter cleared", 5*time.Second)
	require.Contains(t, tm.capture(), "8 IOCs", "the first esc clears the filter: the case stays open")
	tm.keys("Escape")
	tm.waitFor("bundled sample", 10*time.Second)
	tm.keys("q")
	tm.waitExit(10 * time.Second)
}

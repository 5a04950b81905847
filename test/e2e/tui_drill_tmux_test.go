package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/test/fixtures"
)

// TestTUIDrillAndCopyInTmux runs the real binary with `podsleuth open FIXTURE` in tmux with
// set-clipboard on: enter drills into a row of the Network, Files, IOCs and Findings tabs and esc
// comes back; y copies the whole C2 URL (OSC 52, read back with tmux show-buffer); esc clears
// the filter before it leaves the case; back on the evidence view the case is listed and
// selected, and x exports its report.
func TestTUIDrillAndCopyInTmux(t *testing.T) {
	path := filepath.Join(fixtures.Dir(), "images", "full")
	reports := t.TempDir()
	tm := newTmux(t, []string{"KUBECONFIG=" + filepath.Join(t.TempDir(), "none"), "PODSLEUTH_REPORT_DIR=" + reports}, []string{"open", path}, 100, 30)
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
	// back on the evidence view the opened case is still listed (not in the store), selected:
	// x exports its report
	tm.keys("Escape")
	tm.waitFor("not in store", 10*time.Second)
	require.Contains(t, tm.capture(), "A add to store", "the help offers to add the selected case")
	tm.keys("x")
	tm.waitFor("report: "+reports, 60*time.Second)
	files, err := filepath.Glob(filepath.Join(reports, "*.html"))
	require.NoError(t, err)
	require.Len(t, files, 1, "one report written")
	data, err := os.ReadFile(files[0])
	require.NoError(t, err)
	require.Contains(t, string(data), "<html")
	require.Contains(t, string(data), "c2.evil.example", "the report is of the opened case")
	tm.keys("q")
	tm.waitExit(10 * time.Second)
}

// TestTUIRootfsDiffInTmux runs the real binary as `podsleuth open ARCHIVE --rootfs BASE` on the
// persistence fixture: the Rootfs tab says modified for /etc/passwd, and enter on it shows the
// diff against the base, the added uid-0 line read back from the pane.
func TestTUIRootfsDiffInTmux(t *testing.T) {
	dir := filepath.Join(fixtures.Dir(), "archives")
	tm := newTmux(t, []string{"KUBECONFIG=" + filepath.Join(t.TempDir(), "none")},
		[]string{"open", filepath.Join(dir, "podman-persist.tar"), "--rootfs", filepath.Join(dir, "podman-persist.base.tar.gz")}, 100, 30)
	tm.waitFor("decoded", 60*time.Second)
	tm.keys("6", "/", "passwd", "Enter")
	tm.waitFor("modified file -rw-r--r--", 5*time.Second) // classified against the base
	tm.keys("Enter")
	screen := tm.waitFor("+backdoor::0:0:backdoor:/root:/bin/sh", 5*time.Second)
	require.Contains(t, screen, "Diff against the base image")
	tm.keys("Escape")
	tm.waitFor("KIND", 5*time.Second)
	tm.keys("q")
	tm.waitExit(10 * time.Second)
}

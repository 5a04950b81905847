package tui

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
)

// selectRow moves the cursor of the current tab to the first row whose cells contain s.
func selectRow(t *testing.T, a *App, cp *checkpoint.Model, s string) string {
	t.Helper()
	tbl := cp.Table(cp.Tab())
	for i := 0; i < tbl.Len(); i++ {
		r, _ := cp.Table(cp.Tab()).Selected()
		if strings.Contains(strings.Join(r.Cells, "\t"), s) {
			return r.Key
		}
		a.Update(press('j'))
	}
	t.Fatalf("no row of tab %d contains %q", cp.Tab(), s)
	return ""
}

// drillInto selects the row containing s on tab, presses enter and reads its contents.
func drillInto(t *testing.T, a *App, cp *checkpoint.Model, tab int, s string) string {
	t.Helper()
	a.Update(press(rune('1' + tab)))
	a.Update(press('g'))
	k := selectRow(t, a, cp, s)
	_, cmd := a.Update(special(tea.KeyEnter))
	run(t, a, cmd)
	require.True(t, cp.DrillOpen(), "enter opens the detail of %q", s)
	return k
}

// TestDrillIntoEveryTab: enter opens a detail view on every tab with rows, showing what the
// table cuts (the C2 URL whole at 80 columns, a socket's queued bytes, every place an indicator
// was seen, a finding's reason and technique); esc returns to the same row. Goldens at 80x24
// and 160x45, plain and coloured.
func TestDrillIntoEveryTab(t *testing.T) {
	cases := []struct {
		fixture, name string
		tab           int
		row           string
		want          []string
	}{
		{"images/full", "files", checkpoint.TabFiles, "pipe", []string{"Holders (descriptors of the same open file)", "pipe id"}},
		{"images/full", "network", checkpoint.TabNetwork, "12.0 KiB", []string{"recv queue", "Owners (1)", "Send queue: socket:[", "TCP-SENDQ-DATA"}},
		{"images/full", "iocs", checkpoint.TabIOCs, "http://c2.evil", []string{"http://c2.evil.example:8443", "Seen at (1)", "  memory pid 15728 (target) heap 0x"}},
		{"images/full", "findings", checkpoint.TabFindings, "high", []string{"Reason", "Evidence", "rule"}},
		{"archives/podman-crun.tar.zst", "mounts", checkpoint.TabMounts, "proc", []string{"Options", "fstype      proc"}},
		{"archives/podman-crun.tar.zst", "rootfs", checkpoint.TabRootfs, "file", []string{"change", "Content: rootfs:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, sz := range []struct{ w, h int }{{80, 24}, {160, 45}} {
				a, cp := openFixture(t, sz.w, sz.h, filepath.FromSlash(tc.fixture))
				k := drillInto(t, a, cp, tc.tab, tc.row)
				text := strings.Join(cp.DrillLines(), "\n")
				for _, w := range tc.want {
					require.Contains(t, text, w)
				}
				frame := a.Render()
				require.Len(t, strings.Split(ansi.Strip(frame), "\n"), sz.h)
				name := fmt.Sprintf("drill-%s-%dx%d", tc.name, sz.w, sz.h)
				golden(t, name, frame)
				setDark(a)
				colourGolden(t, name, a.Render())
				a.Update(special(tea.KeyEscape))
				require.False(t, cp.DrillOpen())
				r, _ := cp.Table(tc.tab).Selected()
				require.Equal(t, k, r.Key, "esc returns to the same row")
				require.Equal(t, 2, a.Depth(), "the case is still open")
			}
		})
	}
}

// TestDrillShowsSavedContent: the fileless fixture's memfd holds an ELF; the detail view of
// its descriptor reads the content (in a Cmd) and says so.
func TestDrillShowsSavedContent(t *testing.T) {
	a, cp := openFixture(t, 120, 40, filepath.Join("images", "triage-fileless"))
	drillInto(t, a, cp, checkpoint.TabFiles, "memfd:")
	text := strings.Join(cp.DrillLines(), "\n")
	require.Contains(t, text, "Content: memfd:")
	require.Contains(t, text, "starts like an executable: ELF")
	require.Contains(t, text, "7f 45 4c 46", "a binary content is a hexdump")
	require.NotContains(t, text, "reading…")
}

// TestFindingJumpsToTheEvidenceAndBack: enter on a finding's evidence line goes there (the
// hexdump for a memory address); esc comes back to the hexdump's list, the finding, the row.
func TestFindingJumpsToTheEvidenceAndBack(t *testing.T) {
	a, cp := checkpointApp(t, 120, 40)
	a.Update(press(rune('1' + checkpoint.TabIOCs)))
	k := drillInto(t, a, cp, checkpoint.TabIOCs, "http://c2.evil")
	a.Update(press('G'))
	_, cmd := a.Update(special(tea.KeyEnter))
	run(t, a, cmd)
	require.False(t, cp.DrillOpen())
	require.Equal(t, checkpoint.TabMemory, cp.Tab())
	require.True(t, cp.HexOpen(), "the indicator's memory address opens the hexdump")
	require.Contains(t, ansi.Strip(a.Render()), "|http://c2.evil")
	a.Update(special(tea.KeyEscape))
	require.False(t, cp.HexOpen())
	a.Update(special(tea.KeyEscape))
	require.True(t, cp.DrillOpen(), "esc returns to the detail view the jump left")
	require.Equal(t, checkpoint.TabIOCs, cp.Tab())
	a.Update(special(tea.KeyEscape))
	r, _ := cp.Table(checkpoint.TabIOCs).Selected()
	require.Equal(t, k, r.Key)
	require.Equal(t, 2, a.Depth())
}

// collect runs a Cmd tree and returns every message it produced.
func collect(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	msg := cmd()
	if b, ok := subCmds(msg); ok {
		var out []tea.Msg
		for _, c := range b {
			out = append(out, collect(c)...)
		}
		return out
	}
	return []tea.Msg{msg}
}

// clipboard returns what the Cmd puts on the clipboard (OSC 52), and the status it shows.
func clipboard(t *testing.T, a *App, cmd tea.Cmd) string {
	t.Helper()
	var clip string
	for _, m := range collect(cmd) {
		if fmt.Sprintf("%T", m) == "tea.setClipboardMsg" {
			clip = fmt.Sprint(m)
			continue
		}
		a.Update(m)
	}
	return clip
}

// TestCopy: y copies the selected value (the whole C2 URL the 80-column table cuts), a
// masked secret stays masked until r, and in a detail view y copies the view; the status says
// what was copied.
func TestCopy(t *testing.T) {
	a, cp := checkpointApp(t, 80, 24)
	a.Update(press(rune('1' + checkpoint.TabIOCs)))
	selectRow(t, a, cp, "http://c2.evil")
	_, cmd := a.Update(press('y'))
	clip := clipboard(t, a, cmd)
	require.True(t, strings.HasPrefix(clip, "http://c2.evil.example:8443"), clip)
	status, _ := a.Status()
	require.Contains(t, status, "copied the value")

	a.Update(press('g'))
	selectRow(t, a, cp, "DB_PASSWORD")
	_, cmd = a.Update(press('y'))
	require.NotContains(t, clipboard(t, a, cmd), "s3cr", "a masked secret is copied masked")
	a.Update(press('r'))
	_, cmd = a.Update(press('y'))
	require.Contains(t, clipboard(t, a, cmd), "DB_PASSWORD=")

	drillInto(t, a, cp, checkpoint.TabNetwork, "12.0 KiB")
	_, cmd = a.Update(press('y'))
	clip = clipboard(t, a, cmd)
	require.Contains(t, clip, "Owners (1)")
	status, _ = a.Status()
	require.Contains(t, status, "copied the detail of socket")
}

// TestEscOrder: esc first clears the filter, then closes the detail view, then leaves the
// case; the error of a missing checkpoint names its cause once.
func TestEscOrder(t *testing.T) {
	a, cp := checkpointApp(t, 100, 30)
	a.Update(press(rune('1' + checkpoint.TabNetwork)))
	typeKeys(t, a, "/tcp")
	a.Update(special(tea.KeyEnter))
	require.Equal(t, "tcp", cp.Table(checkpoint.TabNetwork).Filter())
	a.Update(special(tea.KeyEnter))
	require.True(t, cp.DrillOpen())
	typeKeys(t, a, "/owner")
	a.Update(special(tea.KeyEnter))
	a.Update(special(tea.KeyEscape)) // the detail view's filter
	require.True(t, cp.DrillOpen())
	a.Update(special(tea.KeyEscape)) // the detail view
	require.False(t, cp.DrillOpen())
	require.Equal(t, "tcp", cp.Table(checkpoint.TabNetwork).Filter())
	a.Update(special(tea.KeyEscape)) // the tab's filter
	require.Empty(t, cp.Table(checkpoint.TabNetwork).Filter())
	require.Equal(t, 2, a.Depth())
	a.Update(special(tea.KeyEscape)) // back to the evidence view
	require.Equal(t, 1, a.Depth())

	_, cmd := a.Update(openMsg("/nonexistent/x.tar", ""))
	run(t, a, cmd)
	_, errLine := a.Status()
	require.Equal(t, 1, strings.Count(errLine, "/nonexistent/x.tar"), errLine)
}

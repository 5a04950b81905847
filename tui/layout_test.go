package tui

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// TestLayoutKeepsKeyColumns: every tab of the real fixtures at 80x24 and 160x45 shows the key
// columns (addresses with ports, values, PIDs, paths) of its first rows whole, headers are
// never cut (the sort arrow stays), and the tab labels are words. Goldens per tab and size,
// plain and coloured.
func TestLayoutKeepsKeyColumns(t *testing.T) {
	cases := []struct {
		fixture string
		tabs    []int
	}{
		{"images/full", []int{checkpoint.TabProcesses, checkpoint.TabNetwork, checkpoint.TabFiles, checkpoint.TabIOCs, checkpoint.TabFindings}},
		{"archives/podman-crun.tar.zst", []int{checkpoint.TabMounts, checkpoint.TabRootfs}},
	}
	for _, tc := range cases {
		for _, sz := range []struct{ w, h int }{{80, 24}, {160, 45}} {
			a, cp := openFixture(t, sz.w, sz.h, filepath.FromSlash(tc.fixture))
			for _, tab := range tc.tabs {
				name := strings.ToLower(checkpoint.TabNames[tab])
				a.Update(press(rune('1' + tab)))
				frame := ansi.Strip(a.Render())
				lines := strings.Split(frame, "\n")
				require.Len(t, lines, sz.h)
				require.Contains(t, lines[1], "1 Sum", "tab labels are words")
				require.NotContains(t, lines[1], "1Summ")
				header := lines[2]
				require.NotContains(t, header, "…", "%s %dx%d: a header is cut", name, sz.w, sz.h)
				tbl := cp.Table(tab)
				cols := tbl.Columns()
				rows := tbl.Rows()
				for i := 0; i < min(len(rows), 8); i++ {
					for c, col := range cols {
						if !col.Key || c >= len(rows[i].Cells) || rows[i].Cells[c] == "" {
							continue
						}
						// tree rows carry the branch glyphs: the name itself must be whole
						cell := strings.TrimLeft(rows[i].Cells[c], " │├└─▾▸")
						if col.Max > 0 && ansi.StringWidth(cell) > col.Max {
							continue // capped by design; the detail view shows it whole
						}
						require.Contains(t, lines[3+i], cell, "%s %dx%d row %d: key column %s cut", name, sz.w, sz.h, i, col.Title)
					}
				}
				golden(t, fmt.Sprintf("layout-%s-%dx%d", name, sz.w, sz.h), a.Render())
			}
			setDark(a)
			for _, tab := range tc.tabs {
				a.Update(press(rune('1' + tab)))
				colourGolden(t, fmt.Sprintf("layout-%s-%dx%d", strings.ToLower(checkpoint.TabNames[tab]), sz.w, sz.h), a.Render())
			}
		}
	}
}

// TestSortKeepsTheProcessTree: s/S on the Processes tab keep the tree and order the siblings
// (the roots too) by the sort column; the header keeps its arrow at 80 columns; a filter shows
// the flat list, sorted by the table.
func TestSortKeepsTheProcessTree(t *testing.T) {
	proc := func(pid, ppid, uid int, comm string) forensics.Process {
		return forensics.Process{PID: pid, PPID: ppid, Comm: comm, State: "alive", Threads: []int{pid},
			Cmdline: []string{"/bin/" + comm}, Creds: forensics.Creds{UID: uint32(uid)}}
	}
	c := &forensics.Checkpoint{Processes: []forensics.Process{
		proc(1, 0, 0, "init"), proc(7, 1, 5, "web"), proc(9, 1, 3, "db"), proc(12, 1, 9, "cache"), proc(15, 9, 1, "worker"),
	}}
	m := checkpoint.NewLoaded(&checkpoint.Loaded{Path: "synthetic", Checkpoint: c}, theme.Plain(), keys.Default())
	m.SetSize(80, 20)
	m, _ = m.Update(press('2'))
	order := func() []string {
		var ks []string
		for _, r := range m.Table(checkpoint.TabProcesses).Rows() {
			ks = append(ks, r.Key)
		}
		return ks
	}
	require.Equal(t, []string{"1", "7", "9", "15", "12"}, order(), "the checkpoint's order")
	m, _ = m.Update(press('s')) // PID ascending
	require.Equal(t, []string{"1", "7", "9", "15", "12"}, order())
	require.Contains(t, ansi.Strip(m.View()), "PID↑")
	m, _ = m.Update(press('S')) // PID descending: siblings reversed, children stay under parents
	require.Equal(t, []string{"1", "12", "9", "15", "7"}, order())
	v := ansi.Strip(m.View())
	require.Contains(t, v, "PID↓")
	require.Contains(t, v, "└─", "still a tree")
	m, _ = m.Update(press('s'))
	m, _ = m.Update(press('s')) // UID ascending
	require.Equal(t, []string{"1", "9", "15", "7", "12"}, order())
	require.Contains(t, ansi.Strip(m.View()), "UID↑")
	_, err := m.ApplyFilter("w", true) // web, worker: the flat list, sorted by UID
	require.NoError(t, err)
	var shown []string
	tbl := m.Table(checkpoint.TabProcesses)
	for i := 0; i < tbl.Len(); i++ {
		tbl.SetCursor(i)
		r, _ := tbl.Selected()
		shown = append(shown, r.Key)
	}
	require.Equal(t, []string{"15", "7"}, shown)
}

// TestHelpScrollsAt80x24: the help of the checkpoint screen is taller than 80x24: it scrolls
// (j, pgdn, G) with a line saying where, every frame keeps the screen's size, and its end shows
// the global keys (q) and the ":" commands. Goldens of the first and the last page.
func TestHelpScrollsAt80x24(t *testing.T) {
	a, _ := checkpointApp(t, 80, 24)
	a.Update(press('2'))
	a.Update(press('?'))
	first := ansi.Strip(a.Render())
	require.Len(t, strings.Split(first, "\n"), 24)
	require.Contains(t, first, "Keys of")
	require.Contains(t, first, "j/k pgup/pgdn g/G scroll")
	golden(t, "help-processes-80x24", a.Render())
	a.Update(press('j'))
	require.NotEqual(t, first, ansi.Strip(a.Render()), "j scrolls")
	a.Update(press('G'))
	last := ansi.Strip(a.Render())
	require.Len(t, strings.Split(last, "\n"), 24)
	require.Contains(t, last, ":open PATH")
	require.Contains(t, last, ":q")
	require.Contains(t, last, "any key closes this help")
	golden(t, "help-processes-end-80x24", a.Render())
	a.Update(press('k'))
	a.Update(press('g'))
	require.Equal(t, first, ansi.Strip(a.Render()), "g is the top again")
	a.Update(special(tea.KeyEscape))
	require.NotContains(t, ansi.Strip(a.Render()), "Keys of", "any other key closes")
}

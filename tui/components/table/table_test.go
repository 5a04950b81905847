package table

import (
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/theme"
)

func podTable(t *testing.T) Model {
	t.Helper()
	m := New([]Column{{Title: "NAME", Flex: true}, {Title: "STATUS"}, {Title: "RESTARTS", Right: true, Numeric: true}}, theme.Plain(), keys.Default())
	m.SetRows([]Row{
		{Key: "web-1", Cells: []string{"web-1", "Running", "0"}, Labels: map[string]string{"app": "web", "tier": "front"}},
		{Key: "web-2", Cells: []string{"web-2", "CrashLoopBackOff", "12"}, Labels: map[string]string{"app": "web"}},
		{Key: "db-0", Cells: []string{"db-0", "Running", "3"}, Labels: map[string]string{"app": "db"}},
		{Key: "Job-x", Cells: []string{"Job-x", "Completed", "100"}},
	})
	m.SetSize(60, 10)
	return m
}

func keysOf(m Model) []string {
	var out []string
	for _, ri := range m.view {
		out = append(out, m.rows[ri].Key)
	}
	return out
}

func TestFilter(t *testing.T) {
	tests := []struct {
		name, filter string
		want         []string
		err          bool
	}{
		{"empty shows all", "", []string{"web-1", "web-2", "db-0", "Job-x"}, false},
		{"regex", "web-[12]", []string{"web-1", "web-2"}, false},
		{"smart case: lower matches any case", "job", []string{"Job-x"}, false},
		{"smart case: upper is case-sensitive", "JOB", nil, false},
		{"matches any column", "crash", []string{"web-2"}, false},
		{"invert", "!running", []string{"web-2", "Job-x"}, false},
		{"bare ! shows all", "!", []string{"web-1", "web-2", "db-0", "Job-x"}, false},
		{"label equality", "-l app=web", []string{"web-1", "web-2"}, false},
		{"label inequality", "-l app!=web", []string{"db-0", "Job-x"}, false},
		{"label exists and value", "-l tier,app=web", []string{"web-1"}, false},
		{"label not exists", "-l !app", []string{"Job-x"}, false},
		{"bad regex", "web-[", nil, true},
		{"empty selector", "-l ", nil, true},
		{"selector without key", "-l =x", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := podTable(t)
			err := m.SetFilter(tt.filter)
			if tt.err {
				require.ErrorIs(t, err, ErrBadFilter)
				require.Equal(t, 4, m.Len(), "a bad filter keeps the previous one")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, keysOf(m))
		})
	}
}

func TestSort(t *testing.T) {
	tests := []struct {
		name string
		col  int
		desc bool
		want []string
	}{
		{"as given", -1, false, []string{"web-1", "web-2", "db-0", "Job-x"}},
		{"by name", 0, false, []string{"Job-x", "db-0", "web-1", "web-2"}},
		{"numeric restarts, not lexical", 2, false, []string{"web-1", "db-0", "web-2", "Job-x"}},
		{"numeric restarts desc", 2, true, []string{"Job-x", "web-2", "db-0", "web-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := podTable(t)
			m.SortBy(tt.col, tt.desc)
			require.Equal(t, tt.want, keysOf(m))
		})
	}
}

func TestSortKeysOverrideCells(t *testing.T) {
	m := New([]Column{{Title: "AGE", Numeric: true}}, theme.Plain(), keys.Default())
	m.SetRows([]Row{
		{Key: "a", Cells: []string{"2h"}, Keys: []string{"7200"}},
		{Key: "b", Cells: []string{"5m"}, Keys: []string{"300"}},
		{Key: "c", Cells: []string{"1d"}, Keys: []string{"86400"}},
	})
	m.SortBy(0, false)
	require.Equal(t, []string{"b", "a", "c"}, keysOf(m))
}

func TestSelectionSurvivesRefreshAndFilter(t *testing.T) {
	m := podTable(t)
	require.True(t, m.SelectKey("db-0"))
	// a refresh reorders and adds rows: the selection follows the key
	m.SetRows(append([]Row{{Key: "new", Cells: []string{"new", "Pending", "0"}}}, m.Rows()...))
	r, ok := m.Selected()
	require.True(t, ok)
	require.Equal(t, "db-0", r.Key)
	require.NoError(t, m.SetFilter("running"))
	r, _ = m.Selected()
	require.Equal(t, "db-0", r.Key, "still shown, still selected")
	require.NoError(t, m.SetFilter("crash"))
	r, _ = m.Selected()
	require.Equal(t, "web-2", r.Key, "hidden: the cursor goes to the first shown row")
	require.Equal(t, "1/1 of 5", m.Position())
}

func press(k string) tea.KeyPressMsg {
	switch k {
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	}
	return tea.KeyPressMsg{Code: rune(k[0]), Text: k}
}

func TestNavigation(t *testing.T) {
	m := New([]Column{{Title: "N", Numeric: true}}, theme.Plain(), keys.Default())
	var rows []Row
	for i := range 100 {
		rows = append(rows, Row{Key: fmt.Sprint(i), Cells: []string{fmt.Sprint(i)}})
	}
	m.SetRows(rows)
	m.SetSize(20, 11) // 10 body rows
	steps := []struct {
		key    string
		cursor int
		first  string
	}{
		{"j", 1, "0"}, {"down", 2, "0"}, {"k", 1, "0"}, {"up", 0, "0"}, {"up", 0, "0"},
		{"pgdown", 10, "1"}, {"G", 99, "90"}, {"j", 99, "90"}, {"g", 0, "0"},
	}
	for _, s := range steps {
		var ok bool
		m, ok = m.Update(press(s.key))
		require.True(t, ok, s.key)
		require.Equal(t, s.cursor, m.Cursor(), "after %s", s.key)
		first := strings.TrimSpace(ansi.Strip(strings.Split(m.View(), "\n")[1]))
		require.Equal(t, s.first, first, "first visible row after %s", s.key)
	}
	m, ok := m.Update(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	require.True(t, ok)
	require.Equal(t, 3, m.Cursor())
	_, ok = m.Update(press("z"))
	require.False(t, ok, "unbound keys are not used")
}

func TestViewFitsWidthWithWideRunes(t *testing.T) {
	m := New([]Column{{Title: "NAME"}, {Title: "NOTE", Flex: true}}, theme.New(true), keys.Default())
	m.SetRows([]Row{
		{Key: "1", Cells: []string{"日本語の名前", "emoji 🔥 and a very long note that cannot fit in the terminal width at all"}},
		{Key: "2", Cells: []string{"plain", "x"}, Tone: Danger},
	})
	for _, w := range []int{20, 40, 80, 120} {
		m.SetSize(w, 5)
		lines := strings.Split(m.View(), "\n")
		require.Len(t, lines, 5)
		for i, l := range lines {
			require.Equal(t, w, lipgloss.Width(l), "width %d line %d: %q", w, i, ansi.Strip(l))
		}
	}
}

func TestEmptyAndNoMatch(t *testing.T) {
	m := New([]Column{{Title: "A"}}, theme.Plain(), keys.Default())
	m.Empty = "nothing here yet"
	m.SetSize(60, 3)
	require.Contains(t, ansi.Strip(m.View()), "nothing here yet")
	m.SetRows([]Row{{Key: "x", Cells: []string{"x"}}})
	require.NoError(t, m.SetFilter("zzz"))
	require.Contains(t, ansi.Strip(m.View()), `no rows match the filter "zzz" (1 hidden)`)
	_, ok := m.Selected()
	require.False(t, ok)
}

// TestHostileCellsReachNoTerminal: a cell holding escape sequences (a process or file name from
// a hostile workload, an event message) is shown escaped: the frame has no escape sequence but
// the table's own styling (SGR), and the filter still finds the row by what is shown.
func TestHostileCellsReachNoTerminal(t *testing.T) {
	m := New([]Column{{Title: "NAME", Flex: true}, {Title: "STATUS"}}, theme.Plain(), keys.Default())
	m.SetRows([]Row{
		{Key: "a", Cells: []string{"clear\x1b[2J\x1b[H", "Running"}},
		{Key: "b", Cells: []string{"title\x1b]0;owned\x07", "osc52\x1b]52;c;ZXZpbA==\x1b\\"}},
		{Key: "c", Cells: []string{"fake\nline", "c1\u009b31m"}},
	})
	m.SetSize(80, 8)
	v := m.View()
	for _, bad := range []string{"\x1b]", "\x1b[2J", "\x1b[H", "\x07", "\x1b\\", "\u009b", "fake\n"} {
		require.NotContains(t, v, bad)
	}
	require.Regexp(t, `^(\x1b\[[0-9;]*m|[^\x1b])*$`, v, "every escape left is the table's own SGR styling")
	require.Contains(t, v, `clear\x1b[2J\x1b[H`)
	require.Contains(t, v, `title\x1b]0;owned\a`)
	require.Contains(t, v, `fake\nline`)
	require.Len(t, strings.Split(v, "\n"), 8, "a newline in a cell does not add a line")
	require.NoError(t, m.SetFilter("owned"))
	require.Equal(t, []string{"b"}, keysOf(m))
}

// Package table is the workbench's reusable table: rows of strings with a filter (regex, "!"
// to invert, "-l k=v" label selectors), a sort column, a selection that survives refreshes
// (rows are identified by Key) and a scrolling window. Widths are measured with
// lipgloss.Width, never len, so wide runes and ANSI sequences line up.
//
// Every cell goes through forensics.Printable: cells show names from checkpoints and the
// cluster, and a hostile one must not reach the terminal as an escape sequence.
//
// It must not import any podsleuth package besides tui/keys, tui/theme and forensics (for
// Printable).
package table

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// Column describes one column.
type Column struct {
	Title string
	// Min and Max bound the width; Max 0 means no bound.
	Min, Max int
	// Right aligns the cells to the right (numbers).
	Right bool
	// Numeric sorts by the number the sort key starts with.
	Numeric bool
	// Flex columns take the width left over (the first flex column gets it all).
	Flex bool
	// Key columns keep their content (addresses with ports, values, PIDs): when the table is
	// too narrow they are the last to shrink.
	Key bool
	// Drop is the column's priority to go at narrow widths (like k9s): columns with the highest
	// Drop are hidden first; 0 never hides. Columns with no content at all go before any.
	Drop int
}

// Tone is a row's semantic colour.
type Tone int

// Tones.
const (
	Normal Tone = iota
	Muted
	Warn
	Danger
	Good
	// Heading is a section title in a one-column detail list.
	Heading
)

// Row is one row. Key identifies it across refreshes; Keys, when set, are the sort keys of the
// cells (e.g. seconds for an age column shown as "5m").
type Row struct {
	Key    string
	Cells  []string
	Keys   []string
	Labels map[string]string
	Tone   Tone
}

// ErrBadFilter is wrapped by every filter syntax error.
var ErrBadFilter = errors.New("bad filter")

// Model is the table's state.
type Model struct {
	cols     []Column
	rows     []Row
	hay      []string // per row: the cells joined by tabs, for the filter
	natural  []int    // per column: widest cell over all rows (capped by Max)
	filled   []bool   // per column: some row has content in it
	order    []int    // rows sorted by the sort column
	view     []int    // order filtered
	cursor   int      // index into view
	offset   int      // first visible index into view
	width    int
	height   int
	filter   string
	sortCol  int
	sortDesc bool
	th       theme.Theme
	km       keys.Map
	// Empty is shown when there are no rows at all.
	Empty string
	// Presorted keeps the rows in the order given while a sort column is set: the owner sorts
	// them (the process tree sorts siblings) and the header still shows the arrow.
	Presorted bool
}

// New returns an empty table.
func New(cols []Column, th theme.Theme, km keys.Map) Model {
	return Model{cols: cols, th: th, km: km, sortCol: -1, natural: make([]int, len(cols)), filled: make([]bool, len(cols))}
}

// Columns returns the columns.
func (m Model) Columns() []Column { return m.cols }

// SetColumns replaces the columns (the same number: the rows keep their cells).
func (m *Model) SetColumns(cols []Column) {
	if len(cols) == len(m.cols) {
		m.cols = cols
	}
}

// SetTheme replaces the styles.
func (m *Model) SetTheme(th theme.Theme) { m.th = th }

// SetSize sets the table's outer size: one header line plus height-1 rows.
func (m *Model) SetSize(w, h int) {
	m.width, m.height = w, h
	m.clamp()
}

// SetRows replaces the rows, keeping the selection on the same Key when it is still there.
func (m *Model) SetRows(rows []Row) {
	sel, hadSel := m.Selected()
	for i := range rows {
		rows[i].Cells = printableCells(rows[i].Cells)
	}
	m.rows = rows
	m.hay = make([]string, len(rows))
	for i := range m.natural {
		m.natural[i] = lipgloss.Width(m.cols[i].Title)
		if m.cols[i].Min > m.natural[i] {
			m.natural[i] = m.cols[i].Min
		}
		m.filled[i] = false
	}
	for i, r := range rows {
		m.hay[i] = strings.Join(r.Cells, "\t")
		for c := 0; c < len(m.cols) && c < len(r.Cells); c++ {
			w := cellWidth(r.Cells[c])
			if w > m.natural[c] {
				m.natural[c] = w
			}
			if w > 0 {
				m.filled[c] = true
			}
		}
	}
	for c, col := range m.cols {
		if col.Max > 0 && m.natural[c] > col.Max {
			m.natural[c] = col.Max
		}
	}
	m.resort()
	m.refilter()
	if hadSel {
		m.SelectKey(sel.Key)
	}
	m.clamp()
}

// printableCells returns cells made terminal-safe, the same slice when nothing changes.
func printableCells(cells []string) []string {
	var out []string
	for i, c := range cells {
		if p := forensics.Printable(c); p != c {
			if out == nil {
				out = append([]string(nil), cells...)
			}
			out[i] = p
		}
	}
	if out == nil {
		return cells
	}
	return out
}

// cellWidth is lipgloss.Width with a fast path for ASCII.
func cellWidth(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] < 0x20 {
			return lipgloss.Width(s)
		}
	}
	return len(s)
}

// Rows returns all rows (unfiltered, in the order given).
func (m Model) Rows() []Row { return m.rows }

// Len is the number of rows shown (after the filter); Total the number of rows.
func (m Model) Len() int   { return len(m.view) }
func (m Model) Total() int { return len(m.rows) }

// Filter returns the current filter text.
func (m Model) Filter() string { return m.filter }

// Cursor is the selected index among the shown rows.
func (m Model) Cursor() int { return m.cursor }

// Sort returns the sort column (-1: as given) and direction.
func (m Model) Sort() (int, bool) { return m.sortCol, m.sortDesc }

// Selected returns the selected row.
func (m Model) Selected() (Row, bool) {
	if m.cursor < 0 || m.cursor >= len(m.view) {
		return Row{}, false
	}
	return m.rows[m.view[m.cursor]], true
}

// SelectKey moves the cursor to the row with the key, if shown.
func (m *Model) SelectKey(k string) bool {
	for i, ri := range m.view {
		if m.rows[ri].Key == k {
			m.cursor = i
			m.clamp()
			return true
		}
	}
	return false
}

// SetCursor moves the cursor to index i of the shown rows.
func (m *Model) SetCursor(i int) {
	m.cursor = i
	m.clamp()
}

// SetFilter applies a filter. A bad filter is an error naming the problem and leaves the
// previous filter in place.
func (m *Model) SetFilter(q string) error {
	if _, err := parseFilter(q); err != nil {
		return err
	}
	sel, hadSel := m.Selected()
	m.filter = q
	m.refilter()
	if !hadSel || !m.SelectKey(sel.Key) {
		m.cursor = 0
	}
	m.clamp()
	return nil
}

func (m *Model) refilter() {
	f, err := parseFilter(m.filter)
	if err != nil {
		f = matcher{}
	}
	m.view = m.view[:0]
	if f.re == nil && f.labels == nil {
		m.view = append(m.view, m.order...)
		return
	}
	for _, ri := range m.order {
		if f.match(m.hay[ri], m.rows[ri].Labels) {
			m.view = append(m.view, ri)
		}
	}
}

// SortBy sorts by column c (-1: the order rows were given in).
func (m *Model) SortBy(c int, desc bool) {
	if c >= len(m.cols) {
		c = -1
	}
	sel, hadSel := m.Selected()
	m.sortCol, m.sortDesc = c, desc
	m.resort()
	m.refilter()
	if hadSel {
		m.SelectKey(sel.Key)
	}
	m.clamp()
}

func (m Model) sortKey(ri, c int) string {
	r := m.rows[ri]
	if c < len(r.Keys) {
		return r.Keys[c]
	}
	if c < len(r.Cells) {
		return r.Cells[c]
	}
	return ""
}

// leadingNumber parses the number a sort key starts with ("12", "3/4", "0.5"); -inf-ish when none.
func leadingNumber(s string) float64 {
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.' || (end == 0 && s[end] == '-')) {
		end++
	}
	f, err := strconv.ParseFloat(s[:end], 64)
	if err != nil {
		return -1e308
	}
	return f
}

func (m *Model) resort() {
	m.order = m.order[:0]
	for i := range m.rows {
		m.order = append(m.order, i)
	}
	c := m.sortCol
	if c < 0 || m.Presorted {
		return
	}
	numeric := m.cols[c].Numeric
	var nums []float64
	if numeric {
		nums = make([]float64, len(m.rows))
		for i := range m.rows {
			nums[i] = leadingNumber(m.sortKey(i, c))
		}
	}
	slices.SortStableFunc(m.order, func(a, b int) int {
		var r int
		if numeric {
			r = cmp.Compare(nums[a], nums[b])
		} else {
			r = strings.Compare(m.sortKey(a, c), m.sortKey(b, c))
		}
		if m.sortDesc {
			r = -r
		}
		return r
	})
}

func (m *Model) bodyHeight() int {
	if m.height <= 1 {
		return 1
	}
	return m.height - 1
}

func (m *Model) clamp() {
	if m.cursor >= len(m.view) {
		m.cursor = len(m.view) - 1
	}
	if m.cursor < 0 {
		m.cursor = 0
	}
	h := m.bodyHeight()
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+h {
		m.offset = m.cursor - h + 1
	}
	if maxOff := len(m.view) - h; m.offset > maxOff {
		m.offset = max(maxOff, 0)
	}
	if m.offset < 0 {
		m.offset = 0
	}
}

// Move moves the cursor by n rows (negative: up).
func (m *Model) Move(n int) {
	m.cursor += n
	m.clamp()
}

// Update handles the navigation keys (up/down, page, top/bottom, sort) and the mouse wheel.
// handled says whether the message was used.
func (m Model) Update(msg tea.Msg) (Model, bool) {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		switch {
		case key.Matches(msg, m.km.Up):
			m.Move(-1)
		case key.Matches(msg, m.km.Down):
			m.Move(1)
		case key.Matches(msg, m.km.PageUp):
			m.Move(-m.bodyHeight())
		case key.Matches(msg, m.km.PageDown):
			m.Move(m.bodyHeight())
		case key.Matches(msg, m.km.Top):
			m.cursor = 0
			m.clamp()
		case key.Matches(msg, m.km.Bottom):
			m.cursor = len(m.view) - 1
			m.clamp()
		case key.Matches(msg, m.km.SortNext):
			next := m.sortCol + 1
			if next >= len(m.cols) {
				next = -1
			}
			m.SortBy(next, false)
		case key.Matches(msg, m.km.SortRev):
			m.SortBy(m.sortCol, !m.sortDesc)
		default:
			return m, false
		}
		return m, true
	case tea.MouseWheelMsg:
		switch msg.Button {
		case tea.MouseWheelUp:
			m.Move(-3)
		case tea.MouseWheelDown:
			m.Move(3)
		default:
			return m, false
		}
		return m, true
	}
	return m, false
}

// fit truncates or pads s to exactly w cells.
func fit(s string, w int, right bool) string {
	sw := cellWidth(s)
	if sw > w {
		s = ansi.Truncate(s, w, "…")
		sw = lipgloss.Width(s)
	}
	pad := strings.Repeat(" ", max(w-sw, 0))
	if right {
		return pad + s
	}
	return s + pad
}

// Header renders the header line, marking the sort column with ↑/↓.
func (m Model) header(ws []int) string {
	parts := make([]string, len(m.cols))
	for c, col := range m.cols {
		t := col.Title
		if c == m.sortCol {
			if m.sortDesc {
				t += "↓"
			} else {
				t += "↑"
			}
		}
		parts[c] = fit(t, max(ws[c], 0), col.Right)
	}
	return m.th.Header.Render(fit(join(parts, ws), m.width, false))
}

// View renders the header and the visible rows, exactly height lines.
func (m Model) View() string {
	ws := m.widths()
	var b strings.Builder
	b.WriteString(m.header(ws))
	h := m.bodyHeight()
	if len(m.rows) == 0 || len(m.view) == 0 {
		msg := m.Empty
		if len(m.rows) > 0 {
			msg = fmt.Sprintf("no rows match the filter %q (%d hidden)", m.filter, len(m.rows))
		}
		if msg == "" {
			msg = "nothing to show"
		}
		b.WriteString("\n" + m.th.Muted.Render(fit(msg, m.width, false)))
		for i := 1; i < h; i++ {
			b.WriteString("\n" + strings.Repeat(" ", max(m.width, 0)))
		}
		return b.String()
	}
	parts := make([]string, len(m.cols))
	for i := 0; i < h; i++ {
		b.WriteByte('\n')
		vi := m.offset + i
		if vi >= len(m.view) {
			b.WriteString(strings.Repeat(" ", max(m.width, 0)))
			continue
		}
		r := m.rows[m.view[vi]]
		for c, col := range m.cols {
			cell := ""
			if c < len(r.Cells) {
				cell = r.Cells[c]
			}
			if ws[c] < 0 {
				continue
			}
			parts[c] = fit(cell, ws[c], col.Right)
		}
		line := fit(join(parts, ws), m.width, false)
		switch {
		case vi == m.cursor:
			line = m.th.Selected.Render(line)
		case r.Tone == Muted:
			line = m.th.Muted.Render(line)
		case r.Tone == Warn:
			line = m.th.Warning.Render(line)
		case r.Tone == Danger:
			line = m.th.Danger.Render(line)
		case r.Tone == Good:
			line = m.th.OK.Render(line)
		case r.Tone == Heading:
			line = m.th.Title.Render(line)
		}
		b.WriteString(line)
	}
	return b.String()
}

// Position is "cursor/shown" with the total when filtered, for status bars.
func (m Model) Position() string {
	if len(m.view) == 0 {
		return fmt.Sprintf("0/%d", len(m.rows))
	}
	if len(m.view) != len(m.rows) {
		return fmt.Sprintf("%d/%d of %d", m.cursor+1, len(m.view), len(m.rows))
	}
	return fmt.Sprintf("%d/%d", m.cursor+1, len(m.view))
}

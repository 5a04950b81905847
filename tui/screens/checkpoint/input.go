package checkpoint

import (
	"strconv"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/tui/components/table"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
)

func (m *Model) updateWheel(msg tea.MouseWheelMsg) (*Model, tea.Cmd) {
	n := 0
	switch msg.Button {
	case tea.MouseWheelUp:
		n = -3
	case tea.MouseWheelDown:
		n = 3
	default:
		return m, nil
	}
	switch {
	case m.tab == TabSummary:
		m.summaryOff = max(min(m.summaryOff+n, len(SummaryLines(m.ld, m.th))-max(m.h-1, 1)), 0)
	case m.tab == TabMemory && m.mem.dump != nil:
		return m, m.scrollDump(n)
	case m.drill != nil:
		m.drill.tbl, _ = m.drill.tbl.Update(msg)
	case m.tab == TabProcesses && m.detailFocus:
		m.detailOff = max(min(m.detailOff+n, m.detailLen()-max(m.h-1, 1)), 0)
	default:
		m.tables[m.tab], _ = m.tables[m.tab].Update(msg)
	}
	return m, nil
}

func (m *Model) updateKey(msg tea.KeyPressMsg) (*Model, tea.Cmd) {
	km := m.km
	// esc unwinds inner state first.
	if key.Matches(msg, km.Back) {
		_, cmd := m.unwind()
		return m, cmd
	}
	// the keys the help lists are the keys that work: nothing else reaches the tabs
	if !m.handles(msg) {
		return m, nil
	}
	if key.Matches(msg, km.Copy) {
		return m, m.copySelection()
	}
	if !(m.detailFocus || m.mem.dump != nil || m.drill != nil) {
		switch {
		case key.Matches(msg, km.NextTab):
			m.tab = (m.tab + 1) % numTabs
			return m, nil
		case key.Matches(msg, km.PrevTab):
			m.tab = (m.tab + numTabs - 1) % numTabs
			return m, nil
		}
		if s := msg.String(); len(s) == 1 && s[0] >= '1' && s[0] <= '9' {
			m.tab = int(s[0] - '1')
			return m, nil
		}
	}
	if key.Matches(msg, km.Reveal) {
		m.reveal = !m.reveal
		m.tables[TabIOCs].SetRows(iocRows(m.ld.IOCs, m.reveal))
		if d := m.drill; d != nil {
			nd := m.buildDrill(d.tab, d.key)
			nd.contents, nd.readID, nd.tbl = d.contents, d.readID, d.tbl
			nd.tbl.SetColumns([]table.Column{{Title: forensics.Printable(nd.title), Flex: true}})
			m.drill = nd
			m.layoutDrill()
		}
		if m.reveal {
			return m, nav.Status("secrets revealed: r masks them again")
		}
		return m, nav.Status("secrets masked")
	}
	if m.drill != nil {
		return m.updateDrill(msg)
	}
	switch m.tab {
	case TabSummary:
		m.summaryOff = scroll(msg, km, m.summaryOff, len(SummaryLines(m.ld, m.th)), max(m.h-1, 1))
		return m, nil
	case TabProcesses:
		return m.updateProcesses(msg)
	case TabMemory:
		return m.updateMemory(msg)
	}
	if key.Matches(msg, km.Enter) {
		return m, m.openDrill()
	}
	t, _ := m.tables[m.tab].Update(msg)
	m.tables[m.tab] = t
	return m, nil
}

func (m *Model) updateProcesses(msg tea.KeyPressMsg) (*Model, tea.Cmd) {
	km := m.km
	if m.detailFocus {
		if key.Matches(msg, km.Enter) {
			m.detailFocus = false
			return m, nil
		}
		m.detailOff = scroll(msg, km, m.detailOff, m.detailLen(), max(m.h-1, 1))
		return m, nil
	}
	t := &m.tables[TabProcesses]
	pid := m.selectedProcess()
	switch {
	case key.Matches(msg, km.Enter):
		if pid != 0 {
			m.detailFocus = true
			m.detailOff = 0
		}
		return m, nil
	case m.treeOn && key.Matches(msg, km.Right):
		m.tree.setExpanded(pid, true)
	case m.treeOn && key.Matches(msg, km.Left):
		if parent := m.tree.setExpanded(pid, false); parent != 0 {
			t.SelectKey(strconv.Itoa(parent))
			return m, nil
		}
	case m.treeOn && key.Matches(msg, km.Expand):
		m.tree.setAll(true)
	case m.treeOn && key.Matches(msg, km.Collapse):
		m.tree.setAll(false)
	default:
		nt, _ := t.Update(msg)
		*t = nt
		m.refreshTree()
		return m, nil
	}
	t.SetRows(m.tree.rows(false))
	return m, nil
}

func (m *Model) updateMemory(msg tea.KeyPressMsg) (*Model, tea.Cmd) {
	km := m.km
	if d := m.mem.dump; d != nil {
		lines := m.dumpLines()
		switch {
		case key.Matches(msg, km.Down):
			return m, m.scrollDump(1)
		case key.Matches(msg, km.Up):
			return m, m.scrollDump(-1)
		case key.Matches(msg, km.PageDown):
			return m, m.scrollDump(lines)
		case key.Matches(msg, km.PageUp):
			return m, m.scrollDump(-lines)
		case key.Matches(msg, km.Top):
			return m, m.scrollDump(-int((d.top - d.hit.VMAStart) / hexLine))
		case key.Matches(msg, km.Bottom):
			return m, m.scrollDump(int((d.hit.VMAEnd - d.top) / hexLine))
		}
		return m, nil
	}
	switch {
	case msg.String() == "m":
		m.CycleSearchMode()
		return m, nav.Status("memory search mode: " + searchModes[m.mem.mode])
	case key.Matches(msg, km.Enter):
		r, ok := m.tables[TabMemory].Selected()
		if !ok || m.ld.Memory == nil {
			return m, nil
		}
		i, _ := strconv.Atoi(r.Key)
		if i < 0 || i >= len(m.mem.hits) {
			return m, nil
		}
		return m, m.openDump(m.mem.hits[i])
	}
	t, _ := m.tables[TabMemory].Update(msg)
	m.tables[TabMemory] = t
	return m, nil
}

func (m *Model) dumpLines() int { return max(m.h-4, 1) }

func (m *Model) openDump(h Hit) tea.Cmd {
	d := &hexView{hit: h}
	// put the hit on the third line
	d.top = alignDown(h.Addr, hexLine)
	d.scroll(-2, m.dumpLines())
	m.mem.dump = d
	return m.ensureDump()
}

func (m *Model) scrollDump(n int) tea.Cmd {
	d := m.mem.dump
	if d == nil {
		return nil
	}
	d.scroll(n, m.dumpLines())
	return m.ensureDump()
}

// ensureDump reads the window around the shown lines when they are not loaded yet.
func (m *Model) ensureDump() tea.Cmd {
	d := m.mem.dump
	if d.has(d.top, m.dumpLines()) {
		return nil
	}
	start, n := d.windowFor(d.top)
	d.readID++
	d.loading = true
	return readCmd(m.ld.Memory, d.readID, d.hit.PID, start, n)
}

// scroll moves the first shown line off of n lines in a view of h lines by a scrolling key,
// within the text (so the opposite key always scrolls back at once).
func scroll(msg tea.KeyPressMsg, km keys.Map, off, n, h int) int {
	page := max(h-1, 1)
	switch {
	case key.Matches(msg, km.Down):
		off++
	case key.Matches(msg, km.Up):
		off--
	case key.Matches(msg, km.PageDown):
		off += page
	case key.Matches(msg, km.PageUp):
		off -= page
	case key.Matches(msg, km.Top):
		off = 0
	case key.Matches(msg, km.Bottom):
		off = n
	}
	return max(min(off, n-h), 0)
}

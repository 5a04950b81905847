package checkpoint

import (
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// Keys lists the keys that work in the screen's current state (the tab, an open detail view,
// the process detail, the hexdump), by group. It is the one declaration of them: FullHelp and
// ShortHelp show these bindings, and updateKey handles no key outside them, so the help cannot
// promise a key that does nothing nor hide one that works (TestHelpListsOnlyWorkingKeys presses
// each listed key on the real fixtures). esc, ?, :, q are the App's and listed by it.
func (m *Model) Keys() [][]key.Binding {
	if m.loading || m.ld == nil {
		return nil
	}
	km := m.km
	var groups [][]key.Binding
	add := func(bs ...key.Binding) {
		var g []key.Binding
		for _, b := range bs {
			if b.Enabled() {
				g = append(g, b)
			}
		}
		if len(g) > 0 {
			groups = append(groups, g)
		}
	}
	copyKey := m.copyBinding()
	reveal := on(km.Reveal, m.revealMatters())
	switch {
	case m.mem.dump != nil:
		add(km.Up, km.Down, km.PageUp, km.PageDown, help(km.Top, "region start"), help(km.Bottom, "region end"))
		add(km.Search, copyKey)
		return groups
	case m.drill != nil:
		add(m.moveKeys(m.drill.tbl.Len())...)
		add(on(goTo(km), m.drill.hasJump()), km.Filter, copyKey, reveal)
		return groups
	case m.detailFocus:
		add(m.scrollKeys(m.detailLen(), max(m.h-1, 1))...)
		add(help(km.Enter, "back to the tree"), copyKey, reveal)
		return groups
	}
	tabs := key.NewBinding(key.WithKeys("1", "2", "3", "4", "5", "6", "7", "8", "9"), key.WithHelp("1-9", "jump to tab"))
	add(km.NextTab, km.PrevTab, tabs)
	switch m.tab {
	case TabSummary:
		add(m.scrollKeys(len(SummaryLines(m.ld, m.th)), max(m.h-1, 1))...)
		add(copyKey)
	case TabProcesses:
		t := m.tables[TabProcesses]
		add(m.moveKeys(t.Len())...)
		add(on(help(km.Enter, "process detail"), m.selectedProcess() != 0), km.Filter, on(km.SortNext, t.Len() > 0), on(km.SortRev, t.Len() > 0))
		add(on(km.Left, m.treeOn && t.Len() > 0), on(km.Right, m.treeOn && t.Len() > 0), on(km.Expand, m.treeOn), on(km.Collapse, m.treeOn))
		add(copyKey, reveal)
	case TabMemory:
		t := m.tables[TabMemory]
		add(m.moveKeys(t.Len())...)
		add(km.Search, modeBinding(), on(help(km.Enter, "hexdump at the hit"), t.Len() > 0 && m.ld.Memory != nil),
			on(km.SortNext, t.Len() > 0), on(km.SortRev, t.Len() > 0))
		add(copyKey)
	default:
		t := m.tables[m.tab]
		add(m.moveKeys(t.Len())...)
		add(on(help(km.Enter, "open the detail"), t.Len() > 0), km.Filter, on(km.SortNext, t.Len() > 0), on(km.SortRev, t.Len() > 0))
		add(copyKey, reveal)
	}
	return groups
}

// handles says whether msg is one of the keys Keys lists now.
func (m *Model) handles(msg tea.KeyPressMsg) bool {
	for _, g := range m.Keys() {
		for _, b := range g {
			if key.Matches(msg, b) {
				return true
			}
		}
	}
	return false
}

// on returns b enabled only when ok.
func on(b key.Binding, ok bool) key.Binding {
	b.SetEnabled(ok && b.Enabled())
	return b
}

// help returns b with another description.
func help(b key.Binding, desc string) key.Binding {
	b.SetHelp(b.Help().Key, desc)
	return b
}

// moveKeys move a table's selection: useful with two rows or more.
func (m *Model) moveKeys(rows int) []key.Binding {
	km := m.km
	ok := rows > 1
	return []key.Binding{on(km.Up, ok), on(km.Down, ok), on(km.PageUp, ok), on(km.PageDown, ok), on(km.Top, ok), on(km.Bottom, ok)}
}

// scrollKeys scroll text of n lines in h: only when it does not fit.
func (m *Model) scrollKeys(n, h int) []key.Binding {
	km := m.km
	ok := n > h
	return []key.Binding{on(km.Up, ok), on(km.Down, ok), on(km.PageUp, ok), on(km.PageDown, ok), on(km.Top, ok), on(km.Bottom, ok)}
}

// detailLen is the length of the selected process's detail.
func (m *Model) detailLen() int {
	c := m.ld.Checkpoint
	if p := c.Process(m.selectedProcess()); p != nil {
		return len(ProcessDetail(c, p, m.reveal, m.th))
	}
	return 0
}

// copyBinding is y where it copies something, described by what it copies.
func (m *Model) copyBinding() key.Binding {
	what, text := m.copyTarget()
	if text == "" {
		return on(m.km.Copy, false)
	}
	if strings.HasPrefix(what, "the detail of ") {
		what = "the detail"
	}
	what, _, _ = strings.Cut(what, " (")
	return help(m.km.Copy, "copy "+what)
}

// revealMatters says whether r changes what is shown: masked secrets in the open detail view,
// the process detail or the indicators.
func (m *Model) revealMatters() bool {
	differs := func(f func() []string) bool {
		a := f()
		m.reveal = !m.reveal
		b := f()
		m.reveal = !m.reveal
		return !slices.Equal(a, b)
	}
	switch {
	case m.mem.dump != nil:
		return false
	case m.drill != nil:
		d := m.drill
		return differs(func() []string {
			nd := m.buildDrill(d.tab, d.key)
			if nd == nil {
				return nil
			}
			nd.contents = d.contents
			return append([]string{nd.title}, lineTexts(nd.allLines())...)
		})
	case m.tab == TabProcesses:
		c := m.ld.Checkpoint
		p := c.Process(m.selectedProcess())
		return p != nil && differs(func() []string { return ProcessDetail(c, p, m.reveal, m.th) })
	case m.tab == TabIOCs && !m.detailFocus:
		return differs(func() []string {
			var out []string
			for _, r := range iocRows(m.ld.IOCs, m.reveal) {
				out = append(out, r.Cells...)
			}
			return out
		})
	}
	return false
}

func lineTexts(ls []dline) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.text
	}
	return out
}

// hasJump says whether a line of the detail view leads somewhere (enter follows it).
func (d *drill) hasJump() bool {
	for _, l := range d.allLines() {
		if l.jump != nil {
			return true
		}
	}
	return false
}

// shortKeys picks the one-line help from Keys: the few keys most used in the current state.
func (m *Model) shortKeys() []key.Binding {
	km := m.km
	var want []key.Binding
	switch {
	case m.mem.dump != nil:
		want = []key.Binding{km.Up, km.Down, km.PageDown, km.Back}
	case m.drill != nil:
		want = []key.Binding{km.Up, km.Down, km.Enter, km.Copy, km.Filter, km.Back}
	case m.detailFocus:
		want = []key.Binding{km.Up, km.Down, km.Reveal, km.Copy, km.Back}
	case m.tab == TabProcesses:
		want = []key.Binding{km.NextTab, km.Enter, km.Left, km.Right, km.Filter, km.Reveal}
	case m.tab == TabMemory:
		want = []key.Binding{km.NextTab, km.Search, modeBinding(), km.Enter}
	case m.tab == TabSummary:
		want = []key.Binding{km.NextTab, km.Down}
	default:
		want = []key.Binding{km.NextTab, km.Filter, km.SortNext}
	}
	var all []key.Binding
	for _, g := range m.Keys() {
		all = append(all, g...)
	}
	var out []key.Binding
	for _, w := range want {
		if w.Help().Key == km.Back.Help().Key {
			out = append(out, w) // the App's: esc closes the inner view
			continue
		}
		for _, b := range all {
			if slices.Equal(b.Keys(), w.Keys()) {
				out = append(out, b)
				break
			}
		}
	}
	return out
}

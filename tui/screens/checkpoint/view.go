package checkpoint

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/tui/components/frame"
)

// View renders the tab bar and the current tab.
func (m *Model) View() string {
	if m.loading {
		return m.fill([]string{"", "  decoding " + m.path + " …", "", m.th.Muted.Render("  esc cancels")})
	}
	if m.ld == nil {
		msg := "nothing loaded"
		if m.loadErr != nil {
			msg = "could not open " + m.path + ": " + m.loadErr.Error()
		}
		return m.fill([]string{"", "  " + m.th.Danger.Render(msg), "", m.th.Muted.Render("  esc goes back")})
	}
	body := max(m.h-1, 1)
	var content string
	switch {
	case m.drill != nil:
		content = m.drill.tbl.View()
	case m.tab == TabSummary:
		content = m.scrolled(SummaryLines(m.ld, m.th), m.summaryOff, body)
	case m.tab == TabProcesses:
		content = m.viewProcesses(body)
	case m.tab == TabMemory:
		content = m.viewMemory(body)
	default:
		content = m.tables[m.tab].View()
	}
	return m.tabBar() + "\n" + content
}

// ShortTabNames are the tab titles when the full ones do not fit (80 columns): still words.
var ShortTabNames = [numTabs]string{"Sum", "Procs", "Net", "Files", "Mounts", "Rootfs", "Mem", "IOCs", "Findings"}

// tabBar shows every tab with its number key: full names when they fit, short names when
// not, and a window around the current tab (‹ › say more are there) when even those do not.
func (m *Model) tabBar() string {
	render := func(names [numTabs]string) []string {
		parts := make([]string, numTabs)
		for i, n := range names {
			label := fmt.Sprintf("%d %s", i+1, n)
			if i == m.tab {
				parts[i] = m.th.TabOn.Render(label)
			} else {
				parts[i] = m.th.TabOff.Render(label)
			}
		}
		return parts
	}
	width := func(parts []string) int {
		w := 0
		for _, p := range parts {
			w += lipgloss.Width(p)
		}
		return w
	}
	parts := render(TabNames)
	if width(parts) > m.w {
		parts = render(ShortTabNames)
	}
	if width(parts) <= m.w {
		return frame.Line(strings.Join(parts, ""), m.w)
	}
	// scroll: the widest window holding the current tab, starting as far left as it can
	for start := 0; start <= m.tab; start++ {
		end := start
		w := 0
		if start > 0 {
			w = 2
		}
		for end < numTabs && w+lipgloss.Width(parts[end])+2 <= m.w {
			w += lipgloss.Width(parts[end])
			end++
		}
		if end == numTabs-1 && w+lipgloss.Width(parts[end]) <= m.w {
			end++
		}
		if end > m.tab {
			line := strings.Join(parts[start:end], "")
			if start > 0 {
				line = m.th.Muted.Render("‹ ") + line
			}
			if end < numTabs {
				line += m.th.Muted.Render(" ›")
			}
			return frame.Line(line, m.w)
		}
	}
	return frame.Line(parts[m.tab], m.w)
}

// fill renders lines as exactly h lines of width w.
func (m *Model) fill(lines []string) string {
	return m.scrolled(lines, 0, m.h)
}

func (m *Model) scrolled(lines []string, off, h int) string {
	if h <= 0 {
		return ""
	}
	off = max(min(off, len(lines)-h), 0)
	return frame.Lines(lines[off:], m.w, h)
}

func (m *Model) viewProcesses(body int) string {
	pid := m.selectedProcess()
	var detail []string
	if p := m.ld.Checkpoint.Process(pid); p != nil {
		detail = ProcessDetail(m.ld.Checkpoint, p, m.reveal, m.th)
	}
	if m.detailFocus {
		return m.scrolled(detail, m.detailOff, body)
	}
	tree := m.tables[TabProcesses].View()
	if m.split() {
		dw := m.w - m.treeWidth() - 1
		dm := *m
		dm.w = dw
		right := dm.scrolled(detail, 0, body)
		sep := strings.TrimSuffix(strings.Repeat(m.th.Border.Render("│")+"\n", body), "\n")
		return lipgloss.JoinHorizontal(lipgloss.Top, tree, sep, right)
	}
	rest := body - max(body/2, 3)
	return tree + "\n" + m.scrolled(append([]string{m.th.Border.Render(strings.Repeat("─", m.w))}, detail...), 0, rest)
}

func (m *Model) viewMemory(body int) string {
	mode := searchModes[m.mem.mode]
	var head string
	switch {
	case m.ld.Memory == nil:
		head = m.th.Warning.Render(m.tables[TabMemory].Empty)
	case m.mem.running:
		p := m.mem.progress
		pct := ""
		if p.Total > 0 {
			pct = fmt.Sprintf(" %d%% (%s of %s)", p.Done*100/p.Total, forensics.HumanBytes(p.Done), forensics.HumanBytes(p.Total))
		}
		if p.Hits > 0 {
			pct += " " + plural(p.Hits, "hit", "hits") + " so far"
		}
		head = fmt.Sprintf("searching %s %q…%s  esc cancels", m.mem.lastMode, m.mem.query, pct)
	case m.mem.searched:
		head = fmt.Sprintf("%s for %s %q  / new search  m mode (%s)  enter hexdump", plural(len(m.mem.hits), "hit", "hits"), m.mem.lastMode, m.mem.query, mode)
	default:
		head = fmt.Sprintf("/ search dumped memory  m mode (%s)", mode)
	}
	if d := m.mem.dump; d != nil {
		h := d.hit
		title := fmt.Sprintf("pid %d (%s) %s %012x-%012x  hit at %012x (+0x%x)", h.PID, h.Comm, h.Region, h.VMAStart, h.VMAEnd, h.Addr, h.Addr-h.VMAStart)
		lines := []string{m.th.Title.Render(title), m.th.Muted.Render("j/k scroll  pgup/pgdn page  g/G region start/end  esc back to hits")}
		switch {
		case d.err != nil:
			lines = append(lines, m.th.Danger.Render("read failed: "+d.err.Error()))
		case d.data == nil:
			lines = append(lines, "reading…")
		default:
			lines = append(lines, HexdumpLines(d.base, d.data, d.present, d.top, m.dumpLines(), h, m.th)...)
		}
		return m.scrolled(lines, 0, body)
	}
	return frame.Line(head, m.w) + "\n" + frame.Line("", m.w) + "\n" + m.tables[TabMemory].View()
}

// ShortHelp is the one-line help of the current tab (a choice from Keys).
func (m *Model) ShortHelp() []key.Binding {
	if m.mem.dump != nil || m.drill != nil || m.detailFocus {
		return m.shortKeys()
	}
	return append(m.shortKeys(), m.km.Help)
}

func modeBinding() key.Binding {
	return key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "search mode"))
}

// FullHelp lists the keys that work now, by group (Keys).
func (m *Model) FullHelp() [][]key.Binding { return m.Keys() }

// Position is the selection position for the status bar.
func (m *Model) Position() string {
	if m.drill != nil {
		return m.drill.tbl.Position()
	}
	if m.ld == nil || m.tab == TabSummary {
		return ""
	}
	return m.tables[m.tab].Position()
}

// Crumbs are the tab and the open detail view, for the App's breadcrumbs.
func (m *Model) Crumbs() []string {
	if m.ld == nil {
		return nil
	}
	out := []string{TabNames[m.tab]}
	if m.drill != nil {
		out = append(out, ansi.Truncate(m.drill.title, 40, "…"))
	}
	return out
}

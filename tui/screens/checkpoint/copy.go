package checkpoint

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
)

// goTo is enter in a detail view: it follows the line to where it points.
func goTo(km keys.Map) key.Binding {
	b := km.Enter
	b.SetHelp(b.Help().Key, "go to")
	return b
}

// CopiedMsg is what y put on the clipboard; What names it for the status line.
type CopiedMsg struct {
	What string
	Text string
}

// copyCmd sets the clipboard (OSC 52: the terminal, tmux with set-clipboard on, or an SSH
// client's terminal takes it) and says what was copied.
func copyCmd(what, text string) tea.Cmd {
	preview := forensics.Printable(strings.ReplaceAll(text, "\n", " "))
	if ansi.StringWidth(preview) > 48 {
		preview = ansi.Truncate(preview, 48, "…")
	}
	return tea.Batch(tea.SetClipboard(text), nav.Status(fmt.Sprintf("copied %s (%s): %s", what, plural(len(text), "byte", "bytes"), preview)))
}

// copySelection copies the open detail view, the process detail, or the selected row's value.
func (m *Model) copySelection() tea.Cmd {
	what, text := m.copyTarget()
	if text == "" {
		return nav.Status("nothing to copy here")
	}
	return copyCmd(what, text)
}

// copyTarget is what y copies now and its name; "" when there is nothing to copy.
func (m *Model) copyTarget() (what, text string) {
	c := m.ld.Checkpoint
	switch {
	case m.drill != nil:
		return "the detail of " + m.drill.title, strings.Join(m.DrillLines(), "\n") + "\n"
	case m.mem.dump != nil:
		return "the address", fmt.Sprintf("0x%x", m.mem.dump.hit.Addr)
	case m.tab == TabSummary:
		return "the summary", ansi.Strip(strings.Join(SummaryLines(m.ld, m.th), "\n")) + "\n"
	case m.tab == TabProcesses && m.detailFocus:
		if p := c.Process(m.selectedProcess()); p != nil {
			return fmt.Sprintf("the detail of pid %d", p.PID), ansi.Strip(strings.Join(ProcessDetail(c, p, m.reveal, m.th), "\n")) + "\n"
		}
		return "", ""
	}
	r, ok := m.tables[m.tab].Selected()
	if !ok {
		return "", ""
	}
	return m.rowValue(m.tab, r.Key, r.Cells)
}

// rowValue is the value y copies from a row: the one a responder pastes elsewhere.
func (m *Model) rowValue(tab int, k string, cells []string) (what, v string) {
	c := m.ld.Checkpoint
	cell := func(i int) string {
		if i < len(cells) {
			return cells[i]
		}
		return ""
	}
	switch tab {
	case TabProcesses:
		if p := c.Process(m.selectedProcess()); p != nil {
			if len(p.Cmdline) > 0 {
				return "the command line", quoteArgs(p.Cmdline)
			}
			return "the executable", p.Exe
		}
	case TabNetwork:
		if r := cell(5); r != "" && !strings.HasPrefix(r, "peer ino") {
			return "the remote end", r
		}
		return "the local end", cell(4)
	case TabFiles:
		return "the path", cell(4)
	case TabMounts:
		return "the mountpoint", cell(2)
	case TabRootfs:
		_, p, _ := strings.Cut(k, ":")
		return "the path", p
	case TabIOCs:
		for _, i := range m.ld.IOCs {
			if i.Type+"\x00"+i.SHA256 == k {
				if i.Secret && !m.reveal && !i.Redacted {
					return "the redacted value (r reveals the secret)", m.iocValue(i)
				}
				return "the value", i.Value
			}
		}
	case TabFindings:
		return "the finding", cell(0) + " " + cell(1) + ": " + cell(2) + " — " + cell(3)
	case TabMemory:
		return "the address", cell(2)
	}
	return "", ""
}

// plural is "1 socket", "2 sockets".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

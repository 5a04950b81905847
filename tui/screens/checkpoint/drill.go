package checkpoint

import (
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/content"
	"github.com/podsleuth/podsleuth/tui/components/table"
	"github.com/podsleuth/podsleuth/tui/nav"
)

// maxContentView bounds what a detail view reads of one saved content (the CLI's files cat
// and files extract give the rest).
const maxContentView = 64 << 10

// jump is where enter on a detail line goes: a row of a tab, or the hexdump at a hit.
type jump struct {
	tab int
	key string
	hit *Hit
}

// dline is one logical line of a detail view (wrapped into rows at the view's width).
type dline struct {
	text string
	tone table.Tone
	jump *jump
}

// contentView is one saved content shown in a detail view, read in a Cmd.
type contentView struct {
	obj     *content.Object
	label   string // "recv queue", "content"
	loading bool
	data    []byte
	err     error
}

// drill is the detail view of one row: enter on a row of Files, Network, Mounts, Rootfs, IOCs
// or Findings opens it, esc closes it on the same row.
type drill struct {
	tab      int
	key      string
	title    string
	lines    []dline
	contents []*contentView
	readID   int
	tbl      table.Model
}

// ContentReadMsg is the result of reading a saved content for a detail view; ID echoes the
// request so a reply for a closed view is dropped.
type ContentReadMsg struct {
	ID    int
	Index int
	Data  []byte
	Err   error
}

// readContentCmd reads the first maxContentView bytes of o.
func readContentCmd(id, index int, o *content.Object) tea.Cmd {
	return func() tea.Msg {
		r := o.Reader()
		if r == nil {
			return ContentReadMsg{ID: id, Index: index, Err: fmt.Errorf("%s: not saved in this checkpoint", o.ID)}
		}
		b := make([]byte, min(o.Size, maxContentView))
		n, err := r.ReadAt(b, 0)
		if err == io.EOF {
			err = nil
		}
		return ContentReadMsg{ID: id, Index: index, Data: b[:n], Err: err}
	}
}

// DrillOpen says whether a row's detail view is open.
func (m *Model) DrillOpen() bool { return m.drill != nil }

// DrillLines returns the open detail view as plain text lines (tests, copy).
func (m *Model) DrillLines() []string {
	if m.drill == nil {
		return nil
	}
	out := []string{m.drill.title}
	for _, l := range m.drill.allLines() {
		out = append(out, l.text)
	}
	return out
}

// openDrill opens the detail view of the selected row of the current tab.
func (m *Model) openDrill() tea.Cmd {
	r, ok := m.tables[m.tab].Selected()
	if !ok {
		return nil
	}
	d := m.buildDrill(m.tab, r.Key)
	if d == nil {
		return nil
	}
	m.readSeq++
	d.readID = m.readSeq
	m.drill = d
	m.layoutDrill()
	var cmds []tea.Cmd
	for i, cv := range d.contents {
		if cv.obj.Saved && cv.obj.Size > 0 {
			cv.loading = true
			cmds = append(cmds, readContentCmd(d.readID, i, cv.obj))
		}
	}
	return tea.Batch(cmds...)
}

func (m *Model) buildDrill(tab int, key string) *drill {
	c := m.ld.Checkpoint
	d := &drill{tab: tab, key: key}
	switch tab {
	case TabFiles:
		d.title, d.lines, d.contents = m.fdDetail(key)
	case TabNetwork:
		d.title, d.lines, d.contents = m.socketDetail(key)
	case TabMounts:
		d.title, d.lines = mountDetail(c, key)
	case TabRootfs:
		d.title, d.lines, d.contents = m.rootfsDetail(key)
	case TabIOCs:
		d.title, d.lines = m.iocDetail(key)
	case TabFindings:
		d.title, d.lines = m.findingDetail(key)
	default:
		return nil
	}
	if d.title == "" {
		return nil
	}
	d.tbl = table.New([]table.Column{{Title: forensics.Printable(d.title), Flex: true}}, m.th, m.km)
	return d
}

// allLines are the detail lines followed by the contents (read or being read).
func (d *drill) allLines() []dline {
	out := append([]dline(nil), d.lines...)
	for _, cv := range d.contents {
		out = append(out, contentLines(cv)...)
	}
	return out
}

// contentLines renders one saved content: text line by line (terminal-safe) or a hexdump.
func contentLines(cv *contentView) []dline {
	o := cv.obj
	head := fmt.Sprintf("%s: %s, %s", capitalize(cv.label), o.ID, forensics.HumanBytes(o.Size))
	if o.Source != "" {
		head += " from " + o.Source
	}
	out := []dline{{}, {text: head, tone: table.Heading}}
	switch {
	case !o.Saved:
		return append(out, dline{text: "  not saved in this checkpoint: " + o.Note, tone: table.Muted})
	case o.Size == 0:
		return append(out, dline{text: "  (empty)", tone: table.Muted})
	case cv.err != nil:
		return append(out, dline{text: "  read failed: " + cv.err.Error(), tone: table.Danger})
	case cv.loading:
		return append(out, dline{text: "  reading…", tone: table.Muted})
	}
	if o.Note != "" {
		out = append(out, dline{text: "  " + o.Note, tone: table.Warn})
	}
	if what, ok := content.Magic(cv.data); ok {
		out = append(out, dline{text: "  starts like an executable: " + what, tone: table.Danger})
	}
	if content.LooksText(cv.data) {
		for _, l := range strings.Split(strings.TrimSuffix(string(cv.data), "\n"), "\n") {
			out = append(out, dline{text: "  " + strings.ReplaceAll(strings.TrimSuffix(l, "\r"), "\t", "    ")})
		}
	} else {
		for _, l := range strings.Split(strings.TrimSuffix(hex.Dump(cv.data), "\n"), "\n") {
			out = append(out, dline{text: "  " + l})
		}
	}
	if int64(len(cv.data)) < o.Size {
		out = append(out, dline{text: fmt.Sprintf("  … %s of %s shown: podsleuth files cat|extract CHECKPOINT %s", forensics.HumanBytes(int64(len(cv.data))), forensics.HumanBytes(o.Size), o.ID), tone: table.Muted})
	}
	return out
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// layoutDrill wraps the lines into rows at the view's width, keeping the selected line.
func (m *Model) layoutDrill() {
	d := m.drill
	if d == nil {
		return
	}
	body := max(m.h-1, 1)
	w := max(m.w, 1)
	d.tbl.SetSize(w, body)
	var rows []table.Row
	for i, l := range d.allLines() {
		text := forensics.Printable(l.text)
		if l.jump != nil {
			// the arrow says enter goes somewhere
			text = "→ " + strings.TrimPrefix(text, "  ")
		}
		parts := []string{text}
		if ansi.StringWidth(text) > w {
			parts = strings.Split(ansi.Wrap(text, w, ""), "\n")
		}
		for j, p := range parts {
			rows = append(rows, table.Row{Key: strconv.Itoa(i) + "." + strconv.Itoa(j), Cells: []string{p}, Tone: l.tone})
		}
	}
	d.tbl.SetRows(rows)
}

// drillLine returns the selected logical line.
func (d *drill) selectedLine() (dline, bool) {
	r, ok := d.tbl.Selected()
	if !ok {
		return dline{}, false
	}
	i, _ := strconv.Atoi(strings.SplitN(r.Key, ".", 2)[0])
	all := d.allLines()
	if i < 0 || i >= len(all) {
		return dline{}, false
	}
	return all[i], true
}

func (m *Model) updateDrill(msg tea.KeyPressMsg) (*Model, tea.Cmd) {
	d := m.drill
	if key.Matches(msg, m.km.Enter) {
		l, ok := d.selectedLine()
		if !ok || l.jump == nil {
			return m, nil
		}
		return m, m.follow(*l.jump)
	}
	d.tbl, _ = d.tbl.Update(msg)
	return m, nil
}

// retPoint is where esc returns after a jump out of a detail view.
type retPoint struct {
	tab   int
	drill *drill
}

// follow goes where a detail line points; esc comes back to the detail view.
func (m *Model) follow(j jump) tea.Cmd {
	m.back = append(m.back, retPoint{tab: m.tab, drill: m.drill})
	m.drill = nil
	if j.hit != nil {
		m.tab = TabMemory
		if m.ld.Memory == nil {
			return nav.Err(fmt.Errorf("hexdump: %w: %s", ErrNoMemory, m.tables[TabMemory].Empty), "")
		}
		return m.openDump(*j.hit)
	}
	m.tab = j.tab
	m.selectRow(j.tab, j.key)
	return nil
}

// selectRow selects the row with key on tab, clearing the tab's filter and expanding the
// process tree when that is what hides it.
func (m *Model) selectRow(tab int, k string) {
	t := &m.tables[tab]
	if t.SelectKey(k) {
		return
	}
	_ = t.SetFilter("")
	if tab == TabProcesses {
		m.refreshTree()
		m.tree.setAll(true)
		if m.treeOn {
			t.SetRows(m.tree.rows(false))
		}
	}
	t.SelectKey(k)
}

// unwind closes the innermost inner state on esc; false when there is none.
func (m *Model) unwind() (bool, tea.Cmd) {
	switch {
	case m.mem.running:
		m.mem.cancel()
		m.mem.running = false
		return true, nav.Status("search cancelled")
	case m.mem.dump != nil:
		m.mem.dump = nil
	case m.drill != nil:
		m.drill = nil
	case m.detailFocus:
		m.detailFocus = false
		m.detailOff = 0
	case len(m.back) > 0:
		r := m.back[len(m.back)-1]
		m.back = m.back[:len(m.back)-1]
		m.tab, m.drill = r.tab, r.drill
		m.layoutDrill()
	default:
		return false, nil
	}
	return true, nil
}

// Package checkpoint is the analysis screen over one decoded checkpoint, as tabs: Summary,
// Processes, Network, Files, Mounts, Rootfs, Memory, IOCs, Findings.
//
// It must not import tui (the root) or any other screen.
package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/tui/components/frame"
	"github.com/podsleuth/podsleuth/tui/components/table"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// Tab indexes.
const (
	TabSummary = iota
	TabProcesses
	TabNetwork
	TabFiles
	TabMounts
	TabRootfs
	TabMemory
	TabIOCs
	TabFindings
	numTabs
)

// TabNames are the tab titles, in order; number keys 1-9 jump to them.
var TabNames = [numTabs]string{"Summary", "Processes", "Network", "Files", "Mounts", "Rootfs", "Memory", "IOCs", "Findings"}

// Loader decodes and analyses a checkpoint; it runs inside a Cmd.
type Loader func(ctx context.Context, path string) (*Loaded, error)

// LoadedMsg is the result of loading Path.
type LoadedMsg struct {
	Path   string
	Loaded *Loaded
	Err    error
}

// LoadCmd runs the loader.
func LoadCmd(ctx context.Context, path string, load Loader) tea.Cmd {
	return func() tea.Msg {
		ld, err := load(ctx, path)
		return LoadedMsg{Path: path, Loaded: ld, Err: err}
	}
}

// Model is the checkpoint analysis screen.
type Model struct {
	path, label string
	load        Loader
	ctx         context.Context
	cancel      context.CancelFunc
	loading     bool
	loadErr     error

	ld     *Loaded
	th     theme.Theme
	km     keys.Map
	w, h   int
	tab    int
	tables [numTabs]table.Model
	tree   procTree
	treeOn bool // the Processes table shows the tree (no filter, no sort)

	detailFocus bool
	detailOff   int
	summaryOff  int
	reveal      bool
	mem         memState
}

// New returns the screen in its loading state; Init starts the load.
func New(path, label string, load Loader, th theme.Theme, km keys.Map) *Model {
	ctx, cancel := context.WithCancel(context.Background())
	m := &Model{path: path, label: label, load: load, ctx: ctx, cancel: cancel, loading: true, th: th, km: km}
	m.initTables()
	return m
}

// NewLoaded returns the screen showing ld (tests, and callers that already decoded).
func NewLoaded(ld *Loaded, th theme.Theme, km keys.Map) *Model {
	m := &Model{path: ld.Path, label: ld.Label, th: th, km: km}
	m.initTables()
	m.setLoaded(ld)
	return m
}

func (m *Model) initTables() {
	cols := [numTabs][]table.Column{
		TabProcesses: procColumns(), TabNetwork: networkColumns(), TabFiles: filesColumns(),
		TabMounts: mountsColumns(), TabRootfs: rootfsColumns(), TabMemory: hitColumns(),
		TabIOCs: iocColumns(), TabFindings: findingsColumns(),
	}
	for i, c := range cols {
		if c != nil {
			m.tables[i] = table.New(c, m.th, m.km)
		}
	}
	m.tables[TabNetwork].Empty = "no sockets in this checkpoint"
	m.tables[TabFiles].Empty = "no open files"
	m.tables[TabMounts].Empty = "no mounts recorded (bare CRIU dumps of a process in the host mount namespace have none)"
	m.tables[TabRootfs].Empty = "no root filesystem changes (bare CRIU image directories carry none)"
	m.tables[TabMemory].Empty = "press / to search memory (m: mode literal/regex/hex)"
}

func (m *Model) setLoaded(ld *Loaded) {
	m.ld = ld
	m.loading = false
	c := ld.Checkpoint
	m.tree = newProcTree(c)
	m.treeOn = true
	m.tables[TabProcesses].SetRows(m.tree.rows(false))
	m.tables[TabNetwork].SetRows(networkRows(c))
	m.tables[TabFiles].SetRows(filesRows(c))
	m.tables[TabMounts].SetRows(mountsRows(c))
	m.tables[TabRootfs].SetRows(rootfsRows(c))
	m.tables[TabIOCs].SetRows(iocRows(ld.IOCs, m.reveal))
	m.tables[TabFindings].SetRows(findingsRows(c.Findings))
	if hs := yaraHits(c.Findings); len(hs) > 0 {
		m.mem.hits = hs
		m.tables[TabMemory].SetRows(hitRows(hs))
	}
	if ld.IOCs == nil && ld.IOCNote != "" {
		m.tables[TabIOCs].Empty = ld.IOCNote
	} else {
		m.tables[TabIOCs].Empty = "no indicators found"
	}
	if len(c.Findings) == 0 && ld.FindingsNote != "" {
		m.tables[TabFindings].Empty = ld.FindingsNote
	} else {
		m.tables[TabFindings].Empty = "no findings"
	}
	if ld.Memory == nil {
		note := ld.MemoryNote
		if note == "" {
			note = "memory search is not available for this checkpoint"
		}
		m.tables[TabMemory].Empty = note
	}
	m.layout()
}

// Init starts loading.
func (m *Model) Init() tea.Cmd {
	if !m.loading {
		return nil
	}
	return LoadCmd(m.ctx, m.path, m.load)
}

// Title names the screen in the breadcrumb.
func (m *Model) Title() string {
	if m.label != "" {
		return m.label
	}
	return m.path
}

// Loaded returns what is shown (nil while loading).
func (m *Model) Loaded() *Loaded { return m.ld }

// Tab returns the current tab.
func (m *Model) Tab() int { return m.tab }

// Table returns the table of a tab (for tests and status).
func (m *Model) Table(tab int) table.Model { return m.tables[tab] }

// Revealed says whether secrets are shown.
func (m *Model) Revealed() bool { return m.reveal }

// Searching says whether a memory search is running.
func (m *Model) Searching() bool { return m.mem.running }

// Hits returns the current memory search hits.
func (m *Model) Hits() []Hit { return m.mem.hits }

// HexOpen says whether the hexdump viewer is open.
func (m *Model) HexOpen() bool { return m.mem.dump != nil }

// DetailFocused says whether the process detail has the focus.
func (m *Model) DetailFocused() bool { return m.detailFocus }

// SetTheme replaces the styles.
func (m *Model) SetTheme(th theme.Theme) {
	m.th = th
	for i := range m.tables {
		m.tables[i].SetTheme(th)
	}
}

// Close cancels the load or search and releases the archive.
func (m *Model) Close() error {
	if m.cancel != nil {
		m.cancel()
	}
	if m.mem.cancel != nil {
		m.mem.cancel()
	}
	if m.ld != nil && m.ld.Close != nil {
		return m.ld.Close()
	}
	return nil
}

// SetSize sets the screen's size.
func (m *Model) SetSize(w, h int) {
	m.w, m.h = w, h
	m.layout()
}

// split says whether the Processes tab puts the detail beside the tree.
func (m *Model) split() bool { return m.w >= 120 }

func (m *Model) layout() {
	body := max(m.h-1, 1) // tab bar
	for i := range m.tables {
		switch i {
		case TabProcesses:
			if m.split() {
				m.tables[i].SetSize(m.treeWidth(), body)
			} else {
				m.tables[i].SetSize(m.w, max(body/2, 3))
			}
		case TabMemory:
			m.tables[i].SetSize(m.w, max(body-2, 1))
		default:
			m.tables[i].SetSize(m.w, body)
		}
	}
}

func (m *Model) treeWidth() int { return m.w * 11 / 20 }

// HandlesBack says whether esc unwinds something inside the screen (a running load or
// search, the hexdump viewer, the detail focus) rather than popping it.
func (m *Model) HandlesBack() bool {
	return m.mem.running || m.mem.dump != nil || m.detailFocus
}

// FilterPrompt returns the prompt the App shows for "/": the memory search box on the Memory
// tab, the table filter elsewhere.
func (m *Model) FilterPrompt() (prefix, value string, live bool) {
	if m.tab == TabMemory {
		return fmt.Sprintf("search memory (%s, m cycles): ", searchModes[m.mem.mode]), m.mem.query, false
	}
	if m.tab == TabSummary {
		return "", "", false
	}
	return "/", m.tables[m.tab].Filter(), true
}

// ApplyFilter filters the current tab's table, or runs the memory search when final on the
// Memory tab.
func (m *Model) ApplyFilter(q string, final bool) (tea.Cmd, error) {
	if m.ld == nil {
		return nil, nil
	}
	switch m.tab {
	case TabSummary:
		return nil, nil
	case TabMemory:
		if !final {
			return nil, nil
		}
		return m.startSearch(q)
	case TabProcesses:
		if err := m.tables[TabProcesses].SetFilter(q); err != nil {
			return nil, err
		}
		m.refreshTree()
		return nil, nil
	}
	return nil, m.tables[m.tab].SetFilter(q)
}

// CycleSearchMode switches literal -> regex -> hex.
func (m *Model) CycleSearchMode() { m.mem.mode = (m.mem.mode + 1) % len(searchModes) }

// ErrNoMemory is returned when a search is asked for but no memory engine is there.
var ErrNoMemory = errors.New("memory search is not available")

func (m *Model) startSearch(q string) (tea.Cmd, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return nil, nil
	}
	if m.ld.Memory == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoMemory, m.tables[TabMemory].Empty)
	}
	mode := searchModes[m.mem.mode]
	switch mode {
	case "regex":
		if _, err := regexp.Compile(q); err != nil {
			return nil, fmt.Errorf("search: %q is not a valid regular expression: %w", q, err)
		}
	case "hex":
		if _, err := ParseHex(q); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
	}
	if m.mem.cancel != nil {
		m.mem.cancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.mem.searchID++
	m.mem.query = q
	m.mem.running = true
	m.mem.cancel = cancel
	m.mem.progress = SearchProgress{}
	m.mem.err = nil
	m.mem.dump = nil
	ch := make(chan SearchProgress, 16)
	m.mem.progCh = ch
	id := m.mem.searchID
	return tea.Batch(searchCmd(ctx, m.ld.Memory, id, Query{Text: q, Mode: mode, Max: MaxHits}, ch), waitProgressCmd(id, ch)), nil
}

// refreshTree switches the process table between the tree (no filter, no sort) and the flat
// list (filtering or sorting needs every process visible).
func (m *Model) refreshTree() {
	t := &m.tables[TabProcesses]
	col, _ := t.Sort()
	want := t.Filter() == "" && col < 0
	if want != m.treeOn {
		m.treeOn = want
		t.SetRows(m.tree.rows(!want))
	}
}

func (m *Model) selectedProcess() int {
	r, ok := m.tables[TabProcesses].Selected()
	if !ok {
		return 0
	}
	pid, _ := strconv.Atoi(r.Key)
	return pid
}

// Update handles keys and results.
func (m *Model) Update(msg tea.Msg) (*Model, tea.Cmd) {
	switch msg := msg.(type) {
	case LoadedMsg:
		if msg.Path != m.path || !m.loading {
			return m, nil
		}
		if msg.Err != nil {
			m.loading = false
			m.loadErr = msg.Err
			return m, nav.Err(fmt.Errorf("open %s: %w", m.path, msg.Err), "")
		}
		m.setLoaded(msg.Loaded)
		status := fmt.Sprintf("decoded %s: %d processes, %d sockets, %d findings", m.Title(),
			len(msg.Loaded.Checkpoint.Processes), len(msg.Loaded.Checkpoint.Sockets), len(msg.Loaded.Checkpoint.Findings))
		if msg.Loaded.Custody != "" {
			status += "; " + msg.Loaded.Custody
		}
		return m, nav.Status(status)
	case SearchProgressMsg:
		if msg.ID != m.mem.searchID || !m.mem.running {
			return m, nil
		}
		m.mem.progress = msg.Progress
		return m, waitProgressCmd(msg.ID, m.mem.progCh)
	case SearchDoneMsg:
		if msg.ID != m.mem.searchID {
			return m, nil
		}
		m.mem.running = false
		m.mem.cancel = nil
		m.mem.searched = true
		if msg.Err != nil {
			if errors.Is(msg.Err, context.Canceled) {
				return m, nav.Status("search cancelled")
			}
			m.mem.err = msg.Err
			return m, nav.Err(fmt.Errorf("search %q: %w", msg.Query.Text, msg.Err), "")
		}
		m.mem.hits = msg.Hits
		m.tables[TabMemory].SetRows(hitRows(msg.Hits))
		m.tables[TabMemory].SetCursor(0)
		if len(msg.Hits) == 0 {
			m.tables[TabMemory].Empty = fmt.Sprintf("no hits for %s %q", msg.Query.Mode, msg.Query.Text)
		}
		s := fmt.Sprintf("%d hit(s) for %s %q", len(msg.Hits), msg.Query.Mode, msg.Query.Text)
		if len(msg.Hits) >= MaxHits {
			s += fmt.Sprintf(" (stopped at %d)", MaxHits)
		}
		return m, nav.Status(s)
	case MemReadMsg:
		d := m.mem.dump
		if d == nil || msg.ID != d.readID {
			return m, nil
		}
		d.loading = false
		if msg.Err != nil {
			d.err = msg.Err
			return m, nil
		}
		d.base, d.data, d.present, d.err = msg.Addr, msg.Data, msg.Present, nil
		return m, nil
	case tea.KeyPressMsg:
		if m.loading || m.ld == nil {
			return m, nil
		}
		return m.updateKey(msg)
	case tea.MouseWheelMsg:
		if m.ld == nil {
			return m, nil
		}
		return m.updateWheel(msg)
	}
	return m, nil
}

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
		m.summaryOff = max(m.summaryOff+n, 0)
	case m.tab == TabMemory && m.mem.dump != nil:
		return m, m.scrollDump(n)
	case m.tab == TabProcesses && m.detailFocus:
		m.detailOff = max(m.detailOff+n, 0)
	default:
		m.tables[m.tab], _ = m.tables[m.tab].Update(msg)
	}
	return m, nil
}

func (m *Model) updateKey(msg tea.KeyPressMsg) (*Model, tea.Cmd) {
	km := m.km
	// esc unwinds inner state first.
	if key.Matches(msg, km.Back) {
		switch {
		case m.mem.running:
			m.mem.cancel()
			m.mem.running = false
			return m, nav.Status("search cancelled")
		case m.mem.dump != nil:
			m.mem.dump = nil
		case m.detailFocus:
			m.detailFocus = false
			m.detailOff = 0
		}
		return m, nil
	}
	if !(m.detailFocus || m.mem.dump != nil) {
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
		if m.reveal {
			return m, nav.Status("secrets revealed: r masks them again")
		}
		return m, nav.Status("secrets masked")
	}
	switch m.tab {
	case TabSummary:
		switch {
		case key.Matches(msg, km.Down):
			m.summaryOff++
		case key.Matches(msg, km.Up):
			m.summaryOff = max(m.summaryOff-1, 0)
		case key.Matches(msg, km.PageDown):
			m.summaryOff += max(m.h-2, 1)
		case key.Matches(msg, km.PageUp):
			m.summaryOff = max(m.summaryOff-max(m.h-2, 1), 0)
		case key.Matches(msg, km.Top):
			m.summaryOff = 0
		}
		return m, nil
	case TabProcesses:
		return m.updateProcesses(msg)
	case TabMemory:
		return m.updateMemory(msg)
	}
	t, _ := m.tables[m.tab].Update(msg)
	m.tables[m.tab] = t
	return m, nil
}

func (m *Model) updateProcesses(msg tea.KeyPressMsg) (*Model, tea.Cmd) {
	km := m.km
	if m.detailFocus {
		switch {
		case key.Matches(msg, km.Down):
			m.detailOff++
		case key.Matches(msg, km.Up):
			m.detailOff = max(m.detailOff-1, 0)
		case key.Matches(msg, km.PageDown):
			m.detailOff += max(m.h-3, 1)
		case key.Matches(msg, km.PageUp):
			m.detailOff = max(m.detailOff-max(m.h-3, 1), 0)
		case key.Matches(msg, km.Top):
			m.detailOff = 0
		case key.Matches(msg, km.Enter):
			m.detailFocus = false
		}
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
	switch m.tab {
	case TabSummary:
		content = m.scrolled(SummaryLines(m.ld, m.th), m.summaryOff, body)
	case TabProcesses:
		content = m.viewProcesses(body)
	case TabMemory:
		content = m.viewMemory(body)
	default:
		content = m.tables[m.tab].View()
	}
	return m.tabBar() + "\n" + content
}

func (m *Model) tabBar() string {
	var parts []string
	for i, n := range TabNames {
		label := fmt.Sprintf("%d %s", i+1, n)
		if m.w < 100 {
			label = fmt.Sprintf("%d%s", i+1, n[:min(len(n), 4)])
		}
		if i == m.tab {
			parts = append(parts, m.th.TabOn.Render(label))
		} else {
			parts = append(parts, m.th.TabOff.Render(label))
		}
	}
	return frame.Line(strings.Join(parts, ""), m.w)
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
			pct += fmt.Sprintf(" %d hit(s) so far", p.Hits)
		}
		head = fmt.Sprintf("searching %s %q…%s  esc cancels", mode, m.mem.query, pct)
	case m.mem.searched:
		head = fmt.Sprintf("%d hit(s) for %s %q  / new search  m mode (%s)  enter hexdump", len(m.mem.hits), mode, m.mem.query, mode)
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

// ShortHelp is the one-line help of the current tab.
func (m *Model) ShortHelp() []key.Binding {
	km := m.km
	switch {
	case m.mem.dump != nil:
		return []key.Binding{km.Up, km.Down, km.PageDown, km.Back}
	case m.detailFocus:
		return []key.Binding{km.Up, km.Down, km.Reveal, km.Back}
	}
	b := []key.Binding{km.NextTab}
	switch m.tab {
	case TabProcesses:
		b = append(b, km.Enter, km.Left, km.Right, km.Filter, km.Reveal)
	case TabMemory:
		b = append(b, km.Search, modeBinding(), km.Enter)
	case TabSummary:
		b = append(b, km.Down)
	default:
		b = append(b, km.Filter, km.SortNext)
	}
	return append(b, km.Help)
}

func modeBinding() key.Binding {
	return key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "search mode"))
}

// FullHelp lists every key of the screen, by group.
func (m *Model) FullHelp() [][]key.Binding {
	km := m.km
	tabs := key.NewBinding(key.WithKeys("1", "2", "3", "4", "5", "6", "7", "8", "9"), key.WithHelp("1-9", "jump to tab"))
	return [][]key.Binding{
		{km.NextTab, km.PrevTab, tabs, km.Back},
		{km.Up, km.Down, km.PageUp, km.PageDown, km.Top, km.Bottom},
		{km.Filter, km.SortNext, km.SortRev, km.Reveal},
		{km.Enter, km.Left, km.Right, km.Expand, km.Collapse},
		{km.Search, modeBinding()},
	}
}

// Position is the selection position for the status bar.
func (m *Model) Position() string {
	if m.ld == nil || m.tab == TabSummary {
		return ""
	}
	return m.tables[m.tab].Position()
}

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

	tea "charm.land/bubbletea/v2"

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

// Source is what to open: a checkpoint archive or image directory, and the container's base
// image its rootfs changes are told apart by (as --rootfs of the CLI: "" when none was given).
type Source struct {
	Path   string
	Rootfs string
}

// Loader decodes and analyses a checkpoint; it runs inside a Cmd.
type Loader func(ctx context.Context, src Source) (*Loaded, error)

// LoadedMsg is the result of loading Path.
type LoadedMsg struct {
	Path   string
	Loaded *Loaded
	Err    error
}

// LoadCmd runs the loader.
func LoadCmd(ctx context.Context, src Source, load Loader) tea.Cmd {
	return func() tea.Msg {
		ld, err := load(ctx, src)
		return LoadedMsg{Path: src.Path, Loaded: ld, Err: err}
	}
}

// Model is the checkpoint analysis screen.
type Model struct {
	path, label string
	rootfs      string // the base image asked for (Source.Rootfs)
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
	// drill is the open detail view of a row; back the detail views left by a jump.
	drill      *drill
	back       []retPoint
	readSeq    int
	summaryOff int
	reveal     bool
	mem        memState
}

// New returns the screen in its loading state; Init starts the load.
func New(src Source, label string, load Loader, th theme.Theme, km keys.Map) *Model {
	ctx, cancel := context.WithCancel(context.Background())
	m := &Model{path: src.Path, rootfs: src.Rootfs, label: label, load: load, ctx: ctx, cancel: cancel, loading: true, th: th, km: km}
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
	m.tables[TabProcesses].Presorted = true
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
	return LoadCmd(m.ctx, Source{Path: m.path, Rootfs: m.rootfs}, m.load)
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

// Path is the archive or image directory as it was opened.
func (m *Model) Path() string { return m.path }

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
	if m.drill != nil {
		m.drill.tbl.SetTheme(th)
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
	m.layoutDrill()
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
	return m.mem.running || m.mem.dump != nil || m.detailFocus || m.drill != nil || len(m.back) > 0
}

// FilterPrompt returns the prompt the App shows for "/": the memory search box on the Memory
// tab, the table filter elsewhere.
func (m *Model) FilterPrompt() (prefix, value string, live bool) {
	if m.drill != nil {
		return "/", m.drill.tbl.Filter(), true
	}
	if m.detailFocus {
		return "", "", false
	}
	if m.tab == TabMemory {
		// a new search starts empty; ↑ brings back the earlier ones
		return fmt.Sprintf("search memory (%s, ctrl+t cycles): ", searchModes[m.mem.mode]), "", false
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
	if m.drill != nil {
		return nil, m.drill.tbl.SetFilter(q)
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
	m.mem.query, m.mem.lastMode = q, mode
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

// refreshTree switches the process table between the tree (no filter; a sort orders the
// siblings) and the flat list (filtering needs every process visible; the table sorts it).
func (m *Model) refreshTree() {
	t := &m.tables[TabProcesses]
	col, desc := t.Sort()
	want := t.Filter() == ""
	sortChanged := want && *m.tree.sort != treeSort{col: col, desc: desc}
	if want != m.treeOn || sortChanged {
		m.treeOn = want
		t.Presorted = want
		m.tree.setSort(col, desc)
		t.SortBy(col, desc)
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
			return m, nav.Err(nav.Cause("open", m.path, msg.Err), "")
		}
		m.setLoaded(msg.Loaded)
		c := msg.Loaded.Checkpoint
		status := fmt.Sprintf("decoded %s: %s, %s, %s", m.Title(), plural(len(c.Processes), "process", "processes"),
			plural(len(c.Sockets), "socket", "sockets"), plural(len(c.Findings), "finding", "findings"))
		if msg.Loaded.Custody != "" {
			status += "; " + msg.Loaded.Custody
		}
		// in order: a mismatch found before or after the load is the last word on the status line
		return m, tea.Sequence(nav.Status(status), m.mismatchErr(), m.verifyAfterLoad())
	case VerifiedMsg:
		return m, m.verified(msg)
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
		s := fmt.Sprintf("%s for %s %q", plural(len(msg.Hits), "hit", "hits"), msg.Query.Mode, msg.Query.Text)
		if len(msg.Hits) >= MaxHits {
			s += fmt.Sprintf(" (stopped at %d)", MaxHits)
		}
		return m, nav.Status(s)
	case ContentReadMsg:
		d := m.drill
		if d == nil || msg.ID != d.readID || msg.Index < 0 || msg.Index >= len(d.contents) {
			// a view left by a jump still takes its content
			for _, r := range m.back {
				if r.drill != nil && r.drill.readID == msg.ID {
					d = r.drill
				}
			}
			if d == nil || msg.ID != d.readID || msg.Index < 0 || msg.Index >= len(d.contents) {
				return m, nil
			}
		}
		cv := d.contents[msg.Index]
		cv.loading, cv.data, cv.err = false, msg.Data, msg.Err
		if d == m.drill {
			m.layoutDrill()
		}
		return m, nil
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

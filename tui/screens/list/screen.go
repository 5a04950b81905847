// Package list is a generic table screen whose rows are loaded by a Cmd: namespaces, nodes,
// contexts, and text views such as a pod's detail (one column). enter runs the screen's
// action on the selected row.
//
// It must not import tui (the root) or any other screen.
package list

import (
	"context"
	"fmt"
	"slices"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/podsleuth/podsleuth/tui/components/table"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// Loader loads the rows; it runs inside a Cmd.
type Loader func(ctx context.Context) ([]table.Row, error)

// Action is run on enter with the selected row; nil disables enter.
type Action func(table.Row) tea.Cmd

// LoadedMsg is the result of loading generation Gen of screen ID.
type LoadedMsg struct {
	ID   string
	Gen  int
	Rows []table.Row
	Err  error
}

func loadCmd(id string, gen int, l Loader) tea.Cmd {
	return func() tea.Msg {
		rows, err := l(context.Background())
		return LoadedMsg{ID: id, Gen: gen, Rows: rows, Err: err}
	}
}

// ChangedMsg says the live source of screen ID changed since generation Gen's rows.
type ChangedMsg struct {
	ID  string
	Gen int
}

func waitChangeCmd(id string, gen int, ch <-chan struct{}) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		if _, ok := <-ch; !ok {
			return nil
		}
		return ChangedMsg{ID: id, Gen: gen}
	}
}

// Extra is a further key of the screen, run on the selected row.
type Extra struct {
	Binding key.Binding
	Run     func(table.Row) tea.Cmd
	// Refused, when set, answers the keys of a disabled Binding (read-only mode: the action
	// is hidden from the help but its key says why nothing happens).
	Refused func() tea.Cmd
}

// Model is a loaded table.
type Model struct {
	// Extras are the screen's further keys (e.g. c on a pod detail's container).
	Extras []Extra
	// Changes, when set, makes the screen live: each signal on the channel it returns reloads
	// the rows (coalesced signals; a closed channel ends the updates).
	Changes func() <-chan struct{}
	// FollowTail keeps the selection on the last row when it was there before a reload (a
	// log being followed).
	FollowTail bool
	// OnClose, when set, runs when the screen is closed (e.g. to stop a stream).
	OnClose   func()
	id, title string
	load      Loader
	action    Action
	actHelp   string
	th        theme.Theme
	km        keys.Map
	tbl       table.Model
	gen       int
	wgen      int // generation of the armed change wait
	err       error
}

// New returns the screen; id must be unique among open screens (results are matched by it).
func New(id, title string, cols []table.Column, load Loader, action Action, actionHelp string, th theme.Theme, km keys.Map) *Model {
	m := &Model{id: id, title: title, load: load, action: action, actHelp: actionHelp, th: th, km: km, tbl: table.New(cols, th, km)}
	m.tbl.Empty = "loading…"
	return m
}

// Init loads the rows and, when live, waits for the next change.
func (m *Model) Init() tea.Cmd {
	m.gen++
	if m.Changes == nil {
		return loadCmd(m.id, m.gen, m.load)
	}
	m.wgen++
	return tea.Batch(loadCmd(m.id, m.gen, m.load), waitChangeCmd(m.id, m.wgen, m.Changes()))
}

// Title names the screen.
func (m *Model) Title() string { return m.title }

// Close runs OnClose (the App closes a screen when it is popped).
func (m *Model) Close() error {
	if m.OnClose != nil {
		m.OnClose()
	}
	return nil
}

// SetSize sets the size.
func (m *Model) SetSize(w, h int) { m.tbl.SetSize(w, h) }

// SetTheme replaces the styles.
func (m *Model) SetTheme(th theme.Theme) { m.th = th; m.tbl.SetTheme(th) }

// Table returns the table (tests).
func (m *Model) Table() table.Model { return m.tbl }

// FilterPrompt makes the list filterable.
func (m *Model) FilterPrompt() (string, string, bool) { return "/", m.tbl.Filter(), true }

// ApplyFilter filters the list.
func (m *Model) ApplyFilter(q string, _ bool) (tea.Cmd, error) { return nil, m.tbl.SetFilter(q) }

// Position is the status bar position.
func (m *Model) Position() string { return m.tbl.Position() }

// Update handles results and keys.
func (m *Model) Update(msg tea.Msg) (*Model, tea.Cmd) {
	switch msg := msg.(type) {
	case LoadedMsg:
		if msg.ID != m.id || msg.Gen != m.gen {
			return m, nil
		}
		m.err = msg.Err
		if msg.Err != nil {
			m.tbl.Empty = "could not load: " + msg.Err.Error()
			m.tbl.SetRows(nil)
			return m, nav.Err(fmt.Errorf("%s: %w", m.title, msg.Err), "")
		}
		m.tbl.Empty = "nothing here"
		atEnd := false
		if m.FollowTail {
			rows := m.tbl.Rows()
			sel, ok := m.tbl.Selected()
			atEnd = !ok || len(rows) == 0 || sel.Key == rows[len(rows)-1].Key
		}
		m.tbl.SetRows(msg.Rows)
		if atEnd && len(msg.Rows) > 0 {
			m.tbl.SelectKey(msg.Rows[len(msg.Rows)-1].Key)
		}
		return m, nil
	case ChangedMsg:
		if msg.ID != m.id || msg.Gen != m.wgen {
			return m, nil
		}
		m.gen++
		return m, tea.Batch(loadCmd(m.id, m.gen, m.load), waitChangeCmd(m.id, m.wgen, m.Changes()))
	case tea.KeyPressMsg:
		for _, x := range m.Extras {
			if !x.Binding.Enabled() && x.Refused != nil && slices.Contains(x.Binding.Keys(), msg.String()) {
				return m, x.Refused()
			}
			if key.Matches(msg, x.Binding) {
				if r, ok := m.tbl.Selected(); ok {
					return m, x.Run(r)
				}
				return m, nil
			}
		}
		switch {
		case key.Matches(msg, m.km.Refresh):
			// a reload only: a live screen's change wait stays armed (a second waiter would
			// take signals meant for the first)
			m.gen++
			return m, loadCmd(m.id, m.gen, m.load)
		case key.Matches(msg, m.km.Enter) && m.action != nil:
			if r, ok := m.tbl.Selected(); ok {
				return m, m.action(r)
			}
			return m, nil
		}
		m.tbl, _ = m.tbl.Update(msg)
	case tea.MouseWheelMsg:
		m.tbl, _ = m.tbl.Update(msg)
	}
	return m, nil
}

// View renders the table.
func (m *Model) View() string { return m.tbl.View() }

func (m *Model) enter() key.Binding {
	b := m.km.Enter
	if m.actHelp != "" {
		b.SetHelp(b.Help().Key, m.actHelp)
	}
	return on(b, m.action != nil && m.tbl.Len() > 0)
}

// on returns b enabled only when ok.
func on(b key.Binding, ok bool) key.Binding {
	b.SetEnabled(ok && b.Enabled())
	return b
}

// extras are the screen's own actions: they act on a row.
func (m *Model) extras() []key.Binding {
	var out []key.Binding
	for _, x := range m.Extras {
		out = append(out, on(x.Binding, m.tbl.Len() > 0))
	}
	return out
}

// ShortHelp is the one-line help.
func (m *Model) ShortHelp() []key.Binding {
	b := append([]key.Binding{m.enter()}, m.extras()...)
	return append(b, m.km.Filter, on(m.km.SortNext, m.tbl.Len() > 0), m.km.Refresh, m.km.Help)
}

// FullHelp lists the keys that work now: enter and the row actions need a row, moving two.
func (m *Model) FullHelp() [][]key.Binding {
	km := m.km
	n := m.tbl.Len()
	return [][]key.Binding{
		append([]key.Binding{m.enter(), km.Refresh}, m.extras()...),
		{on(km.Up, n > 1), on(km.Down, n > 1), on(km.PageUp, n > 1), on(km.PageDown, n > 1), on(km.Top, n > 1), on(km.Bottom, n > 1)},
		{km.Filter, on(km.SortNext, n > 0), on(km.SortRev, n > 0)},
	}
}

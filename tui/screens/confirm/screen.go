// Package confirm is a yes/no question as a screen: y or enter runs the action and closes
// it, n or esc closes it. It takes every key while shown.
//
// It must not import tui (the root) or any other screen.
package confirm

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/podsleuth/podsleuth/tui/components/frame"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// Model is the question.
type Model struct {
	title string
	lines []string
	yes   func() tea.Cmd
	th    theme.Theme
	km    keys.Map
	w, h  int
}

// New asks title with the explanation lines; yes builds the action's Cmd.
func New(title string, lines []string, yes func() tea.Cmd, th theme.Theme, km keys.Map) *Model {
	return &Model{title: title, lines: lines, yes: yes, th: th, km: km}
}

// Init does nothing.
func (m *Model) Init() tea.Cmd { return nil }

// Title names the screen.
func (m *Model) Title() string { return "confirm" }

// SetSize sets the size.
func (m *Model) SetSize(w, h int) { m.w, m.h = w, h }

// SetTheme replaces the styles.
func (m *Model) SetTheme(th theme.Theme) { m.th = th }

// Capturing: the question takes every key.
func (m *Model) Capturing() bool { return true }

// Update answers the question.
func (m *Model) Update(msg tea.Msg) (*Model, tea.Cmd) {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return m, nil
	}
	switch {
	case key.Matches(k, m.km.Confirm), key.Matches(k, m.km.Enter):
		return m, tea.Sequence(nav.Pop(), m.yes())
	case key.Matches(k, m.km.Deny), key.Matches(k, m.km.Back), k.String() == "q":
		return m, tea.Batch(nav.Pop(), nav.Status("cancelled"))
	}
	return m, nil
}

// View renders the question.
func (m *Model) View() string {
	l := append([]string{m.th.Title.Render(m.title), ""}, m.lines...)
	l = append(l, "", m.th.Key.Render("y/enter")+" yes   "+m.th.Key.Render("n/esc")+" no")
	return frame.Lines(l, m.w, m.h)
}

// ShortHelp is the one-line help.
func (m *Model) ShortHelp() []key.Binding { return []key.Binding{m.km.Confirm, m.km.Deny} }

// FullHelp lists every key.
func (m *Model) FullHelp() [][]key.Binding { return [][]key.Binding{m.ShortHelp()} }

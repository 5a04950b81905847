package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/podsleuth/podsleuth/tui/theme"
)

// screen is what every concrete screen type provides. Update returns the screen's own type,
// as bubbles components do, so the App needs no type assertions to keep it.
type screen[S any] interface {
	Init() tea.Cmd
	Update(tea.Msg) (S, tea.Cmd)
	View() string
	SetSize(w, h int)
	Title() string
	ShortHelp() []key.Binding
	FullHelp() [][]key.Binding
}

// Optional capabilities a screen may have.
type (
	// filterer screens take "/": FilterPrompt gives the prompt, ApplyFilter the value (live:
	// on every keystroke; otherwise only when submitted, final=true).
	filterer interface {
		FilterPrompt() (prefix, value string, live bool)
		ApplyFilter(q string, final bool) (tea.Cmd, error)
	}
	// backHandler screens unwind inner state on esc before being popped.
	backHandler interface{ HandlesBack() bool }
	// capturer screens take every key (confirmation dialogs, text entry).
	capturer   interface{ Capturing() bool }
	positioner interface{ Position() string }
	closer     interface{ Close() error }
	themer     interface{ SetTheme(theme.Theme) }
)

// page is a screen on the App's stack.
type page interface {
	init() tea.Cmd
	update(tea.Msg) (page, tea.Cmd)
	view() string
	setSize(w, h int)
	title() string
	shortHelp() []key.Binding
	fullHelp() [][]key.Binding
	value() any
}

type wrapped[S screen[S]] struct{ s S }

// wrap puts a concrete screen on the stack.
func wrap[S screen[S]](s S) page { return wrapped[S]{s} }

func (w wrapped[S]) init() tea.Cmd { return w.s.Init() }
func (w wrapped[S]) update(msg tea.Msg) (page, tea.Cmd) {
	s, cmd := w.s.Update(msg)
	return wrapped[S]{s}, cmd
}
func (w wrapped[S]) view() string              { return w.s.View() }
func (w wrapped[S]) setSize(x, y int)          { w.s.SetSize(x, y) }
func (w wrapped[S]) title() string             { return w.s.Title() }
func (w wrapped[S]) shortHelp() []key.Binding  { return w.s.ShortHelp() }
func (w wrapped[S]) fullHelp() [][]key.Binding { return w.s.FullHelp() }
func (w wrapped[S]) value() any                { return w.s }

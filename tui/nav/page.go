package nav

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// Screen is what every concrete screen type provides. Update returns the screen's own type, as
// bubbles components do, so the App needs no type assertion to keep it.
type Screen[S any] interface {
	Init() tea.Cmd
	Update(tea.Msg) (S, tea.Cmd)
	View() string
	SetSize(w, h int)
	Title() string
	ShortHelp() []key.Binding
	FullHelp() [][]key.Binding
}

// Page is a screen on the App's stack with its concrete type wrapped away (Wrap). Unwrap
// returns the concrete screen, for the optional capabilities the App asks about (a filter, a
// position for the status bar, Close).
type Page interface {
	Init() tea.Cmd
	Update(tea.Msg) (Page, tea.Cmd)
	View() string
	SetSize(w, h int)
	Title() string
	ShortHelp() []key.Binding
	FullHelp() [][]key.Binding
	Unwrap() any
}

type wrapped[S Screen[S]] struct{ s S }

// Wrap makes a concrete screen a Page.
func Wrap[S Screen[S]](s S) Page { return wrapped[S]{s} }

func (w wrapped[S]) Init() tea.Cmd { return w.s.Init() }
func (w wrapped[S]) Update(msg tea.Msg) (Page, tea.Cmd) {
	s, cmd := w.s.Update(msg)
	return wrapped[S]{s}, cmd
}
func (w wrapped[S]) View() string              { return w.s.View() }
func (w wrapped[S]) SetSize(x, y int)          { w.s.SetSize(x, y) }
func (w wrapped[S]) Title() string             { return w.s.Title() }
func (w wrapped[S]) ShortHelp() []key.Binding  { return w.s.ShortHelp() }
func (w wrapped[S]) FullHelp() [][]key.Binding { return w.s.FullHelp() }
func (w wrapped[S]) Unwrap() any               { return w.s }

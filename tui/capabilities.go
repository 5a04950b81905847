package tui

import (
	tea "charm.land/bubbletea/v2"

	"github.com/podsleuth/podsleuth/tui/theme"
)

// Optional capabilities a screen may have; the App asks the top page's Unwrap for them.
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
	// crumber screens add where they are inside to the breadcrumbs (a tab, a detail view).
	crumber interface{ Crumbs() []string }
)

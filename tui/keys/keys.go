// Package keys holds the workbench's key bindings: Default() plus the user's overrides from the
// config file (tui.keys). There is no global keymap; the App builds one and passes it down.
//
// It must not import any other podsleuth package.
package keys

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"charm.land/bubbles/v2/key"
)

// Map is every action the workbench binds, by name. Screens pick the bindings they use for
// their help.
type Map struct {
	Quit     key.Binding
	Help     key.Binding
	Back     key.Binding
	Command  key.Binding
	Filter   key.Binding
	Up       key.Binding
	Down     key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	Top      key.Binding
	Bottom   key.Binding
	Enter    key.Binding
	NextTab  key.Binding
	PrevTab  key.Binding
	SortNext key.Binding
	SortRev  key.Binding
	Left     key.Binding
	Right    key.Binding
	Expand   key.Binding
	Collapse key.Binding
	Reveal   key.Binding
	Search   key.Binding
	// Copy puts the selected value (or the open detail view) on the clipboard (OSC 52).
	Copy key.Binding
	// Cluster and evidence actions.
	Checkpoint key.Binding
	Verify     key.Binding
	Report     key.Binding
	Restore    key.Binding
	Artifacts  key.Binding
	// Add copies an opened case into the evidence store.
	Add     key.Binding
	Logs    key.Binding
	Refresh key.Binding
	Confirm key.Binding
	Deny    key.Binding
}

// Default returns the built-in bindings (k9s habits).
func Default() Map {
	b := func(keys []string, hk, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(hk, desc))
	}
	return Map{
		Quit:       b([]string{"q", "ctrl+c"}, "q", "quit"),
		Help:       b([]string{"?"}, "?", "help"),
		Back:       b([]string{"esc"}, "esc", "back/cancel"),
		Command:    b([]string{":"}, ":", "command"),
		Filter:     b([]string{"/"}, "/", "filter"),
		Up:         b([]string{"k", "up"}, "↑/k", "up"),
		Down:       b([]string{"j", "down"}, "↓/j", "down"),
		PageUp:     b([]string{"pgup", "ctrl+b"}, "pgup", "page up"),
		PageDown:   b([]string{"pgdown", "ctrl+f"}, "pgdn", "page down"),
		Top:        b([]string{"g", "home"}, "g", "top"),
		Bottom:     b([]string{"G", "end"}, "G", "bottom"),
		Enter:      b([]string{"enter"}, "enter", "open/drill in"),
		NextTab:    b([]string{"tab"}, "tab", "next tab"),
		PrevTab:    b([]string{"shift+tab"}, "shift+tab", "previous tab"),
		SortNext:   b([]string{"s"}, "s", "sort by next column"),
		SortRev:    b([]string{"S"}, "S", "reverse sort"),
		Left:       b([]string{"h", "left"}, "←/h", "collapse/left"),
		Right:      b([]string{"l", "right"}, "→/l", "expand/right"),
		Expand:     b([]string{"+", "E"}, "+", "expand all"),
		Collapse:   b([]string{"-"}, "-", "collapse all"),
		Reveal:     b([]string{"r"}, "r", "reveal/mask secrets"),
		Search:     b([]string{"/"}, "/", "search memory"),
		Copy:       b([]string{"y"}, "y", "copy value"),
		Checkpoint: b([]string{"c"}, "c", "checkpoint container"),
		Verify:     b([]string{"v"}, "v", "verify hashes"),
		Report:     b([]string{"x"}, "x", "export report"),
		Restore:    b([]string{"R"}, "R", "restore into sandbox"),
		Artifacts:  b([]string{"a"}, "a", "artifacts"),
		Add:        b([]string{"A"}, "A", "add to store"),
		Logs:       b([]string{"L"}, "L", "container logs"),
		Refresh:    b([]string{"ctrl+r"}, "ctrl+r", "refresh"),
		Confirm:    b([]string{"y"}, "y", "yes"),
		Deny:       b([]string{"n", "esc"}, "n", "no"),
	}
}

// ErrUnknownAction is wrapped when an override names no action.
var ErrUnknownAction = errors.New("unknown key action")

// bindings returns the actions by their config name.
func (m *Map) bindings() map[string]*key.Binding {
	return map[string]*key.Binding{
		"quit": &m.Quit, "help": &m.Help, "back": &m.Back, "command": &m.Command,
		"filter": &m.Filter, "up": &m.Up, "down": &m.Down, "page_up": &m.PageUp,
		"page_down": &m.PageDown, "top": &m.Top, "bottom": &m.Bottom, "enter": &m.Enter,
		"next_tab": &m.NextTab, "prev_tab": &m.PrevTab, "sort_next": &m.SortNext,
		"sort_reverse": &m.SortRev, "left": &m.Left, "right": &m.Right, "expand": &m.Expand,
		"collapse": &m.Collapse, "reveal": &m.Reveal, "search": &m.Search, "copy": &m.Copy,
		"checkpoint": &m.Checkpoint, "verify": &m.Verify, "report": &m.Report,
		"restore": &m.Restore, "artifacts": &m.Artifacts, "add": &m.Add, "logs": &m.Logs, "refresh": &m.Refresh, "confirm": &m.Confirm, "deny": &m.Deny,
	}
}

// Actions lists the action names that overrides may use, sorted.
func Actions() []string {
	m := Default()
	var names []string
	for n := range m.bindings() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// WithOverrides returns m with the keys of the named actions replaced. An unknown action or an
// empty key list is an error naming it.
func (m Map) WithOverrides(over map[string][]string) (Map, error) {
	bs := m.bindings()
	names := make([]string, 0, len(over))
	for n := range over {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ks := over[n]
		b, ok := bs[strings.ToLower(strings.ReplaceAll(n, "-", "_"))]
		if !ok {
			return m, fmt.Errorf("tui.keys.%s: %w (known: %s)", n, ErrUnknownAction, strings.Join(Actions(), ", "))
		}
		if len(ks) == 0 {
			return m, fmt.Errorf("tui.keys.%s: no keys given", n)
		}
		h := b.Help()
		b.SetKeys(ks...)
		b.SetHelp(strings.Join(ks, "/"), h.Desc)
	}
	return m, nil
}

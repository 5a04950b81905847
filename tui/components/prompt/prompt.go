// Package prompt is a one-line text input for the command, filter and search prompts. It is
// deliberately simpler than bubbles/textinput: no blinking cursor, so frames are deterministic
// and golden files stable.
//
// It must not import any other podsleuth package besides tui/theme.
package prompt

import (
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
)

// Model is the prompt's state: a prefix shown before the value and the value being edited.
type Model struct {
	Prefix string
	Value  string
	// History of submitted values, newest last; up/down walk it.
	History []string
	hpos    int
}

// Result says what a key did to the prompt.
type Result int

// Results of Update.
const (
	Editing Result = iota
	Submitted
	Cancelled
)

// New returns an empty prompt with the given prefix (":" or "/").
func New(prefix string) Model { return Model{Prefix: prefix} }

// Reset clears the value and rewinds the history.
func (m *Model) Reset(value string) {
	m.Value = value
	m.hpos = len(m.History)
}

// Update edits the value with a key press and reports whether it was submitted or cancelled.
func (m Model) Update(msg tea.KeyPressMsg) (Model, Result) {
	switch msg.String() {
	case "enter":
		if m.Value != "" && (len(m.History) == 0 || m.History[len(m.History)-1] != m.Value) {
			m.History = append(m.History, m.Value)
		}
		m.hpos = len(m.History)
		return m, Submitted
	case "esc", "ctrl+c":
		return m, Cancelled
	case "backspace", "ctrl+h":
		if m.Value != "" {
			_, n := utf8.DecodeLastRuneInString(m.Value)
			m.Value = m.Value[:len(m.Value)-n]
		}
	case "ctrl+u":
		m.Value = ""
	case "ctrl+w":
		v := m.Value
		for len(v) > 0 && v[len(v)-1] == ' ' {
			v = v[:len(v)-1]
		}
		for len(v) > 0 && v[len(v)-1] != ' ' {
			v = v[:len(v)-1]
		}
		m.Value = v
	case "up":
		if m.hpos > 0 {
			m.hpos--
			m.Value = m.History[m.hpos]
		}
	case "down":
		if m.hpos < len(m.History)-1 {
			m.hpos++
			m.Value = m.History[m.hpos]
		} else {
			m.hpos = len(m.History)
			m.Value = ""
		}
	default:
		if t := msg.Key().Text; t != "" {
			m.Value += t
		}
	}
	return m, Editing
}

// View renders the prefix, the value and a block cursor.
func (m Model) View() string { return m.Prefix + m.Value + "█" }

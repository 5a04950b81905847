// Package prompt is a one-line text input for the command, filter and search prompts. It is
// deliberately simpler than bubbles/textinput: no blinking cursor, so frames are deterministic
// and golden files stable.
//
// It must not import any other podsleuth package besides tui/theme.
package prompt

import (
	"strconv"
	"strings"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/podsleuth/podsleuth/tui/theme"
)

// Model is the prompt's state: a prefix shown before the value and the value being edited.
type Model struct {
	Prefix string
	Value  string
	// History of submitted values, newest last; up/down walk it.
	History []string
	hpos    int

	// Suggestions complete the last word of the value (the App computes them, without I/O,
	// whenever the value changes); tab takes their common prefix, then cycles through them.
	Suggestions []string
	// Sel is the suggestion tab put in the value (-1: none yet).
	Sel int
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
func New(prefix string) Model { return Model{Prefix: prefix, Sel: -1} }

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

// Word returns the last word of the value (what the suggestions complete) and the text before it.
func (m Model) Word() (before, word string) {
	i := strings.LastIndexByte(m.Value, ' ')
	return m.Value[:i+1], m.Value[i+1:]
}

// SetSuggestions replaces the suggestions of the word being typed.
func (m *Model) SetSuggestions(s []string) {
	m.Suggestions, m.Sel = s, -1
}

// Cycling says whether tab has put a suggestion in the value (the suggestions must then stay
// as they are for the next tab).
func (m Model) Cycling() bool { return m.Sel >= 0 }

// Complete is tab (forward) or shift+tab: the first press extends the word to the suggestions'
// common prefix (a single suggestion is taken whole, with a space after it unless it is a
// directory); when there is nothing to extend, each press puts the next suggestion in the value.
// It reports whether the word is final (completed to a single suggestion).
func (m *Model) Complete(forward bool) bool {
	n := len(m.Suggestions)
	if n == 0 {
		return false
	}
	before, word := m.Word()
	if m.Sel < 0 {
		if n == 1 {
			s := m.Suggestions[0]
			if !strings.HasSuffix(s, "/") {
				s += " "
			}
			m.Value = before + s
			return true
		}
		if p := commonPrefix(m.Suggestions); len(p) > len(word) && strings.HasPrefix(p, word) {
			m.Value = before + p
			return false
		}
	}
	switch {
	case m.Sel < 0 && forward:
		m.Sel = 0
	case m.Sel < 0:
		m.Sel = n - 1
	case forward:
		m.Sel = (m.Sel + 1) % n
	default:
		m.Sel = (m.Sel + n - 1) % n
	}
	m.Value = before + m.Suggestions[m.Sel]
	return false
}

func commonPrefix(ss []string) string {
	p := ss[0]
	for _, s := range ss[1:] {
		for !strings.HasPrefix(s, p) {
			_, n := utf8.DecodeLastRuneInString(p)
			p = p[:len(p)-n]
		}
	}
	return p
}

// SuggestionView is the suggestion line, w cells wide: the suggestions (a path shows its last
// element), the one tab put in the value highlighted, "+N" for those that do not fit.
func (m Model) SuggestionView(w int, th theme.Theme) string {
	if len(m.Suggestions) == 0 {
		return ""
	}
	_, word := m.Word()
	show := func(s string) string {
		if i := strings.LastIndexByte(strings.TrimSuffix(s, "/"), '/'); i >= 0 && strings.Contains(word, "/") {
			return s[i+1:]
		}
		return s
	}
	start := 0
	for {
		var b strings.Builder
		b.WriteString(th.Muted.Render("tab:"))
		used := 4
		i := start
		for ; i < len(m.Suggestions); i++ {
			item := show(m.Suggestions[i])
			more := len(m.Suggestions) - i
			reserve := 0
			if more > 1 {
				reserve = 2 + len(strconv.Itoa(more-1)) + 1
			}
			if used+2+lipgloss.Width(item)+reserve > w && i > start {
				break
			}
			b.WriteString("  ")
			if i == m.Sel {
				b.WriteString(th.Selected.Render(item))
			} else {
				b.WriteString(item)
			}
			used += 2 + lipgloss.Width(item)
		}
		if m.Sel >= i && start < m.Sel {
			start = m.Sel // scroll the selection into view
			continue
		}
		if i < len(m.Suggestions) {
			b.WriteString(th.Muted.Render("  +" + strconv.Itoa(len(m.Suggestions)-i)))
		}
		return b.String()
	}
}

// View renders the prefix, the value and a block cursor.
func (m Model) View() string { return m.Prefix + m.Value + "█" }

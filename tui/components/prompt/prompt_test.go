package prompt

import (
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/tui/theme"
)

func typeIn(m Model, s string) Model {
	for _, r := range s {
		m, _ = m.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	return m
}

func TestEditing(t *testing.T) {
	tests := []struct {
		name  string
		typed string
		key   tea.KeyPressMsg
		want  string
		res   Result
	}{
		{"backspace removes a whole rune", "naïve→", tea.KeyPressMsg{Code: tea.KeyBackspace}, "naïve", Editing},
		{"ctrl+w removes a word", "pods kube-system", tea.KeyPressMsg{Code: 'w', Mod: tea.ModCtrl}, "pods ", Editing},
		{"ctrl+u clears", "anything", tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl}, "", Editing},
		{"enter submits", "ns prod", tea.KeyPressMsg{Code: tea.KeyEnter}, "ns prod", Submitted},
		{"esc cancels", "x", tea.KeyPressMsg{Code: tea.KeyEscape}, "x", Cancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := typeIn(New(":"), tt.typed)
			m, res := m.Update(tt.key)
			require.Equal(t, tt.want, m.Value)
			require.Equal(t, tt.res, res)
		})
	}
}

func TestHistory(t *testing.T) {
	m := New(":")
	for _, c := range []string{"pods", "nodes", "nodes"} {
		m.Reset("")
		m = typeIn(m, c)
		m, _ = m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	}
	require.Equal(t, []string{"pods", "nodes"}, m.History, "repeats are not stored twice")
	m.Reset("")
	up := tea.KeyPressMsg{Code: tea.KeyUp}
	down := tea.KeyPressMsg{Code: tea.KeyDown}
	m, _ = m.Update(up)
	require.Equal(t, "nodes", m.Value)
	m, _ = m.Update(up)
	require.Equal(t, "pods", m.Value)
	m, _ = m.Update(up)
	require.Equal(t, "pods", m.Value, "stops at the oldest")
	m, _ = m.Update(down)
	require.Equal(t, "nodes", m.Value)
	m, _ = m.Update(down)
	require.Equal(t, "", m.Value, "past the newest: empty again")
	require.Equal(t, ":█", m.View())
}

func TestComplete(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		sugg    []string
		tabs    int
		want    string
		final   bool
		cycling bool
	}{
		{"common prefix first", "open ca", []string{"case-a.tar", "case-b.tar"}, 1, "open case-", false, false},
		{"then cycles", "open ca", []string{"case-a.tar", "case-b.tar"}, 2, "open case-a.tar", false, true},
		{"and wraps", "open ca", []string{"case-a.tar", "case-b.tar"}, 4, "open case-a.tar", false, true},
		{"one: taken whole with a space", "ns kube-s", []string{"kube-system"}, 1, "ns kube-system ", true, false},
		{"a directory: no space", "open cap", []string{"captures/"}, 1, "open captures/", true, false},
		{"nothing to offer", "zz", nil, 1, "zz", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(":")
			m.Reset(tt.value)
			m.SetSuggestions(tt.sugg)
			var final bool
			for range tt.tabs {
				final = m.Complete(true)
			}
			require.Equal(t, tt.want, m.Value)
			require.Equal(t, tt.final, final)
			require.Equal(t, tt.cycling, m.Cycling())
		})
	}
	m := New(":")
	m.Reset("n")
	m.SetSuggestions([]string{"ns", "nodes"})
	m.Complete(false)
	require.Equal(t, "nodes", m.Value, "shift+tab starts from the last")
}

func TestSuggestionView(t *testing.T) {
	th := theme.Plain()
	m := New(":")
	m.Reset("open captures/a")
	m.SetSuggestions([]string{"captures/alpha.tar", "captures/alps/"})
	require.Equal(t, "tab:  alpha.tar  alps/", ansi.Strip(m.SuggestionView(80, th)), "paths show their last element")

	var many []string
	for i := range 30 {
		many = append(many, fmt.Sprintf("ns-%02d", i))
	}
	m.Reset("pods ns-")
	m.SetSuggestions(many)
	v := ansi.Strip(m.SuggestionView(40, th))
	require.Equal(t, "tab:  ns-00  ns-01  ns-02  ns-03  +26", v)
	require.LessOrEqual(t, lipgloss.Width(v), 40)
	for range 10 {
		m.Complete(true)
	}
	require.Equal(t, "pods ns-09", m.Value)
	v = ansi.Strip(m.SuggestionView(40, th))
	require.True(t, strings.HasPrefix(v, "tab:  ns-09"), "scrolled to the selection: %q", v)
	require.LessOrEqual(t, lipgloss.Width(v), 40)
}

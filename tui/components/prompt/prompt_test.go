package prompt

import (
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/stretchr/testify/require"
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

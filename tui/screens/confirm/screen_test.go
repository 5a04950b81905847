package confirm

import (
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/theme"
)

func TestAnswers(t *testing.T) {
	tests := []struct {
		name string
		key  tea.KeyPressMsg
		ran  bool
		cmd  bool
	}{
		{"y runs", tea.KeyPressMsg{Code: 'y', Text: "y"}, true, true},
		{"enter runs", tea.KeyPressMsg{Code: tea.KeyEnter}, true, true},
		{"n cancels", tea.KeyPressMsg{Code: 'n', Text: "n"}, false, true},
		{"esc cancels", tea.KeyPressMsg{Code: tea.KeyEscape}, false, true},
		{"q cancels, does not quit", tea.KeyPressMsg{Code: 'q', Text: "q"}, false, true},
		{"other keys wait", tea.KeyPressMsg{Code: 'x', Text: "x"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ran := false
			m := New("Checkpoint ns/p container app?", []string{"The container keeps running and is not told."},
				func() tea.Cmd { ran = true; return nav.Status("started") }, theme.Plain(), keys.Default())
			m.SetSize(60, 8)
			require.True(t, m.Capturing())
			require.Contains(t, ansi.Strip(m.View()), "is not told")
			_, cmd := m.Update(tt.key)
			require.Equal(t, tt.ran, ran)
			require.Equal(t, tt.cmd, cmd != nil)
		})
	}
}

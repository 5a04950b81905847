package keys

import (
	"testing"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/stretchr/testify/require"
)

func TestOverrides(t *testing.T) {
	tests := []struct {
		name  string
		over  map[string][]string
		err   error
		check func(t *testing.T, m Map)
	}{
		{"none", nil, nil, func(t *testing.T, m Map) {
			require.True(t, key.Matches(tea.KeyPressMsg{Code: 'c', Text: "c"}, m.Checkpoint))
		}},
		{"rebind checkpoint", map[string][]string{"checkpoint": {"C"}}, nil, func(t *testing.T, m Map) {
			require.False(t, key.Matches(tea.KeyPressMsg{Code: 'c', Text: "c"}, m.Checkpoint))
			require.True(t, key.Matches(tea.KeyPressMsg{Code: 'C', Text: "C"}, m.Checkpoint))
			require.Equal(t, "C", m.Checkpoint.Help().Key)
			require.Equal(t, "checkpoint container", m.Checkpoint.Help().Desc)
		}},
		{"dash and case in names", map[string][]string{"Page-Down": {"space"}}, nil, func(t *testing.T, m Map) {
			require.Equal(t, []string{"space"}, m.PageDown.Keys())
		}},
		{"unknown action", map[string][]string{"launch": {"x"}}, ErrUnknownAction, nil},
		{"no keys", map[string][]string{"quit": {}}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Default().WithOverrides(tt.over)
			if tt.check == nil {
				require.Error(t, err)
				if tt.err != nil {
					require.ErrorIs(t, err, tt.err)
				}
				return
			}
			require.NoError(t, err)
			tt.check(t, m)
		})
	}
	// Default is not mutated by overrides (no shared state).
	_, _ = Default().WithOverrides(map[string][]string{"quit": {"x"}})
	require.Equal(t, []string{"q", "ctrl+c"}, Default().Quit.Keys())
}

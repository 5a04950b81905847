package frame

import (
	"strings"
	"testing"

	"charm.land/lipgloss/v2"
	"github.com/stretchr/testify/require"
)

func TestLinesAreExactlyTheFrame(t *testing.T) {
	got := Lines([]string{"short", "a line far longer than the frame", "\x1b[1mbold\x1b[m"}, 10, 4)
	rows := strings.Split(got, "\n")
	require.Len(t, rows, 4)
	for _, r := range rows {
		require.Equal(t, 10, lipgloss.Width(r), "%q", r)
	}
	require.Equal(t, "short     ", rows[0])
	require.Equal(t, "a line fa…", rows[1])
	require.Contains(t, rows[2], "\x1b[1mbold", "styles kept")
	require.Equal(t, strings.Repeat(" ", 10), rows[3])
	require.Equal(t, Lines([]string{"a", "b"}, 3, 2), Block("a\nb\nc", 3, 2))
}

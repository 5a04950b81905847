// Package frame fits rendered text to a screen's cells: every screen's View is exactly its
// width and height, so the App composes frames without measuring them again.
//
// It must not import any other podsleuth package.
package frame

import (
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// Line makes s exactly w cells: truncated with "…" (styles kept) or padded with spaces.
func Line(s string, w int) string {
	if lipgloss.Width(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	if pad := w - lipgloss.Width(s); pad > 0 {
		s += strings.Repeat(" ", pad)
	}
	return s
}

// Lines makes lines exactly h lines of w cells (missing ones blank, extra ones dropped).
func Lines(lines []string, w, h int) string {
	out := make([]string, max(h, 0))
	for i := range out {
		l := ""
		if i < len(lines) {
			l = lines[i]
		}
		out[i] = Line(l, w)
	}
	return strings.Join(out, "\n")
}

// Block is Lines of the lines of s.
func Block(s string, w, h int) string { return Lines(strings.Split(s, "\n"), w, h) }

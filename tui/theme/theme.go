// Package theme builds the workbench's semantic styles from the terminal's background
// (tea.RequestBackgroundColor) and NO_COLOR. Styles are values passed down, never globals.
//
// It must not import any other podsleuth package.
package theme

import (
	"image/color"

	"charm.land/lipgloss/v2"
)

// Theme is the set of semantic styles every screen renders with.
type Theme struct {
	// NoColor is set when NO_COLOR asked for no colours; meaning is then carried by bold,
	// reverse and underline only.
	NoColor  bool
	IsDark   bool
	Title    lipgloss.Style
	Header   lipgloss.Style
	Selected lipgloss.Style
	Muted    lipgloss.Style
	Danger   lipgloss.Style
	Warning  lipgloss.Style
	OK       lipgloss.Style
	Accent   lipgloss.Style
	Status   lipgloss.Style
	Error    lipgloss.Style
	TabOn    lipgloss.Style
	TabOff   lipgloss.Style
	Key      lipgloss.Style
	Border   lipgloss.Style
	Match    lipgloss.Style
}

// New returns the coloured theme for a dark or light background.
func New(isDark bool) Theme {
	ld := lipgloss.LightDark(isDark)
	c := func(light, dark string) color.Color { return ld(lipgloss.Color(light), lipgloss.Color(dark)) }
	fg := c("#1f2328", "#e6edf3")
	muted := c("#6e7781", "#8b949e")
	accent := c("#0969da", "#58a6ff")
	s := lipgloss.NewStyle
	return Theme{
		IsDark:   isDark,
		Title:    s().Bold(true).Foreground(accent),
		Header:   s().Bold(true).Foreground(fg).Underline(true),
		Selected: s().Foreground(c("#ffffff", "#0d1117")).Background(accent).Bold(true),
		Muted:    s().Foreground(muted),
		Danger:   s().Foreground(c("#cf222e", "#ff7b72")).Bold(true),
		Warning:  s().Foreground(c("#9a6700", "#d29922")),
		OK:       s().Foreground(c("#1a7f37", "#3fb950")),
		Accent:   s().Foreground(accent),
		Status:   s().Foreground(fg).Background(c("#eaeef2", "#161b22")),
		Error:    s().Foreground(c("#ffffff", "#ffffff")).Background(c("#cf222e", "#8e1519")).Bold(true),
		TabOn:    s().Bold(true).Foreground(c("#ffffff", "#0d1117")).Background(accent).Padding(0, 1),
		TabOff:   s().Foreground(muted).Padding(0, 1),
		Key:      s().Bold(true).Foreground(accent),
		Border:   s().Foreground(muted),
		Match:    s().Foreground(c("#ffffff", "#0d1117")).Background(c("#bf8700", "#d29922")).Bold(true),
	}
}

// Plain returns the theme used under NO_COLOR: no colours at all, emphasis by attributes.
func Plain() Theme {
	s := lipgloss.NewStyle
	return Theme{
		NoColor:  true,
		IsDark:   true,
		Title:    s().Bold(true),
		Header:   s().Bold(true).Underline(true),
		Selected: s().Reverse(true),
		Muted:    s().Faint(true),
		Danger:   s().Bold(true),
		Warning:  s().Underline(true),
		OK:       s(),
		Accent:   s().Bold(true),
		Status:   s().Reverse(true),
		Error:    s().Reverse(true).Bold(true),
		TabOn:    s().Reverse(true).Bold(true).Padding(0, 1),
		TabOff:   s().Padding(0, 1),
		Key:      s().Bold(true),
		Border:   s(),
		Match:    s().Reverse(true).Underline(true),
	}
}

// For returns Plain() when noColor is set, New(isDark) otherwise.
func For(isDark, noColor bool) Theme {
	if noColor {
		return Plain()
	}
	return New(isDark)
}

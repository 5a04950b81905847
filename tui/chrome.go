package tui

import (
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/tui/components/frame"
)

// View renders the header, the top screen, the help or prompt line and the status bar.
func (a *App) View() tea.View {
	var v tea.View
	v.AltScreen = true
	if a.o.Mouse {
		v.MouseMode = tea.MouseModeCellMotion
	}
	v.WindowTitle = "podsleuth"
	if a.w <= 0 || a.h <= 0 {
		return v
	}
	v.SetContent(a.Render())
	return v
}

// Render is the frame as a string (the View's content; goldens compare it).
func (a *App) Render() string {
	w := a.w
	var b strings.Builder
	b.WriteString(a.header())
	b.WriteByte('\n')
	if a.bannerH > 0 {
		b.WriteString(a.banner())
		b.WriteByte('\n')
	}
	_, bh := a.bodySize()
	if a.mode == modeHelp {
		b.WriteString(a.helpView(bh))
	} else {
		body := frame.Block(a.top().View(), w, bh)
		if a.mode == modeCommand && len(a.prompt.Suggestions) > 0 {
			// the suggestion line sits over the body's last line, just above the prompt
			if i := strings.LastIndexByte(body, '\n'); i >= 0 {
				body = body[:i+1] + frame.Line(a.prompt.SuggestionView(w, a.th), w)
			} else {
				body = frame.Line(a.prompt.SuggestionView(w, a.th), w)
			}
		}
		b.WriteString(body)
	}
	b.WriteByte('\n')
	switch a.mode {
	case modeCommand, modeFilter:
		b.WriteString(frame.Line(a.th.Accent.Render(a.prompt.View()), w))
	default:
		if a.err != "" && a.hint != "" {
			// the fix gets its own line: it matters more than the key help
			b.WriteString(frame.Line(a.th.Warning.Render("fix: "+a.hint), w))
		} else {
			b.WriteString(frame.Line(a.shortHelp(), w))
		}
	}
	b.WriteByte('\n')
	b.WriteString(a.statusBar())
	return b.String()
}

func (a *App) header() string {
	var crumbs []string
	for _, p := range a.stack {
		crumbs = append(crumbs, forensics.Printable(p.Title()))
	}
	// where inside the top screen: the tab and the open detail view
	if c, ok := a.top().Unwrap().(crumber); ok {
		for _, s := range c.Crumbs() {
			crumbs = append(crumbs, forensics.Printable(s))
		}
	}
	left := a.th.Title.Render("podsleuth") + " " + strings.Join(crumbs, " › ")
	var right string
	switch {
	case a.cluster != nil:
		right = a.cluster.Describe()
	case a.connecting:
		right = "connecting…"
	default:
		right = "no cluster"
	}
	if a.o.Readonly {
		right = "[readonly] " + right
	}
	right = a.th.Muted.Render(right)
	gap := a.w - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		return frame.Line(left, a.w)
	}
	return left + strings.Repeat(" ", gap) + right
}

func (a *App) shortHelp() string {
	var parts []string
	for _, b := range a.top().ShortHelp() {
		if !b.Enabled() {
			continue
		}
		h := b.Help()
		parts = append(parts, a.th.Key.Render(h.Key)+" "+a.th.Muted.Render(h.Desc))
	}
	return strings.Join(parts, "  ")
}

func (a *App) statusBar() string {
	var left string
	switch {
	case a.err != "":
		left = a.th.Error.Render(" " + a.err + " ")
	case a.status != "":
		left = " " + a.status
	case a.cluster == nil && !a.connecting:
		left = " no cluster: " + a.clusterNote
	}
	right := ""
	if p, ok := a.top().Unwrap().(positioner); ok {
		right = p.Position() + " "
	}
	gap := a.w - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		return a.th.Status.Render(frame.Line(left, a.w))
	}
	return a.th.Status.Render(left + strings.Repeat(" ", gap) + right)
}

func (a *App) helpView(h int) string {
	lines := a.helpLines()
	// two columns when tall content meets a wide screen
	if len(lines) > h && a.w >= 100 && (len(lines)+1)/2 <= h {
		half := (len(lines) + 1) / 2
		left := frame.Block(strings.Join(lines[:half], "\n"), a.w/2, h)
		right := frame.Block(strings.Join(lines[half:], "\n"), a.w-a.w/2, h)
		return lipgloss.JoinHorizontal(lipgloss.Top, left, right)
	}
	if len(lines) > h && h > 1 {
		// scrolled: the last line says where and how
		n := h - 1
		off := max(min(a.helpOff, len(lines)-n), 0)
		shown := append(lines[off:off+n:off+n], a.th.Muted.Render(fmt.Sprintf(
			"lines %d-%d of %d  j/k pgup/pgdn g/G scroll, any other key closes", off+1, off+n, len(lines))))
		return frame.Block(strings.Join(shown, "\n"), a.w, h)
	}
	return frame.Block(strings.Join(lines, "\n"), a.w, h)
}

// scrollHelp moves the help by n lines, within its length.
func (a *App) scrollHelp(n int) {
	_, h := a.bodySize()
	a.helpOff = max(min(a.helpOff+n, len(a.helpLines())-(h-1)), 0)
}

// helpLines are the keys that work on the top screen now (its FullHelp: per tab, per detail
// view), the global keys and the commands.
func (a *App) helpLines() []string {
	entry := func(b key.Binding) string {
		hk := b.Help()
		return fmt.Sprintf("  %s %s", a.th.Key.Render(fmt.Sprintf("%-10s", hk.Key)), hk.Desc)
	}
	// where inside the screen (the tab, the detail view), else the screen: the header shows
	// the whole path
	where := []string{a.top().Title()}
	if c, ok := a.top().Unwrap().(crumber); ok && len(c.Crumbs()) > 0 {
		where = c.Crumbs()
	}
	var lines []string
	lines = append(lines, a.th.Title.Render("Keys of "+forensics.Printable(strings.Join(where, " › "))), "")
	filters := false
	n := 0
	for _, group := range a.top().FullHelp() {
		for _, b := range group {
			if !b.Enabled() {
				continue
			}
			lines = append(lines, entry(b))
			n++
			filters = filters || (slices.Equal(b.Keys(), a.km.Filter.Keys()) && b.Help().Desc == a.km.Filter.Help().Desc)
		}
	}
	if n == 0 {
		lines = append(lines, "  "+a.th.Muted.Render("no keys of its own here"))
	}
	if filters {
		lines = append(lines, "  "+a.th.Muted.Render("filter: regex (smart case), !regex inverts, -l key=value selects labels"))
	}
	lines = append(lines, "", a.th.Title.Render("Everywhere"), "")
	for _, b := range []key.Binding{a.km.Back, a.km.Command, a.km.Help, a.km.Quit} {
		lines = append(lines, entry(b))
	}
	lines = append(lines, "", a.th.Title.Render("Commands"), "")
	for _, c := range Commands {
		lines = append(lines, fmt.Sprintf("  %s %s", a.th.Key.Render(fmt.Sprintf("%-12s", c[0])), c[1]))
	}
	lines = append(lines, "", a.th.Muted.Render("any key closes this help"))
	return lines
}

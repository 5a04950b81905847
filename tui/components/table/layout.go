package table

import (
	"slices"
	"strings"

	"charm.land/lipgloss/v2"
)

// widths fits the natural widths into the table width, one space between columns; a hidden
// column's width is -1. The first flex column takes what is left. When too wide: columns wider
// than a soft floor shrink (widest first, key columns last), then whole columns go (empty
// ones first, then by Drop), then columns shrink to their title (with the sort arrow: a
// header is never cut), and key columns shrink last.
func (m Model) widths() []int {
	n := len(m.cols)
	w := slices.Clone(m.natural)
	if n == 0 || m.width <= 0 {
		return w
	}
	floor := make([]int, n)
	for c, col := range m.cols {
		floor[c] = lipgloss.Width(col.Title)
		if c == m.sortCol {
			floor[c]++
		}
		w[c] = max(w[c], floor[c])
	}
	shown := n
	total := -1
	for _, x := range w {
		total += x + 1
	}
	// shrink the widest shown column (not a key column unless keys) down to lim(c)
	shrink := func(keys bool, lim func(c int) int) {
		for total > m.width {
			wi := -1
			for c := range w {
				if w[c] > lim(c) && m.cols[c].Key == keys && (wi < 0 || w[c] > w[wi]) {
					wi = c
				}
			}
			if wi < 0 {
				return
			}
			w[wi]--
			total--
		}
	}
	const soft = 12
	shrink(false, func(c int) int { return max(floor[c], soft) })
	for total > m.width && shown > 1 {
		empty := func(c int) bool { return !m.filled[c] && len(m.rows) > 0 }
		di := -1
		for c, col := range m.cols {
			if w[c] < 0 || c == m.sortCol || !empty(c) && col.Drop == 0 {
				continue
			}
			if di < 0 || empty(c) && !empty(di) || empty(c) == empty(di) && col.Drop >= m.cols[di].Drop {
				di = c
			}
		}
		if di < 0 {
			break
		}
		total -= w[di] + 1
		w[di] = -1
		shown--
	}
	if shown < n {
		// the columns left get their natural widths back before they shrink again
		total = -1
		for c := range w {
			if w[c] >= 0 {
				w[c] = max(m.natural[c], floor[c])
				total += w[c] + 1
			}
		}
		shrink(false, func(c int) int { return max(floor[c], soft) })
	}
	shrink(false, func(c int) int { return floor[c] })
	shrink(true, func(c int) int { return max(floor[c], soft) })
	shrink(true, func(int) int { return 1 })
	shrink(false, func(int) int { return 1 })
	if total < m.width {
		for c, col := range m.cols {
			if col.Flex && w[c] >= 0 {
				w[c] += m.width - total
				break
			}
		}
	}
	return w
}

// join joins the parts of the shown columns with one space.
func join(parts []string, ws []int) string {
	var b strings.Builder
	first := true
	for c, p := range parts {
		if ws[c] < 0 {
			continue
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(p)
	}
	return b.String()
}

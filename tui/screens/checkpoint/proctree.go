package checkpoint

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/tui/components/table"
)

// DefaultExpandDepth is how deep the process tree starts expanded; trees with more than
// LargeTree processes start at LargeTreeDepth so the first screen stays readable.
const (
	DefaultExpandDepth = 4
	LargeTree          = 200
	LargeTreeDepth     = 2
)

// procTree is the collapsible process tree: which PIDs are expanded.
type procTree struct {
	c        *forensics.Checkpoint
	byPID    map[int]*forensics.Process
	children map[int][]int
	expanded map[int]bool
	depth    map[int]int
	// sort orders siblings (and roots) by a column of procColumns; col -1 keeps the order.
	sort *treeSort
}

type treeSort struct {
	col  int
	desc bool
}

func newProcTree(c *forensics.Checkpoint) procTree {
	t := procTree{c: c, byPID: processByPID(c), children: childrenOf(c), expanded: map[int]bool{}, depth: map[int]int{}, sort: &treeSort{col: -1}}
	limit := DefaultExpandDepth
	if len(c.Processes) > LargeTree {
		limit = LargeTreeDepth
	}
	var walk func(pid, d int, seen map[int]bool)
	walk = func(pid, d int, seen map[int]bool) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		t.depth[pid] = d
		if d < limit {
			t.expanded[pid] = true
		}
		for _, ch := range t.children[pid] {
			walk(ch, d+1, seen)
		}
	}
	seen := map[int]bool{}
	for _, r := range c.Roots() {
		walk(r, 0, seen)
	}
	return t
}

func procColumns() []table.Column {
	return []table.Column{
		{Title: "PID", Right: true, Numeric: true, Key: true}, {Title: "PROCESS", Max: 40, Key: true},
		{Title: "UID", Right: true, Numeric: true, Drop: 2}, {Title: "THR", Right: true, Numeric: true, Drop: 4},
		{Title: "STATE", Drop: 1}, {Title: "FDS", Right: true, Numeric: true, Drop: 3}, {Title: "COMMAND", Flex: true},
	}
}

func (t procTree) row(p *forensics.Process, name string) table.Row {
	cmd := strings.Join(p.Cmdline, " ")
	if cmd == "" {
		cmd = "[" + p.Comm + "]"
	}
	tone := table.Normal
	if p.ExeDeleted {
		tone = table.Danger
	} else if p.State == "zombie" || p.State == "dead" {
		tone = table.Muted
	}
	return table.Row{
		Key:   strconv.Itoa(p.PID),
		Cells: []string{strconv.Itoa(p.PID), name, strconv.FormatUint(uint64(p.Creds.UID), 10), strconv.Itoa(len(p.Threads)), p.State, strconv.Itoa(len(p.FDs)), cmd},
		Keys:  []string{strconv.Itoa(p.PID), p.Comm},
		Tone:  tone,
	}
}

// rows renders the tree (flat when flat is set: every process, no indentation, for sorting
// and filtering).
func (t procTree) rows(flat bool) []table.Row {
	var rows []table.Row
	if flat {
		for i := range t.c.Processes {
			p := &t.c.Processes[i]
			rows = append(rows, t.row(p, p.Comm))
		}
		return rows
	}
	seen := map[int]bool{}
	var walk func(pid int, prefix string, last, root bool)
	walk = func(pid int, prefix string, last, root bool) {
		p := t.byPID[pid]
		if p == nil || seen[pid] {
			return
		}
		seen[pid] = true
		kids := t.children[pid]
		mark := "  "
		if len(kids) > 0 {
			if t.expanded[pid] {
				mark = "▾ "
			} else {
				mark = "▸ "
			}
		}
		branch, next := "", prefix
		if !root {
			if last {
				branch, next = "└─", prefix+"  "
			} else {
				branch, next = "├─", prefix+"│ "
			}
		}
		name := prefix + branch + mark + p.Comm
		if len(kids) > 0 && !t.expanded[pid] {
			name += fmt.Sprintf(" (+%d)", t.descendants(pid))
		}
		rows = append(rows, t.row(p, name))
		if !t.expanded[pid] {
			return
		}
		kids = t.sorted(kids)
		for i, ch := range kids {
			walk(ch, next, i == len(kids)-1, false)
		}
	}
	for _, r := range t.sorted(t.c.Roots()) {
		walk(r, "", true, true)
	}
	return rows
}

// setSort sorts siblings by column col (-1: as the checkpoint lists them).
func (t procTree) setSort(col int, desc bool) { *t.sort = treeSort{col: col, desc: desc} }

// sorted returns pids ordered by the sort column, the same way the table sorts its rows.
func (t procTree) sorted(pids []int) []int {
	col := t.sort.col
	cols := procColumns()
	if col < 0 || col >= len(cols) || len(pids) < 2 {
		return pids
	}
	key := func(pid int) string {
		p := t.byPID[pid]
		if p == nil {
			return ""
		}
		r := t.row(p, p.Comm)
		if col < len(r.Keys) {
			return r.Keys[col]
		}
		return r.Cells[col]
	}
	out := slices.Clone(pids)
	slices.SortStableFunc(out, func(a, b int) int {
		ka, kb := key(a), key(b)
		var r int
		if cols[col].Numeric {
			na, _ := strconv.ParseFloat(ka, 64)
			nb, _ := strconv.ParseFloat(kb, 64)
			r = cmp.Compare(na, nb)
		} else {
			r = strings.Compare(ka, kb)
		}
		if t.sort.desc {
			r = -r
		}
		return r
	})
	return out
}

func (t procTree) descendants(pid int) int {
	n := 0
	seen := map[int]bool{pid: true}
	stack := append([]int(nil), t.children[pid]...)
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[p] {
			continue
		}
		seen[p] = true
		n++
		stack = append(stack, t.children[p]...)
	}
	return n
}

// toggle expands or collapses pid; collapse on a leaf or collapsed node reports its parent
// so the cursor can move there (like a file manager).
func (t procTree) setExpanded(pid int, on bool) (moveTo int) {
	if len(t.children[pid]) == 0 || (!on && !t.expanded[pid]) {
		if !on {
			if p := t.byPID[pid]; p != nil && t.byPID[p.PPID] != nil {
				return p.PPID
			}
		}
		return 0
	}
	t.expanded[pid] = on
	return 0
}

func (t procTree) setAll(on bool) {
	for pid := range t.children {
		if on {
			t.expanded[pid] = true
		} else {
			delete(t.expanded, pid)
		}
	}
}

package checkpoint

import (
	"fmt"
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
}

func newProcTree(c *forensics.Checkpoint) procTree {
	t := procTree{c: c, byPID: processByPID(c), children: childrenOf(c), expanded: map[int]bool{}, depth: map[int]int{}}
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
		{Title: "PID", Right: true, Numeric: true}, {Title: "PROCESS", Max: 40},
		{Title: "UID", Right: true, Numeric: true}, {Title: "THR", Right: true, Numeric: true},
		{Title: "STATE"}, {Title: "FDS", Right: true, Numeric: true}, {Title: "COMMAND", Flex: true},
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
		for i, ch := range kids {
			walk(ch, next, i == len(kids)-1, false)
		}
	}
	for _, r := range t.c.Roots() {
		walk(r, "", true, true)
	}
	return rows
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

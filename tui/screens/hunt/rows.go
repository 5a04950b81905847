package hunt

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/tui/components/frame"
	"github.com/podsleuth/podsleuth/tui/components/table"
)

const (
	colName = iota
	colNode
	colState
	colSeverity
	colFindings
	colHits
	colBytes
	colTime
)

var columns = []table.Column{{Title: "NODE / CONTAINER", Flex: true, Min: 16}, {Title: "NODE", Max: 24}, {Title: "STATE", Max: 40},
	{Title: "SEVERITY"}, {Title: "FINDINGS", Right: true, Numeric: true}, {Title: "HITS", Right: true, Numeric: true},
	{Title: "ARCHIVE", Right: true, Numeric: true}, {Title: "TIME", Right: true, Numeric: true}}

// severityRank orders severities for sorting ("" and failures last in a descending sort).
var severityRank = map[string]int{"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}

type nodeRow struct {
	name          string
	order         int
	total         int
	state         string
	err           error
	start, end    time.Time
	targets       []string // pod keys, in plan order
	skippedReason string
}

type podRow struct {
	key, node  string
	target     cluster.Target
	order      int
	phase      string
	start, end time.Time
	out        *cluster.HuntOutcome
	skipped    string
}

func podKey(node string, t cluster.Target) string { return node + "\x00" + t.String() }

// seed fills the rows from the plan: every container waiting, the skipped ones named.
func (m *Model) seed() {
	n := 0
	for i, nd := range m.plan.Nodes {
		nr := &nodeRow{name: nd.Name, order: i, total: len(nd.Targets), state: "waiting"}
		m.nodes[nd.Name] = nr
		for _, t := range nd.Targets {
			k := podKey(nd.Name, t)
			m.pods[k] = &podRow{key: k, node: nd.Name, target: t, order: n, phase: "waiting"}
			nr.targets = append(nr.targets, k)
			n++
		}
	}
	for _, s := range m.plan.Skipped {
		k := podKey(s.Node, s.Target)
		m.pods[k] = &podRow{key: k, node: s.Node, target: s.Target, order: n, skipped: s.Reason}
		n++
	}
	m.refresh()
}

// apply folds one event into the rows.
func (m *Model) apply(e cluster.HuntEvent) {
	if e.Target == nil {
		n := m.nodes[e.Node]
		if n == nil {
			n = &nodeRow{name: e.Node, order: len(m.nodes), state: "waiting"}
			m.nodes[e.Node] = n
		}
		switch {
		case e.Err != nil:
			n.state, n.err, n.end = "FAILED", e.Err, e.Time
		case e.Phase == "analyzer":
			n.state, n.start = "starting analyzer", e.Time
		case e.Phase == "stopped":
			n.state, n.end = "stopped", e.Time
		default:
			n.state = e.Phase
		}
		return
	}
	k := podKey(e.Node, *e.Target)
	p := m.pods[k]
	if p == nil {
		p = &podRow{key: k, node: e.Node, target: *e.Target, order: len(m.pods)}
		m.pods[k] = p
		if n := m.nodes[e.Node]; n != nil {
			n.targets = append(n.targets, k)
		}
	}
	if p.start.IsZero() || (p.phase == "waiting" && !e.Time.IsZero()) {
		p.start = e.Time
	}
	if e.Outcome != nil {
		o := *e.Outcome
		p.out, p.phase = &o, "done"
		if !e.Time.IsZero() {
			p.end = e.Time
		}
		return
	}
	if p.out == nil {
		p.phase = e.Phase
	}
}

func human(n int64) string {
	if n <= 0 {
		return "-"
	}
	return forensics.HumanBytes(n)
}

func dur(a, b time.Time) (string, string) {
	if a.IsZero() || b.IsZero() || b.Before(a) {
		return "-", ""
	}
	d := b.Sub(a)
	r := d.Round(100 * time.Millisecond)
	if d >= time.Minute {
		r = d.Round(time.Second)
	}
	return r.String(), strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

func (p *podRow) cells() table.Row {
	r := table.Row{Key: p.key, Cells: []string{"  " + p.target.String(), p.node, p.phase, "-", "-", "-", "-", "-"}, Keys: make([]string, len(columns))}
	r.Keys[colName] = fmt.Sprintf("%s\x00%06d", p.node, p.order+1)
	r.Keys[colSeverity] = "0"
	switch {
	case p.skipped != "":
		r.Cells[colState], r.Tone = "skipped: "+p.skipped, table.Muted
		r.Keys[colSeverity] = "-1"
		return r
	case p.out == nil:
		if p.phase == "waiting" || p.phase == "interrupted" {
			r.Tone = table.Muted
		}
		return r
	}
	o := p.out
	r.Cells[colTime], r.Keys[colTime] = dur(p.start, p.end)
	if o.Error != "" || o.Err != nil {
		msg := o.Error
		if msg == "" {
			msg = o.Err.Error()
		}
		r.Cells[colState], r.Tone = "FAILED "+o.Class+": "+msg, table.Warn
		r.Keys[colSeverity] = "-1"
		if o.Class == "interrupted" {
			r.Cells[colState], r.Tone = "interrupted", table.Muted
		}
		return r
	}
	r.Cells[colState] = "analysed"
	if o.Evidence != "" {
		r.Cells[colState] = "pulled " + o.Evidence
	} else if o.OnNode {
		r.Cells[colState] = "analysed (archive on node)"
	}
	res := o.Result
	if res == nil {
		return r
	}
	if res.Severity != "" {
		r.Cells[colSeverity] = strings.ToUpper(res.Severity)
		r.Keys[colSeverity] = strconv.Itoa(severityRank[res.Severity])
		switch res.Severity {
		case "critical", "high":
			r.Tone = table.Danger
		case "medium":
			r.Tone = table.Warn
		}
	} else {
		r.Cells[colSeverity], r.Tone = "clean", table.Good
	}
	hits := 0
	for _, y := range res.Yara {
		hits += y.Hits
	}
	for _, pt := range res.Patterns {
		hits += pt.Hits
	}
	r.Cells[colFindings] = strconv.Itoa(len(res.Findings))
	r.Cells[colHits] = strconv.Itoa(hits)
	r.Cells[colBytes], r.Keys[colBytes] = human(res.Size), strconv.FormatInt(res.Size, 10)
	if res.Error != "" {
		r.Cells[colState], r.Tone = "partial ("+res.Stage+"): "+res.Error, table.Warn
	}
	return r
}

func (m *Model) nodeCells(n *nodeRow) table.Row {
	r := table.Row{Key: "node\x00" + n.name, Cells: []string{"node " + n.name, n.name, n.state, "-", "-", "-", "-", "-"}, Keys: make([]string, len(columns))}
	r.Keys[colName] = fmt.Sprintf("%s\x00%06d", n.name, 0)
	r.Keys[colSeverity] = "0"
	done, findings, hits, worst := 0, 0, 0, 0
	var bytes int64
	for _, k := range n.targets {
		p := m.pods[k]
		if p == nil || p.out == nil {
			continue
		}
		done++
		pr := p.cells()
		findings += atoi(pr.Cells[colFindings])
		hits += atoi(pr.Cells[colHits])
		bytes += int64(atoi(pr.Keys[colBytes]))
		if s := atoi(pr.Keys[colSeverity]); s > worst {
			worst = s
		}
	}
	r.Cells[colState] = fmt.Sprintf("%s %d/%d", n.state, done, n.total)
	if n.err != nil {
		r.Cells[colState], r.Tone = "analyzer FAILED: "+n.err.Error(), table.Danger
	}
	for sev, rank := range severityRank {
		if rank == worst {
			r.Cells[colSeverity], r.Keys[colSeverity] = strings.ToUpper(sev), strconv.Itoa(rank)
		}
	}
	if done > 0 {
		r.Cells[colFindings], r.Cells[colHits] = strconv.Itoa(findings), strconv.Itoa(hits)
		r.Cells[colBytes], r.Keys[colBytes] = human(bytes), strconv.FormatInt(bytes, 10)
	}
	r.Cells[colTime], r.Keys[colTime] = dur(n.start, n.end)
	if r.Tone == table.Normal {
		r.Tone = table.Heading
	}
	return r
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// refresh rebuilds the table's rows: each node, then its containers, in plan order; then the
// skipped containers.
func (m *Model) refresh() {
	var rows []table.Row
	nodes := make([]*nodeRow, len(m.nodes))
	extra := 0
	for _, n := range m.nodes {
		if n.order < len(nodes) && nodes[n.order] == nil {
			nodes[n.order] = n
		} else {
			nodes = append(nodes, n)
			extra++
		}
	}
	seen := map[string]bool{}
	for _, n := range nodes {
		if n == nil {
			continue
		}
		rows = append(rows, m.nodeCells(n))
		for _, k := range n.targets {
			rows = append(rows, m.pods[k].cells())
			seen[k] = true
		}
	}
	var rest []*podRow
	for k, p := range m.pods {
		if !seen[k] {
			rest = append(rest, p)
		}
	}
	sortPods(rest)
	for _, p := range rest {
		rows = append(rows, p.cells())
	}
	m.tbl.SetRows(rows)
}

func sortPods(ps []*podRow) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].order < ps[j-1].order; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// planLines says what the hunt will do: the selection, the counts per node, the skipped,
// then what it runs (Describe).
func (m *Model) planLines() []string {
	p := m.plan
	l := []string{fmt.Sprintf("Context %s, %s: %d containers on %d nodes.", p.Context, p.Selection, p.Targets(), len(p.Nodes))}
	for i, nd := range p.Nodes {
		if i == 6 && len(p.Nodes) > 7 {
			l = append(l, fmt.Sprintf("  … and %d more nodes", len(p.Nodes)-6))
			break
		}
		l = append(l, fmt.Sprintf("  node %s: %d containers", nd.Name, len(nd.Targets)))
	}
	if len(p.Skipped) > 0 {
		l = append(l, fmt.Sprintf("  %d skipped (not running, not scheduled, or no such container)", len(p.Skipped)))
	}
	l = append(l, m.cfg.Describe...)
	for i := range l {
		l[i] = forensics.Printable(l[i])
	}
	return l
}

func (m *Model) headerLines() int {
	if m.state == Planning {
		return 2
	}
	return 3
}

func (m *Model) relayout() { m.SetSize(m.w, m.h) }

// View renders the summary lines and the table.
func (m *Model) View() string {
	head := []string{m.th.Title.Render("Hunt") + "  " + m.stateLine()}
	if m.plan != nil {
		total, done, matched, failed := m.plan.Targets(), 0, 0, 0
		for _, p := range m.pods {
			if p.out == nil {
				continue
			}
			done++
			if p.out.Matched {
				matched++
			}
			if p.out.Error != "" || p.out.Err != nil {
				failed++
			}
		}
		sel := forensics.Printable(fmt.Sprintf("ctx %s, %s", m.plan.Context, m.plan.Selection))
		head = append(head, fmt.Sprintf("  %d/%d done · %d pulled · %d failed · %d skipped · %d nodes · %s",
			done, total, matched, failed, len(m.plan.Skipped), len(m.plan.Nodes), sel))
	}
	head = append(head, "")
	if len(head) > m.headerLines() {
		head = head[:m.headerLines()]
	}
	body := strings.Split(m.tbl.View(), "\n")
	return frame.Lines(append(head, body...), m.w, m.h)
}

func (m *Model) stateLine() string {
	s := stateText[m.state]
	switch m.state {
	case Cancelling:
		return m.th.Warning.Render(s)
	case Declined:
		if m.err != nil {
			return m.th.Danger.Render("no plan: " + forensics.Printable(m.err.Error()))
		}
		return m.th.Warning.Render(s + " (enter asks again)")
	case Planned:
		return m.th.Accent.Render(s)
	case Done:
		if m.rep != nil {
			s = "done: hunt " + m.rep.ID
			if m.rep.Interrupted {
				s = "cancelled: hunt " + m.rep.ID + ", results so far kept"
			}
			if len(m.rep.CleanupErrors) > 0 {
				return m.th.Danger.Render(s + "; LEFT BEHIND: " + forensics.Printable(strings.Join(m.rep.CleanupErrors, "; ")))
			}
			return m.th.OK.Render(s)
		}
		if m.err != nil {
			return m.th.Danger.Render("failed: " + forensics.Printable(m.err.Error()))
		}
	}
	return s
}

package tui

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	tea "charm.land/bubbletea/v2"
	"github.com/spf13/pflag"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/evidence"
	fhunt "github.com/podsleuth/podsleuth/forensics/hunt"
	"github.com/podsleuth/podsleuth/tui/components/table"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/screens/confirm"
	"github.com/podsleuth/podsleuth/tui/screens/hunt"
	"github.com/podsleuth/podsleuth/tui/screens/list"
	"github.com/podsleuth/podsleuth/tui/screens/pods"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// HuntArgs are the `:hunt` command's arguments, spelled as `podsleuth hunt`'s flags: the
// selection (-n NS, -A, -l SELECTOR, -c CONTAINER, or NS/POD[/CONTAINER]...) and what runs
// (--image, --rules, --pattern, --pull-on-match, --keep, --cpu, --memory, --per-node,
// --concurrency).
type HuntArgs struct {
	Sel         cluster.HuntSelection
	Image       string
	Rules       []string
	Patterns    []string
	PullOnMatch *forensics.Severity
	Keep        bool
	CPU, Memory string
	PerNode     int
	Concurrency int
}

// ParseHuntArgs parses `:hunt`'s arguments (no I/O: rule files are read when the plan is made).
func ParseHuntArgs(arg, defaultNS string, concurrency int) (HuntArgs, error) {
	var a HuntArgs
	fs := pflag.NewFlagSet("hunt", pflag.ContinueOnError)
	fs.SetOutput(discard{})
	ns := fs.StringP("namespace", "n", defaultNS, "")
	fs.BoolVarP(&a.Sel.AllNamespaces, "all-namespaces", "A", false, "")
	fs.StringVarP(&a.Sel.Selector, "selector", "l", "", "")
	fs.StringVarP(&a.Sel.Container, "container", "c", "", "")
	fs.StringVar(&a.Image, "image", os.Getenv("PODSLEUTH_ANALYZER_IMAGE"), "")
	fs.StringArrayVar(&a.Rules, "rules", nil, "")
	fs.StringArrayVar(&a.Patterns, "pattern", nil, "")
	pull := fs.String("pull-on-match", "", "")
	fs.BoolVar(&a.Keep, "keep", false, "")
	fs.StringVar(&a.CPU, "cpu", "1", "")
	fs.StringVar(&a.Memory, "memory", "1Gi", "")
	fs.IntVar(&a.PerNode, "per-node", 1, "")
	fs.IntVar(&a.Concurrency, "concurrency", concurrency, "")
	if err := fs.Parse(strings.Fields(arg)); err != nil {
		return a, fmt.Errorf(":hunt: %w", err)
	}
	if len(fs.Args()) > 0 {
		a.Sel.Pods = fs.Args()
	}
	if !a.Sel.AllNamespaces {
		a.Sel.Namespaces = []string{*ns}
	} else if len(a.Sel.Pods) > 0 {
		return a, errors.New(":hunt: give pods as NAMESPACE/POD or -A with a selector, not both")
	}
	if !strings.Contains(a.Image, "@sha256:") {
		return a, fmt.Errorf(":hunt: the analyzer image must be pinned by digest (--image NAME@sha256:... or PODSLEUTH_ANALYZER_IMAGE), got %q", a.Image)
	}
	if *pull != "" {
		s, err := fhunt.ParseSeverity(*pull)
		if err != nil {
			return a, fmt.Errorf(":hunt --pull-on-match: %w", err)
		}
		a.PullOnMatch = &s
	}
	if _, _, err := cluster.HuntLimits(a.CPU, a.Memory); err != nil {
		return a, fmt.Errorf(":hunt %w", err)
	}
	if a.PerNode < 1 || a.Concurrency < 1 {
		return a, errors.New(":hunt: --per-node and --concurrency must be positive")
	}
	for _, p := range a.Patterns {
		if _, err := fhunt.ParsePattern(p); err != nil {
			return a, fmt.Errorf(":hunt --pattern: %w", err)
		}
	}
	return a, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

var huntSeq atomic.Int64

// huntView is `:hunt ARGS`: refused read-only (as every mutation), else the Hunt view.
func (s *ClusterSession) huntView(arg string, th theme.Theme, km keys.Map, readonly bool) (nav.Page, tea.Cmd, error) {
	if readonly {
		return nil, nav.Err(fmt.Errorf("hunt: %w", pods.ErrReadonly), "start podsleuth without --readonly (or readonly: false in the config) to hunt"), nil
	}
	a, err := ParseHuntArgs(arg, s.Conn.Namespace, s.cfg.Cluster.Concurrency)
	if err != nil {
		return nil, nav.Err(err, "e.g. :hunt -n NS -l app=web --image REPO@sha256:... --pattern TEXT --rules FILE.yar"), nil
	}
	cfg, conn, version := s.cfg, s.Conn, s.version
	var rules []fhunt.Rule
	var patterns []fhunt.Pattern
	for _, p := range a.Patterns {
		pat, _ := fhunt.ParsePattern(p)
		patterns = append(patterns, pat)
	}
	plan := func(ctx context.Context) (*cluster.HuntPlan, error) {
		var err error
		if rules, err = readHuntRules(a.Rules); err != nil {
			return nil, err
		}
		return conn.PlanHunt(ctx, a.Sel)
	}
	run := func(ctx context.Context, p *cluster.HuntPlan, events func(cluster.HuntEvent)) (*cluster.HuntReport, error) {
		hc := cluster.NewHuntConfig(cfg, version)
		hc.Plan, hc.Image, hc.Rules, hc.Patterns, hc.Events = p, a.Image, rules, patterns, events
		var err error
		if hc.CPU, hc.Memory, err = cluster.HuntLimits(a.CPU, a.Memory); err != nil {
			return nil, err
		}
		hc.PerNode, hc.Concurrency, hc.PullOnMatch, hc.Keep = a.PerNode, a.Concurrency, a.PullOnMatch, a.Keep
		return cluster.Hunt(ctx, conn, hc)
	}
	pull, left := "never (results only)", "deleted from the nodes"
	if a.PullOnMatch != nil {
		pull = "archives whose result reaches " + a.PullOnMatch.String()
	}
	if a.Keep {
		left = "kept on the nodes (--keep)"
	}
	describe := []string{
		"",
		"Each node's containers are checkpointed one at a time (the container keeps running) and",
		"analysed on the node by one analyzer Job; only results come back.",
		"YARA: " + orNone(a.Rules) + "; patterns: " + orNone(a.Patterns),
		"Pull: " + pull + "; other archives: " + left,
		fmt.Sprintf("Analyzer %s, cpu %s, memory %s; %d per node, %d across the cluster", a.Image, a.CPU, a.Memory, a.PerNode, a.Concurrency),
	}
	id := "hunt-" + strconv.FormatInt(huntSeq.Add(1), 10)
	hcfg := hunt.Config{Plan: plan, Run: run, Describe: describe,
		Confirm: func(p *cluster.HuntPlan, lines []string, yes func() tea.Cmd) tea.Cmd {
			title := fmt.Sprintf("Hunt: checkpoint and analyse %d containers on %d nodes?", p.Targets(), len(p.Nodes))
			return nav.Push(confirm.New(title, lines, yes, th, km))
		},
		Open: func(o cluster.HuntOutcome) tea.Cmd { return nav.Push(s.huntResult(o, th, km)) },
	}
	return nav.Wrap(hunt.New(id, hcfg, th, km)), nil, nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// readHuntRules reads YARA rule files (directories: their .yar and .yara files).
func readHuntRules(paths []string) ([]fhunt.Rule, error) {
	var out []fhunt.Rule
	for _, p := range paths {
		err := filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			ext := strings.ToLower(filepath.Ext(q))
			if d.IsDir() || (q != p && ext != ".yar" && ext != ".yara") {
				return nil
			}
			b, err := os.ReadFile(q)
			if err != nil {
				return err
			}
			out = append(out, fhunt.Rule{Name: filepath.Base(q), Source: string(b)})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("--rules: %w", err)
		}
	}
	return out, nil
}

// huntResult is one container's result as lines; enter on the evidence line opens the pulled
// archive (the open job).
func (s *ClusterSession) huntResult(o cluster.HuntOutcome, th theme.Theme, km keys.Map) *list.Model {
	rows := HuntResultRows(o)
	load := func(context.Context) ([]table.Row, error) { return rows, nil }
	cfg := s.cfg
	open := func(r table.Row) tea.Cmd {
		if r.Key != "evidence" || o.Evidence == "" {
			return nav.Status("enter on the evidence line opens the pulled archive")
		}
		return func() tea.Msg {
			st, err := evidence.OpenConfig(cfg)
			if err != nil {
				return nav.ErrMsg{Err: err}
			}
			it, err := st.Get(o.Evidence)
			if err != nil {
				return nav.ErrMsg{Err: fmt.Errorf("evidence %s: %w", o.Evidence, err)}
			}
			return nav.OpenCheckpointMsg{Path: it.Archive, Label: o.Target.String()}
		}
	}
	return list.New("hunt-result/"+o.Node+"/"+o.Target.String(), "result "+o.Target.String(), []table.Column{{Title: "RESULT", Flex: true}}, load, open, "open the pulled archive", th, km)
}

// HuntResultRows renders a container's hunt result as lines.
func HuntResultRows(o cluster.HuntOutcome) []table.Row {
	var rows []table.Row
	add := func(tone table.Tone, f string, a ...any) {
		rows = append(rows, table.Row{Key: strconv.Itoa(len(rows)), Cells: []string{fmt.Sprintf(f, a...)}, Tone: tone})
	}
	add(table.Heading, "%s on node %s", o.Target, o.Node)
	if o.Error != "" {
		add(table.Danger, "failed (%s): %s", o.Class, o.Error)
	}
	if o.Evidence != "" {
		rows = append(rows, table.Row{Key: "evidence", Cells: []string{"pulled as evidence " + o.Evidence + " (enter opens the archive)"}, Tone: table.Good})
	} else if o.OnNode {
		add(table.Warn, "archive left on the node: %s %s", o.NodePath, o.Cleanup)
	}
	res := o.Result
	if res == nil {
		return rows
	}
	sev := res.Severity
	if sev == "" {
		sev = "nothing found"
	}
	add(table.Normal, "severity %s · archive %s, sha256 %s", sev, forensics.HumanBytes(res.Size), res.SHA256)
	add(table.Normal, "%d processes, %s of memory · checkpoint %s, analysis %s, peak RSS %s", res.Processes, forensics.HumanBytes(res.MemoryBytes),
		o.Checkpoint.Round(1e6), res.Timings.Total.Round(1e6), forensics.HumanBytes(res.PeakRSS))
	if res.Error != "" {
		add(table.Warn, "partial (%s): %s", res.Stage, res.Error)
	}
	add(table.Muted, "")
	add(table.Heading, "Findings (%d)", len(res.Findings))
	for _, f := range res.Findings {
		tone := table.Normal
		if f.Severity >= forensics.SeverityHigh {
			tone = table.Danger
		}
		pid := ""
		if f.PID > 0 {
			pid = fmt.Sprintf(" (pid %d)", f.PID)
		}
		add(tone, "  %-8s %s: %s%s", strings.ToUpper(f.Severity.String()), f.Rule, f.Title, pid)
	}
	if len(res.Yara) > 0 || len(res.Patterns) > 0 {
		add(table.Muted, "")
		add(table.Heading, "Rule and pattern hits")
		for _, y := range res.Yara {
			add(table.Danger, "  yara %s: %d hits", y.Rule, y.Hits)
		}
		for _, p := range res.Patterns {
			tone := table.Muted
			if p.Hits > 0 {
				tone = table.Danger
			}
			add(tone, "  pattern %s: %d hits %s", p.Pattern, p.Hits, p.First)
		}
	}
	add(table.Muted, "")
	add(table.Heading, "Indicators (%d)", len(res.Indicators))
	for _, in := range res.Indicators {
		add(table.Normal, "  %-8s %s ×%d", in.Type, in.Value, in.Count)
	}
	for _, w := range res.Warnings {
		add(table.Warn, "warning: %s", w)
	}
	return rows
}

// Hunts running in the App: ctrl+c and q cancel them (the hunt cleans up) instead of quitting,
// and a hunt view closed while running (another view replaced it) is waited for.
type (
	interrupter interface{ Interrupt() (tea.Cmd, bool) }
	busy        interface{ Busy() bool }
)

// interruptRunning cancels the running hunt nearest the top, or says a closed one is still
// cleaning up; false when nothing runs and quitting may go on.
func (a *App) interruptRunning() (tea.Cmd, bool) {
	for i := len(a.stack) - 1; i >= 0; i-- {
		if it, ok := a.stack[i].Unwrap().(interrupter); ok {
			if cmd, ok := it.Interrupt(); ok {
				return cmd, true
			}
		}
	}
	live := a.bg[:0]
	for _, b := range a.bg {
		if b.Busy() {
			live = append(live, b)
		}
	}
	a.bg = live
	if len(live) > 0 {
		return nav.Status("a cancelled hunt is still cleaning up what it created (Jobs, pods, archives): wait, then quit"), true
	}
	return nil, false
}

// keepIfBusy remembers a closed screen whose work still runs (a cancelled hunt cleaning up).
func (a *App) keepIfBusy(p nav.Page) {
	if b, ok := p.Unwrap().(busy); ok && b.Busy() {
		a.bg = append(a.bg, b)
	}
}

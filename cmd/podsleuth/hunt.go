package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/hunt"
)

// huntOptions are the options of `podsleuth hunt`.
type huntOptions struct {
	common
	allNamespaces bool
	selector      string
	container     string
	image         string
	rules         []string
	patterns      []string
	pullOnMatch   string
	keep          bool
	cpu, memory   string
	timeout       time.Duration
	ckTimeout     time.Duration
	perNode       int
	concurrency   int
	startTimeout  time.Duration
	yes           bool
	quiet         bool
	namespace     string
	collectorNS   string
	collectorImg  string
	contexts      []string // --context (repeatable), then --contexts
	contextList   []string
	perContextNS  bool

	connect func(context.Context) ([]*cluster.Conn, error)
	// built by Validate
	sel      cluster.HuntSelection
	pull     *forensics.Severity
	ruleSrc  []hunt.Rule
	huntPats []hunt.Pattern
}

func newHuntCmd(a *app) *cobra.Command {
	o := &huntOptions{common: common{formats: []string{"text", "json"}}}
	cmd := &cobra.Command{
		Use:   "hunt [NAMESPACE/]POD[/CONTAINER]...",
		Short: "Hunt across the fleet: analyse checkpoints on their nodes, only results come back",
		Long: `hunt checkpoints every selected container (a namespace, -A, a label selector, or a list of pods)
and analyses each archive ON ITS NODE: one analyzer Job per node (the analyzer image, pinned by
digest, with the checkpoint directory mounted read-only, no token, a read-only root filesystem, CPU
and memory limits) runs the same analysis as the local triage (findings, indicators, and the YARA
rules and memsearch patterns given here) and prints a small result per container. Only results
cross the API server; they are signed on receipt into the evidence store as a hunt.

Checkpoints run in waves: at most --per-node at a time on one node (1: a node never has more than
one container frozen) and --concurrency across the cluster. --pull-on-match SEVERITY pulls the
archives whose result reaches it (with their custody); every other archive is deleted from its node
unless --keep. The plan (pods, nodes, rules) is printed and must be confirmed (or --yes). Ctrl-C
stops new work, deletes every Job, pod and archive the hunt created and keeps the results so far.
A container that cannot be checkpointed or analysed is a named result; the hunt goes on.`,
		Example: `  podsleuth hunt -n shop -l app=web --image REGISTRY/podsleuth-analyzer@sha256:... --rules ir.yar
  podsleuth hunt -A --pattern 'regex:stratum\+tcp://' --pull-on-match high --yes
  podsleuth hunt shop/web-1 shop/web-2/app --pattern AKIAIOSFODNN7EXAMPLE
  podsleuth hunt --context prod-eu --context prod-us -n shop -l app=web --pattern AKIAIOSFODNN7EXAMPLE`,
		Args: cobra.ArbitraryArgs,
		RunE: runE(a, o),
	}
	f := cmd.Flags()
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "hunt in every namespace")
	f.StringVarP(&o.selector, "selector", "l", "", "only pods matching this label selector")
	f.StringVarP(&o.container, "container", "c", "", "only this container of each pod (default: every running container)")
	f.StringVar(&o.image, "image", os.Getenv("PODSLEUTH_ANALYZER_IMAGE"), "the analyzer image, pinned by digest (NAME@sha256:...; `podsleuth hunt image build`; env PODSLEUTH_ANALYZER_IMAGE)")
	f.StringArrayVar(&o.rules, "rules", nil, "YARA rule file or directory of .yar/.yara files (repeatable)")
	f.StringArrayVar(&o.patterns, "pattern", nil, `memsearch pattern (repeatable): TEXT, "iliteral:TEXT", "regex:RE", "iregex:RE" or "hex:90 ?? 4d"; a hit is a high match`)
	f.StringVar(&o.pullOnMatch, "pull-on-match", "", "pull the archives whose result reaches this severity (info, low, medium, high, critical)")
	f.BoolVar(&o.keep, "keep", false, "leave the archives that are not pulled on their nodes")
	f.StringVar(&o.cpu, "cpu", "1", "CPU limit of each node's analyzer")
	f.StringVar(&o.memory, "memory", "1Gi", "memory limit of each node's analyzer")
	f.DurationVar(&o.timeout, "timeout-per-archive", hunt.DefaultTimeout, "time budget of each archive's analysis")
	f.DurationVar(&o.ckTimeout, "checkpoint-timeout", 0, "checkpoint timeout passed to the kubelet (default cluster.checkpoint_timeout)")
	f.IntVar(&o.perNode, "per-node", 1, "checkpoints (and analyses) in flight on one node")
	f.IntVar(&o.concurrency, "concurrency", 0, "checkpoints in flight across the cluster (default cluster.concurrency)")
	f.DurationVar(&o.startTimeout, "start-timeout", 2*time.Minute, "how long an analyzer, collector or cleaner pod may take to start")
	f.StringVar(&o.collectorNS, "collector-namespace", "", "namespace of the analyzer Jobs and collector pods (default cluster.collector_namespace)")
	f.StringVar(&o.collectorImg, "collector-image", "", "image of the collector and cleaner pods (default cluster.collector_image)")
	// --context shadows the kubectl-style flag for this command: repeatable
	f.StringArrayVar(&o.contexts, "context", nil, "kubeconfig context to hunt in (repeatable: one plan and one connection per context, one hunt)")
	f.StringSliceVar(&o.contextList, "contexts", nil, "kubeconfig contexts to hunt in, comma-separated (as --context repeated)")
	f.BoolVarP(&o.yes, "yes", "y", false, "do not ask before acting")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress on stderr")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	cmd.AddCommand(newHuntImageCmd(a))
	return cmd
}

func (o *huntOptions) Complete(a *app, cmd *cobra.Command, args []string) error {
	if err := o.common.Complete(a, cmd, args); err != nil {
		return err
	}
	o.contexts = uniq(append(o.contexts, o.contextList...))
	if len(o.contexts) == 1 {
		a.kube.Context = &o.contexts[0]
	}
	o.namespace = a.defaultNamespace()
	o.connect = func(ctx context.Context) ([]*cluster.Conn, error) { return a.connectContexts(ctx, cmd, o.contexts) }
	o.sel = cluster.HuntSelection{AllNamespaces: o.allNamespaces, Selector: o.selector, Pods: args, Container: o.container}
	if !o.allNamespaces {
		o.sel.Namespaces = []string{o.namespace}
	}
	// several contexts: each its own default namespace unless -n names one
	o.perContextNS = len(o.contexts) > 1 && !o.allNamespaces && !cmd.Flags().Changed("namespace")
	if o.ckTimeout == 0 {
		o.ckTimeout = o.cfg.Cluster.CheckpointTimeout
	}
	if o.concurrency == 0 {
		o.concurrency = o.cfg.Cluster.Concurrency
	}
	if o.collectorNS == "" {
		o.collectorNS = o.cfg.Cluster.CollectorNamespace
	}
	if o.collectorImg == "" {
		o.collectorImg = o.cfg.Cluster.CollectorImage
	}
	return nil
}

func (o *huntOptions) Validate() error {
	if err := o.common.Validate(); err != nil {
		return err
	}
	if o.allNamespaces && len(o.args) > 0 {
		return errors.New("give pods as NAMESPACE/POD or -A with a selector, not both")
	}
	if !strings.Contains(o.image, "@sha256:") {
		return fmt.Errorf("--image %q: the analyzer image must be pinned by digest (NAME@sha256:...); build it with `podsleuth hunt image build` or `make analyzer-image`", o.image)
	}
	if o.pullOnMatch != "" {
		s, err := hunt.ParseSeverity(o.pullOnMatch)
		if err != nil {
			return fmt.Errorf("--pull-on-match: %w", err)
		}
		o.pull = &s
	}
	if _, _, err := cluster.HuntLimits(o.cpu, o.memory); err != nil {
		return err
	}
	if o.timeout <= 0 || o.perNode < 1 || o.concurrency < 1 {
		return errors.New("--timeout-per-archive, --per-node and --concurrency must be positive")
	}
	for _, p := range o.patterns {
		pat, err := hunt.ParsePattern(p)
		if err != nil {
			return fmt.Errorf("--pattern: %w", err)
		}
		o.huntPats = append(o.huntPats, pat)
	}
	var err error
	if o.ruleSrc, err = readRules(o.rules); err != nil {
		return err
	}
	return nil
}

// readRules reads the YARA rule files (directories: their .yar and .yara files), sent to the
// nodes by content.
func readRules(paths []string) ([]hunt.Rule, error) {
	var out []hunt.Rule
	add := func(p string) error {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("--rules: %w", err)
		}
		out = append(out, hunt.Rule{Name: filepath.Base(p), Source: string(b)})
		return nil
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("--rules: %w", err)
		}
		if !st.IsDir() {
			if err := add(p); err != nil {
				return nil, err
			}
			continue
		}
		err = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ext := strings.ToLower(filepath.Ext(q)); !d.IsDir() && (ext == ".yar" || ext == ".yara") {
				return add(q)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("--rules %s: %w", p, err)
		}
	}
	return out, nil
}

func (o *huntOptions) Run(ctx context.Context) error {
	conns, err := o.connect(ctx)
	if err != nil {
		return err
	}
	if conns[0].Readonly {
		return fmt.Errorf("hunt: %w: a hunt checkpoints containers and runs Jobs on the nodes (drop --readonly)", cluster.ErrReadonly)
	}
	var runs []cluster.HuntRun
	total, nodes := 0, 0
	for _, conn := range conns {
		sel := o.sel
		if o.perContextNS {
			sel.Namespaces = []string{conn.Namespace}
		}
		plan, err := conn.PlanHunt(ctx, sel)
		if err != nil {
			if len(conns) > 1 {
				err = fmt.Errorf("context %s: %w", conn.Context, err)
			}
			return err
		}
		o.printPlan(o.ErrOut, plan)
		total, nodes = total+plan.Targets(), nodes+len(plan.Nodes)
		hc := cluster.NewHuntConfig(o.cfg, version)
		hc.Plan, hc.Image, hc.Rules, hc.Patterns = plan, o.image, o.ruleSrc, o.huntPats
		hc.TimeoutPerArchive, hc.CheckpointTimeout = o.timeout, o.ckTimeout
		if hc.CPU, hc.Memory, err = cluster.HuntLimits(o.cpu, o.memory); err != nil {
			return err
		}
		hc.PerNode, hc.Concurrency, hc.StartTimeout = o.perNode, o.concurrency, o.startTimeout
		hc.PullOnMatch, hc.Keep = o.pull, o.keep
		hc.Namespace, hc.CollectorImage = o.collectorNS, o.collectorImg
		if plan.Targets() > 0 {
			runs = append(runs, cluster.HuntRun{Conn: conn, Config: hc})
		}
	}
	o.printRunning(o.ErrOut)
	where := fmt.Sprintf("%d nodes", nodes)
	if len(conns) > 1 {
		var per []string
		for _, r := range runs {
			per = append(per, fmt.Sprintf("%s: %d containers on %d nodes", r.Conn.Context, r.Config.Plan.Targets(), len(r.Config.Plan.Nodes)))
		}
		fmt.Fprintf(o.ErrOut, "contexts: %s\n", listOr(per, "none with a running container"))
		where = fmt.Sprintf("%d nodes in %d contexts", nodes, len(runs))
	}
	if total == 0 {
		return errors.New("hunt: no running container to hunt in (see the skipped list)")
	}
	if !o.yes && !confirm(o.In, o.ErrOut, fmt.Sprintf("Checkpoint and analyse %d containers on %s? [y/N] ", total, where)) {
		return errors.New("hunt: not confirmed (nothing was changed; --yes skips the question)")
	}
	if !o.quiet {
		runs[0].Config.Events = progressLines(o.ErrOut, total, len(conns) > 1)
	}
	rep, err := cluster.HuntContexts(ctx, runs)
	if rep == nil {
		return err
	}
	if o.json() {
		if werr := writeJSON(o.Out, rep); werr != nil {
			return werr
		}
	} else {
		printHunt(o.Out, rep, len(conns) > 1)
	}
	return err
}

func (o *huntOptions) printPlan(w io.Writer, p *cluster.HuntPlan) {
	fmt.Fprintf(w, "hunt plan (context %s, %s): %d containers on %d nodes\n", p.Context, p.Selection, p.Targets(), len(p.Nodes))
	for _, nd := range p.Nodes {
		fmt.Fprintf(w, "  node %s: %d containers\n", forensics.Printable(nd.Name), len(nd.Targets))
		for i, t := range nd.Targets {
			if i == 5 && len(nd.Targets) > 6 {
				fmt.Fprintf(w, "    ... and %d more\n", len(nd.Targets)-5)
				break
			}
			fmt.Fprintf(w, "    %s\n", forensics.Printable(t.String()))
		}
	}
	for _, s := range p.Skipped {
		fmt.Fprintf(w, "  skipped %s: %s\n", forensics.Printable(s.Target.String()), forensics.Printable(s.Reason))
	}
}

// printRunning says what runs in every context: the analysis, the pulls, the analyzer, the waves.
func (o *huntOptions) printRunning(w io.Writer) {
	var rules []string
	for _, r := range o.ruleSrc {
		rules = append(rules, r.Name)
	}
	fmt.Fprintf(w, "  analysis: the triage rules and indicators; YARA: %s; patterns: %s\n", listOr(rules, "none"), listOr(o.patterns, "none"))
	pull := "never (results only)"
	if o.pull != nil {
		pull = "archives whose result reaches " + o.pull.String()
	}
	left := "deleted from the nodes"
	if o.keep {
		left = "kept on the nodes (--keep)"
	}
	fmt.Fprintf(w, "  pull: %s; other archives: %s\n", pull, left)
	fmt.Fprintf(w, "  analyzer: %s, one Job per node in %s, cpu %s, memory %s, %s per archive, runs as uid 0 (the kubelet writes archives 0600 root)\n",
		o.image, o.collectorNS, o.cpu, o.memory, o.timeout)
	fmt.Fprintf(w, "  waves: %d checkpoint(s) at a time per node, %d across the cluster\n", o.perNode, o.concurrency)
}

func listOr(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	return strings.Join(s, ", ")
}

// confirm asks a yes/no question on the streams; only "y" or "yes" says yes.
func confirm(in io.Reader, out io.Writer, q string) bool {
	fmt.Fprint(out, q)
	if in == nil {
		return false
	}
	line, _ := bufio.NewReader(in).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}

// progressLines prints each node's and container's steps, one line each, with a running count.
// With several contexts, each node and container is prefixed with its context.
func progressLines(w io.Writer, total int, tagged bool) func(cluster.HuntEvent) {
	var mu sync.Mutex
	done := 0
	return func(e cluster.HuntEvent) {
		mu.Lock()
		defer mu.Unlock()
		node := forensics.Printable(e.Node)
		if tagged {
			node = forensics.Printable(e.Context) + "/" + node
		}
		if e.Target == nil {
			switch {
			case e.Err != nil:
				fmt.Fprintf(w, "node %s: analyzer FAILED: %s\n", node, forensics.Printable(e.Err.Error()))
			case e.Phase == "analyzer":
				fmt.Fprintf(w, "node %s: starting the analyzer Job\n", node)
			default:
				fmt.Fprintf(w, "node %s: analyzer %s\n", node, e.Phase)
			}
			return
		}
		t := forensics.Printable(e.Target.String())
		if tagged {
			t = forensics.Printable(e.Context) + ": " + t
		}
		if e.Phase != "done" {
			fmt.Fprintf(w, "  %s (%s): %s\n", t, node, e.Phase)
			return
		}
		done++
		o := e.Outcome
		switch {
		case o.Err != nil:
			fmt.Fprintf(w, "[%d/%d] %s: %s: %s\n", done, total, t, o.Class, forensics.Printable(o.Error))
		default:
			sev := o.Severity()
			if sev == "" {
				sev = "nothing found"
			}
			extra := ""
			if o.Evidence != "" {
				extra = ", pulled as " + o.Evidence
			}
			fmt.Fprintf(w, "[%d/%d] %s: %s%s\n", done, total, t, sev, extra)
		}
	}
}

var severityRank = map[string]int{"": -1, "info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

// printHunt prints the outcomes, most severe first, then the failures; tagged adds each
// one's context.
func printHunt(w io.Writer, r *cluster.HuntReport, tagged bool) {
	outs := append([]cluster.HuntOutcome(nil), r.Outcomes...)
	sort.SliceStable(outs, func(i, j int) bool {
		fi, fj := outs[i].Error != "", outs[j].Error != ""
		if fi != fj {
			return !fi
		}
		si, sj := severityRank[outs[i].Severity()], severityRank[outs[j].Severity()]
		if si != sj {
			return si > sj
		}
		return outs[i].Target.String() < outs[j].Target.String()
	})
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	if tagged {
		fmt.Fprint(tw, "CONTEXT\t")
	}
	fmt.Fprintln(tw, "CONTAINER\tNODE\tSEVERITY\tTOP FINDING\tYARA\tPATTERNS\tEVIDENCE\tERROR")
	for _, o := range outs {
		if tagged {
			fmt.Fprintf(tw, "%s\t", forensics.Printable(o.Context))
		}
		sev, top, ya, pa, ev := "-", "-", "-", "-", "-"
		if res := o.Result; res != nil {
			if res.Severity != "" {
				sev = strings.ToUpper(res.Severity)
			}
			if len(res.Findings) > 0 {
				top = res.Findings[0].Rule
			}
			var y, p []string
			for _, h := range res.Yara {
				y = append(y, fmt.Sprintf("%s(%d)", h.Rule, h.Hits))
			}
			for _, h := range res.Patterns {
				if h.Hits > 0 {
					p = append(p, fmt.Sprintf("%s(%d)", h.Pattern, h.Hits))
				}
			}
			ya, pa = listOr(y, "-"), listOr(p, "-")
		}
		if o.Evidence != "" {
			ev = o.Evidence
		}
		msg := "-"
		if o.Error != "" {
			msg = o.Class + ": " + truncateText(o.Error, 160)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", forensics.Printable(o.Target.String()), forensics.Printable(o.Node), sev,
			forensics.Printable(top), forensics.Printable(ya), forensics.Printable(pa), ev, forensics.Printable(msg))
	}
	tw.Flush()
	a, m, f := r.Counts()
	fmt.Fprintf(w, "hunt %s: %d analysed, %d matched, %d failed, %d skipped in %s; stored in %s\n",
		r.ID, a, m, f, len(r.Skipped), r.Ended.Sub(r.Started).Round(time.Millisecond), r.Dir)
	for _, e := range r.CleanupErrors {
		fmt.Fprintf(w, "LEFT BEHIND: %s\n", forensics.Printable(e))
	}
}

// uniq drops repeated and empty names, keeping the first order.
func uniq(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range s {
		if v = strings.TrimSpace(v); v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// connectContexts connects to each named context (one connection each, the other kubeconfig
// flags shared); none named: the current context, as every command.
func (a *app) connectContexts(ctx context.Context, cmd *cobra.Command, names []string) ([]*cluster.Conn, error) {
	if len(names) <= 1 {
		conn, _, err := a.connect(ctx, cmd)
		if err != nil {
			return nil, err
		}
		return []*cluster.Conn{conn}, nil
	}
	cfg, err := a.config(cmd)
	if err != nil {
		return nil, err
	}
	var conns []*cluster.Conn
	for _, name := range names {
		flags := genericclioptions.NewConfigFlags(true)
		flags.KubeConfig, flags.Namespace, flags.Impersonate, flags.ImpersonateGroup, flags.Timeout =
			a.kube.KubeConfig, a.kube.Namespace, a.kube.Impersonate, a.kube.ImpersonateGroup, a.kube.Timeout
		flags.Context = &name
		conn, err := cluster.Connect(ctx, flags, cluster.ConnectOptions{Timeout: cfg.Cluster.ConnectTimeout, Readonly: cfg.Readonly, UserAgent: "podsleuth/" + version})
		if err != nil {
			return nil, fmt.Errorf("context %s: %w", name, err)
		}
		conns = append(conns, conn)
	}
	return conns, nil
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

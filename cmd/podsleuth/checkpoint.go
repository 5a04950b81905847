package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/forensics/evidence"
)

// checkpointOptions are the options of `podsleuth checkpoint`.
type checkpointOptions struct {
	container     string
	allContainers bool
	selector      string
	pull          bool
	timeout       time.Duration
	concurrency   int
	collectorNS   string
	collectorImg  string
	deleteNode    bool
	output        string
	quiet         bool
	existing      string

	namespace string
	pod       string
}

// checkpointOutcome is one line of the result (also the JSON output).
type checkpointOutcome struct {
	Target     cluster.Target            `json:"target"`
	Checkpoint *cluster.CheckpointResult `json:"checkpoint,omitempty"`
	Evidence   *evidence.Item            `json:"evidence,omitempty"`
	Error      string                    `json:"error,omitempty"`
}

func newCheckpointCmd(a *app) *cobra.Command {
	o := &checkpointOptions{}
	cmd := &cobra.Command{
		Use:   "checkpoint [NAMESPACE/]POD",
		Short: "Checkpoint containers silently through the kubelet API (and pull the archives)",
		Long: `Checkpoint a running container without stopping it: POST
/api/v1/nodes/{node}/proxy/checkpoint/{ns}/{pod}/{container} through the API server (the kubelet's
checkpoint API, CRIU underneath). One container (-c), all containers of a pod (--all-containers) or
every pod matching a label selector (-l, bounded concurrency: a whole Deployment in one command).
With --pull each archive is streamed off its node through a short-lived collector pod into the local
evidence store, hashed on the node and locally (they must match), with a custody log.`,
		Example: `  podsleuth checkpoint shop/web-7d9c -c app --pull
  podsleuth checkpoint -n shop -l app=web --pull
  kubectl podsleuth checkpoint shop/web-7d9c --all-containers`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(a, args); err != nil {
				return err
			}
			return o.run(cmd.Context(), a, cmd)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.container, "container", "c", "", "container name (default: the pod's default container)")
	f.BoolVar(&o.allContainers, "all-containers", false, "checkpoint every container of the pod(s)")
	f.StringVarP(&o.selector, "selector", "l", "", "checkpoint every pod matching this label selector")
	f.BoolVar(&o.pull, "pull", false, "pull each archive into the evidence store")
	f.DurationVar(&o.timeout, "timeout", 0, "checkpoint timeout passed to the kubelet (default cluster.checkpoint_timeout)")
	f.IntVar(&o.concurrency, "concurrency", 0, "parallel checkpoints for -l (default cluster.concurrency)")
	f.StringVar(&o.collectorNS, "collector-namespace", "", "namespace of the collector pod (default cluster.collector_namespace)")
	f.StringVar(&o.collectorImg, "collector-image", "", "image of the collector pod (default cluster.collector_image)")
	f.BoolVar(&o.deleteNode, "delete-from-node", false, "delete the archive from the node after a verified pull")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress on stderr")
	f.StringVar(&o.existing, "existing", "", "pull this archive already on the pod's node (a path, or a name in cluster.kubelet_checkpoint_dir) instead of checkpointing")
	return cmd
}

func (o *checkpointOptions) complete(a *app, args []string) error {
	o.namespace = a.defaultNamespace()
	switch {
	case len(args) == 1 && o.selector != "":
		return errors.New("give either a pod or -l SELECTOR, not both")
	case len(args) == 0 && o.selector == "":
		return errors.New("name a pod ([NAMESPACE/]POD) or a label selector (-l)")
	case len(args) == 1:
		var err error
		if o.namespace, o.pod, err = a.podArg(args[0]); err != nil {
			return err
		}
	}
	if o.allContainers && o.container != "" {
		return errors.New("-c and --all-containers exclude each other")
	}
	if o.output != "text" && o.output != "json" {
		return fmt.Errorf("unknown output %q: want text or json", o.output)
	}
	return nil
}

// defaultNamespace is the namespace of -n or of the kubeconfig context, else "default".
func (a *app) defaultNamespace() string {
	ns, _, err := a.kube.ToRawKubeConfigLoader().Namespace()
	if err != nil || ns == "" {
		return "default"
	}
	return ns
}

// podArg parses a [NAMESPACE/]POD argument (the namespace defaults as kubectl's does).
func (a *app) podArg(s string) (ns, pod string, err error) {
	ns, pod = splitNamespacedName(s, a.defaultNamespace())
	if pod == "" {
		return "", "", fmt.Errorf("invalid pod %q: want [NAMESPACE/]POD", s)
	}
	return ns, pod, nil
}

// splitNamespacedName splits "ns/name" (or "name" in the default namespace).
func splitNamespacedName(s, defaultNS string) (string, string) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		if strings.Count(s, "/") != 1 || i == 0 {
			return "", ""
		}
		return s[:i], s[i+1:]
	}
	return defaultNS, s
}

func (o *checkpointOptions) run(ctx context.Context, a *app, cmd *cobra.Command) (err error) {
	conn, cfg, err := a.connect(ctx, cmd)
	if err != nil {
		return err
	}
	if o.timeout == 0 {
		o.timeout = cfg.Cluster.CheckpointTimeout
	}
	if o.concurrency == 0 {
		o.concurrency = cfg.Cluster.Concurrency
	}
	if o.collectorNS == "" {
		o.collectorNS = cfg.Cluster.CollectorNamespace
	}
	if o.collectorImg == "" {
		o.collectorImg = cfg.Cluster.CollectorImage
	}
	if !cmd.Flags().Changed("delete-from-node") {
		o.deleteNode = cfg.Cluster.DeleteFromNode
	}
	if conn.Readonly {
		// refuse before anything is sent; the transport guard would refuse it too
		return fmt.Errorf("checkpoint: %w: a checkpoint writes an archive on the node (drop --readonly)", cluster.ErrReadonly)
	}
	targets, err := conn.Resolve(ctx, o.namespace, o.pod, o.container, o.allContainers, o.selector)
	if err != nil {
		return err
	}
	var store *evidence.Store
	if o.pull {
		if store, err = evidence.Open(cfg.DataDir); err != nil {
			return err
		}
	}
	var mu sync.Mutex
	logf := func(format string, args ...any) {
		if o.quiet {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(a.ErrOut, format, args...)
	}
	outcomes := make([]checkpointOutcome, len(targets))
	for i, t := range targets {
		outcomes[i].Target = t
	}
	// One collector per node, started while its kubelet checkpoints and shared by the pulls of
	// this run; deleted on every way out, Ctrl-C included.
	var pool *cluster.CollectorPool
	if o.pull {
		pool = conn.NewCollectorPool(ctx, cluster.CollectorOptions{
			Namespace: o.collectorNS, Image: o.collectorImg, CheckpointDir: cfg.Cluster.KubeletCheckpointDir,
		})
		defer func() {
			if cerr := pool.Close(); cerr != nil && err == nil {
				err = cerr
			}
		}()
	}
	// Each pull starts as soon as its checkpoint is done, with the same bound as the checkpoints.
	sem := make(chan struct{}, o.concurrency)
	var wg sync.WaitGroup
	pull := func(i int, r *cluster.CheckpointResult) {
		t := targets[i]
		defer wg.Done()
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			outcomes[i].Error = fmt.Sprintf("pull %s: %v", t, ctx.Err())
			return
		}
		defer func() { <-sem }()
		m := evidence.Manifest{ToolVersion: "podsleuth " + version, CaseID: cfg.Case.ID, Analyst: cfg.Case.Analyst}
		item, err := conn.Pull(ctx, r, cluster.PullOptions{
			Collectors: pool, Store: store, Manifest: m, DeleteFromNode: o.deleteNode,
			PodContext: cfg.Cluster.PodContext, LogLimitBytes: cfg.Cluster.LogLimitBytes,
			Progress: progressPrinter(a.ErrOut, &mu, o.quiet || len(targets) > 1, t.String()),
		})
		outcomes[i].Evidence = item
		if err != nil {
			outcomes[i].Error = err.Error()
		}
		if len(targets) > 1 && !o.quiet {
			if err != nil {
				logf("pull %s failed: %v\n", t, err)
			} else {
				logf("pulled %s: evidence %s\n", t, item.ID)
			}
		}
	}
	done := func(i int, r *cluster.CheckpointResult, err error) {
		outcomes[i].Checkpoint = r
		if err != nil {
			outcomes[i].Error = err.Error()
			return
		}
		if o.existing == "" {
			logf("checkpointed %s on %s in %s: %s\n", r.Target, r.Node, r.Completed.Sub(r.Requested).Round(time.Millisecond), r.NodePath)
		}
		if o.pull {
			wg.Add(1)
			go pull(i, r)
		}
	}
	var errs []error
	if o.existing != "" {
		if len(targets) != 1 || !o.pull {
			return errors.New("--existing names one archive: give one pod (and -c) and --pull")
		}
		if !strings.Contains(o.existing, "/") {
			o.existing = cfg.Cluster.KubeletCheckpointDir + "/" + o.existing
		}
		r, err := conn.Existing(ctx, targets[0], o.existing)
		errs = []error{err}
		done(0, r, err)
	} else {
		_, errs = conn.CheckpointAll(ctx, targets, o.timeout, o.concurrency, pool, done)
	}
	wg.Wait()
	failed := 0
	for _, oc := range outcomes {
		if oc.Error != "" {
			failed++
		}
	}
	if o.output == "json" {
		if err := writeJSON(a.Out, outcomes); err != nil {
			return err
		}
	} else {
		printOutcomes(a.Out, outcomes)
	}
	if failed > 0 {
		if len(targets) == 1 {
			if errs[0] != nil {
				return errs[0]
			}
			return errors.New(outcomes[0].Error)
		}
		return fmt.Errorf("%d of %d checkpoints failed", failed, len(targets))
	}
	return nil
}

func printOutcomes(w io.Writer, outs []checkpointOutcome) {
	for _, o := range outs {
		switch {
		case o.Error != "" && o.Checkpoint == nil:
			fmt.Fprintf(w, "FAILED  %s: %s\n", o.Target, o.Error)
		case o.Error != "":
			fmt.Fprintf(w, "FAILED  %s: checkpoint on node %s at %s, pull failed: %s\n", o.Target, o.Checkpoint.Node, o.Checkpoint.NodePath, o.Error)
		case o.Evidence != nil:
			m := o.Evidence.Manifest
			fmt.Fprintf(w, "OK      %s -> evidence %s (%d bytes, sha256 %s, node and local hashes match)\n", o.Target, o.Evidence.ID, m.Size, m.LocalSHA256)
		default:
			fmt.Fprintf(w, "OK      %s -> node %s:%s\n", o.Target, o.Checkpoint.Node, o.Checkpoint.NodePath)
		}
	}
}

// progressPrinter prints a pull's progress on one refreshed stderr line.
func progressPrinter(w io.Writer, mu *sync.Mutex, quiet bool, what string) func(cluster.Progress) {
	if quiet {
		return nil
	}
	return func(p cluster.Progress) {
		mu.Lock()
		defer mu.Unlock()
		switch p.Phase {
		case "collector":
			fmt.Fprintf(w, "pull %s: starting collector pod\n", what)
		case "hash":
			fmt.Fprintf(w, "pull %s: hashing on the node\n", what)
		case "stream":
			pct := 0.0
			if p.Total > 0 {
				pct = 100 * float64(p.Bytes) / float64(p.Total)
			}
			fmt.Fprintf(w, "\rpull %s: %.1f/%.1f MiB (%.0f%%) %.1f MiB/s", what, float64(p.Bytes)/(1<<20), float64(p.Total)/(1<<20), pct, p.Rate/(1<<20))
		case "done":
			fmt.Fprintf(w, "\npull %s: done in %s\n", what, p.Elapsed.Round(time.Millisecond))
		}
	}
}

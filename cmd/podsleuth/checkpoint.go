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

func (o *checkpointOptions) run(ctx context.Context, a *app, cmd *cobra.Command) error {
	conn, cfg, err := a.connect(ctx, cmd)
	if err != nil {
		return err
	}
	ac := cluster.NewAcquireConfig(cfg, version)
	ac.Pull, ac.Existing = o.pull, o.existing
	if o.timeout != 0 {
		ac.Timeout = o.timeout
	}
	if o.concurrency != 0 {
		ac.Concurrency = o.concurrency
	}
	if o.collectorNS != "" {
		ac.Collector.Namespace = o.collectorNS
	}
	if o.collectorImg != "" {
		ac.Collector.Image = o.collectorImg
	}
	if cmd.Flags().Changed("delete-from-node") {
		ac.DeleteFromNode = o.deleteNode
	}
	// (Acquire refuses --readonly before it sends anything; resolving only reads)
	if ac.Targets, err = conn.Resolve(ctx, o.namespace, o.pod, o.container, o.allContainers, o.selector); err != nil {
		return err
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
	many := len(ac.Targets) > 1
	if !o.quiet && !many {
		show := progressPrinter(a.ErrOut, &mu, false, ac.Targets[0].String())
		ac.Progress = func(_ cluster.Target, p cluster.Progress) { show(p) }
	}
	ac.Checkpointed = func(r cluster.Acquired) {
		if c := r.Checkpoint; r.Err == nil && o.existing == "" {
			logf("checkpointed %s on %s in %s: %s\n", c.Target, c.Node, c.Completed.Sub(c.Requested).Round(time.Millisecond), c.NodePath)
		}
	}
	ac.Pulled = func(r cluster.Acquired) {
		switch {
		case !many:
		case r.Err != nil:
			logf("pull %s failed: %v\n", r.Target, r.Err)
		default:
			logf("pulled %s: evidence %s\n", r.Target, r.Evidence.ID)
		}
	}
	outcomes, err := cluster.Acquire(ctx, conn, ac)
	if outcomes == nil {
		return err
	}
	if o.output == "json" {
		if werr := writeJSON(a.Out, outcomes); werr != nil {
			return werr
		}
	} else {
		printOutcomes(a.Out, outcomes)
	}
	return err
}

func printOutcomes(w io.Writer, outs []cluster.Acquired) {
	for _, o := range outs {
		switch {
		case o.Err != nil && o.Checkpoint == nil:
			fmt.Fprintf(w, "FAILED  %s: %s\n", o.Target, o.Err)
		case o.Err != nil:
			fmt.Fprintf(w, "FAILED  %s: checkpoint on node %s at %s, pull failed: %s\n", o.Target, o.Checkpoint.Node, o.Checkpoint.NodePath, o.Err)
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

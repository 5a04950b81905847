package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/cluster"
)

// preflightOptions are the options of `podsleuth preflight [NAMESPACE/]POD`.
type preflightOptions struct {
	*common
	container   string
	collectorNS string
	ns, pod     string
}

// Complete reads the pod argument and the collector namespace's default.
func (o *preflightOptions) Complete(a *app, cmd *cobra.Command, args []string) error {
	if err := o.common.Complete(a, cmd, args); err != nil {
		return err
	}
	if o.collectorNS == "" {
		o.collectorNS = o.cfg.Cluster.CollectorNamespace
	}
	var err error
	o.ns, o.pod, err = a.podArg(args[0])
	return err
}

func newPreflightCmd(a *app) *cobra.Command {
	o := &preflightOptions{common: &common{formats: []string{"text", "json"}}}
	cmd := &cobra.Command{
		Use:   "preflight [NAMESPACE/]POD",
		Short: "Say what a checkpoint and pull of a container would need, and what is missing",
		Long: `Check, without changing anything, whether "podsleuth checkpoint --pull" would work: your RBAC
as the API server decides it (SelfSubjectAccessReview: create nodes/proxy for the checkpoint,
create/delete pods and create pods/exec in the collector namespace for the pull), the container
running, the node's kubelet version (>= 1.30 for the checkpoint API on by default) and its runtime.
Exits 1 when a check fails.`,
		Args: cobra.ExactArgs(1),
		RunE: runE(a, o),
	}
	cmd.Flags().StringVarP(&o.container, "container", "c", "", "container (default: the pod's default container)")
	cmd.Flags().StringVar(&o.collectorNS, "collector-namespace", "", "namespace of the collector pod (default cluster.collector_namespace)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	return cmd
}

// Run connects and runs the checks; exit status 1 when one fails.
func (o *preflightOptions) Run(ctx context.Context) error {
	conn, err := o.connect(ctx)
	if err != nil {
		return err
	}
	rep, err := conn.Preflight(ctx, cluster.Target{Namespace: o.ns, Pod: o.pod, Container: o.container}, o.collectorNS)
	if err != nil {
		return err
	}
	if o.json() {
		if err := writeJSON(o.Out, rep); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
		for _, c := range rep.Checks {
			mark := map[string]string{cluster.CheckOK: "[ok]", cluster.CheckFail: "[FAIL]", cluster.CheckWarn: "[warn]", cluster.CheckSkip: "[skip]"}[c.Status]
			fmt.Fprintf(tw, "%s\t%s\t%s\n", mark, c.Name, c.Detail)
			if c.Fix != "" && c.Status != cluster.CheckOK {
				fmt.Fprintf(tw, "\t\tfix: %s\n", c.Fix)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if !rep.OK {
		return &exitError{code: 1, err: fmt.Errorf("preflight of %s: %d check(s) failed: %v", rep.Target, len(rep.Failed), rep.Failed)}
	}
	return nil
}

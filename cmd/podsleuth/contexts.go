package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/config"
)

// connect loads the configuration and connects to the cluster the kubectl-style flags name,
// bounded by cluster.connect_timeout, with the read-only guard when --readonly is set.
func (a *app) connect(ctx context.Context, cmd *cobra.Command) (*cluster.Conn, *config.Config, error) {
	c, err := a.config(cmd)
	if err != nil {
		return nil, nil, err
	}
	conn, err := cluster.Connect(ctx, a.kube, cluster.ConnectOptions{
		Timeout: c.Cluster.ConnectTimeout, Readonly: c.Readonly, UserAgent: "podsleuth/" + version,
	})
	if err != nil {
		return nil, nil, err
	}
	return conn, c, nil
}

// contextsOptions are the options of `podsleuth contexts`.
type contextsOptions struct {
	*common
	// kube are the kubectl-style flags naming the kubeconfig.
	kube *genericclioptions.ConfigFlags
}

// Complete keeps the kubectl-style flags.
func (o *contextsOptions) Complete(a *app, cmd *cobra.Command, args []string) error {
	o.kube, o.args, o.streams = a.kube, args, a.streams
	return nil
}

func newContextsCmd(a *app) *cobra.Command {
	o := &contextsOptions{common: &common{formats: []string{"text", "json"}}}
	cmd := &cobra.Command{
		Use:   "contexts",
		Short: "List the kubeconfig's contexts (the current one is marked *)",
		Long: `List the contexts of the kubeconfig (KUBECONFIG, --kubeconfig): name, cluster, server, user and
namespace. Choose one for any command with --context NAME.`,
		Args: cobra.NoArgs,
		RunE: runE(a, o),
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	return cmd
}

// Run lists the contexts.
func (o *contextsOptions) Run(context.Context) error {
	rows, err := cluster.Contexts(o.kube)
	if err != nil {
		return err
	}
	if o.json() {
		return writeJSON(o.Out, rows)
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(o.Out, "no contexts in the kubeconfig (set KUBECONFIG or --kubeconfig)")
		return err
	}
	tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CURRENT\tNAME\tCLUSTER\tSERVER\tUSER\tNAMESPACE")
	for _, r := range rows {
		cur := ""
		if r.Current {
			cur = "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", cur, r.Name, r.Cluster, r.Server, r.User, r.Namespace)
	}
	return tw.Flush()
}

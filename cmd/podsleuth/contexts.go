package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

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

type contextsOptions struct{ output string }

func newContextsCmd(a *app) *cobra.Command {
	o := &contextsOptions{}
	cmd := &cobra.Command{
		Use:   "contexts",
		Short: "List the kubeconfig's contexts (the current one is marked *)",
		Long: `List the contexts of the kubeconfig (KUBECONFIG, --kubeconfig): name, cluster, server, user and
namespace. Choose one for any command with --context NAME.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rows, err := cluster.Contexts(a.kube)
			if err != nil {
				return err
			}
			if o.output == "json" {
				return writeJSON(a.Out, rows)
			}
			if len(rows) == 0 {
				_, err := fmt.Fprintln(a.Out, "no contexts in the kubeconfig (set KUBECONFIG or --kubeconfig)")
				return err
			}
			tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CURRENT\tNAME\tCLUSTER\tSERVER\tUSER\tNAMESPACE")
			for _, r := range rows {
				cur := ""
				if r.Current {
					cur = "*"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", cur, r.Name, r.Cluster, r.Server, r.User, r.Namespace)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	return cmd
}

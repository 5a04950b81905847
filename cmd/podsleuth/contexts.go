package main

import "github.com/spf13/cobra"

// placeholder: replaced by the engineer who builds "contexts".
func newContextsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "contexts",
		Short: "contexts (not built yet)",
		RunE:  func(cmd *cobra.Command, args []string) error { return notYet("contexts") },
	}
}

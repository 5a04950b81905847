package main

import "github.com/spf13/cobra"

// placeholder: replaced by the engineer who builds "diff".
func newDiffCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "diff",
		Short: "diff (not built yet)",
		RunE:  func(cmd *cobra.Command, args []string) error { return notYet("diff") },
	}
}

package main

import "github.com/spf13/cobra"

// placeholder: replaced by the engineer who builds "findings".
func newFindingsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "findings",
		Short: "findings (not built yet)",
		RunE:  func(cmd *cobra.Command, args []string) error { return notYet("findings") },
	}
}

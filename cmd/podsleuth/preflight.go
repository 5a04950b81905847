package main

import "github.com/spf13/cobra"

// placeholder: replaced by the engineer who builds "preflight".
func newPreflightCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "preflight",
		Short: "preflight (not built yet)",
		RunE:  func(cmd *cobra.Command, args []string) error { return notYet("preflight") },
	}
}

package main

import "github.com/spf13/cobra"

// placeholder: replaced by the engineer who builds "inspect".
func newInspectCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect",
		Short: "inspect (not built yet)",
		RunE:  func(cmd *cobra.Command, args []string) error { return notYet("inspect") },
	}
}

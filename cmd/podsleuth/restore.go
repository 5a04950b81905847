package main

import "github.com/spf13/cobra"

// placeholder: replaced by the engineer who builds "restore".
func newRestoreCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "restore",
		Short: "restore (not built yet)",
		RunE:  func(cmd *cobra.Command, args []string) error { return notYet("restore") },
	}
}

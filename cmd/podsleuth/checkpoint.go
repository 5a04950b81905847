package main

import "github.com/spf13/cobra"

// placeholder: replaced by the engineer who builds "checkpoint".
func newCheckpointCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "checkpoint",
		Short: "checkpoint (not built yet)",
		RunE:  func(cmd *cobra.Command, args []string) error { return notYet("checkpoint") },
	}
}

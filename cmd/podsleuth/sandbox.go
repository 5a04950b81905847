package main

import "github.com/spf13/cobra"

// placeholder: replaced by the engineer who builds "sandbox".
func newSandboxCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "sandbox",
		Short: "sandbox (not built yet)",
		RunE:  func(cmd *cobra.Command, args []string) error { return notYet("sandbox") },
	}
}

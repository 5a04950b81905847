package main

import "github.com/spf13/cobra"

// placeholder: replaced by the engineer who builds "memdump".
func newMemdumpCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "memdump",
		Short: "memdump (not built yet)",
		RunE:  func(cmd *cobra.Command, args []string) error { return notYet("memdump") },
	}
}

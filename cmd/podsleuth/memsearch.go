package main

import "github.com/spf13/cobra"

// placeholder: replaced by the engineer who builds "memsearch".
func newMemsearchCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "memsearch",
		Short: "memsearch (not built yet)",
		RunE:  func(cmd *cobra.Command, args []string) error { return notYet("memsearch") },
	}
}

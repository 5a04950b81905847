package main

import "github.com/spf13/cobra"

// placeholder: replaced by the engineer who builds "iocs".
func newIOCsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "iocs",
		Short: "iocs (not built yet)",
		RunE:  func(cmd *cobra.Command, args []string) error { return notYet("iocs") },
	}
}

package main

import "github.com/spf13/cobra"

// placeholder: replaced by the engineer who builds "report".
func newReportCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "report",
		Short: "report (not built yet)",
		RunE:  func(cmd *cobra.Command, args []string) error { return notYet("report") },
	}
}

package main

import "github.com/spf13/cobra"

// placeholder: replaced by the engineer who builds "evidence".
func newEvidenceCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "evidence",
		Short: "evidence (not built yet)",
		RunE:  func(cmd *cobra.Command, args []string) error { return notYet("evidence") },
	}
}

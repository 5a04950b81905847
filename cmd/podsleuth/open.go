package main

import "github.com/spf13/cobra"

// placeholder: replaced by the engineer who builds "open".
func newOpenCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "open",
		Short: "open (not built yet)",
		RunE:  func(cmd *cobra.Command, args []string) error { return notYet("open") },
	}
}

// runTUI starts the workbench; archives, when given, are opened directly.
func (a *app) runTUI(cmd *cobra.Command, archives []string) error { return notYet("the TUI") }

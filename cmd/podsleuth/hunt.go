package main

import "github.com/spf13/cobra"

// newHuntCmd is the fleet hunt's command group. For now it holds the analyzer image's commands
// (huntimage.go); the hunt itself joins it.
func newHuntCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hunt",
		Short: "Hunt across the fleet: analysis runs on the nodes, only results travel",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newHuntImageCmd(a))
	return cmd
}

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/forensics/open"
)

// openArg opens the ARCHIVE argument of an analysis command with the open job: a path (a file or
// a CRIU image directory), or else the ID of an evidence item (or a unique prefix of one). When
// it names evidence, by ID or by a path inside the store, the opening is recorded in the item's
// custody log with the command that opened it; a failure to record is a warning, not a reason
// to refuse the analysis.
func (a *app) openArg(cmd *cobra.Command, arg string, cfg func(*open.Config)) (*open.Case, error) {
	c, err := a.config(cmd)
	if err != nil {
		return nil, err
	}
	oc := open.FromConfig(c, arg, cmd.CommandPath())
	if cfg != nil {
		cfg(&oc)
	}
	cs, err := open.Open(cmd.Context(), oc)
	if err != nil {
		return nil, err
	}
	if cs.CustodyErr != nil {
		fmt.Fprintf(a.ErrOut, "warning: %v\n", cs.CustodyErr)
	}
	return cs, nil
}

package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/forensics"
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
	if oc.Beside {
		return cs, nil // the caller settles it before its output
	}
	if err := a.settle(cmd.Context(), cs); err != nil {
		_ = cs.Close()
		return nil, err
	}
	return cs, nil
}

// settle waits for the archive's hash and the evidence verification of an opened case (run
// beside the analysis with open.Config.Beside), then warns of a custody record that could not
// be written and of a mismatch. Called before the command's output, even when its analysis
// failed: a mismatch is never silent.
func (a *app) settle(ctx context.Context, cs *open.Case) error {
	if err := cs.Settle(ctx); err != nil {
		return err
	}
	if cs.CustodyErr != nil {
		fmt.Fprintf(a.ErrOut, "warning: %v\n", cs.CustodyErr)
	}
	a.noteVerification(ctx, cs)
	return nil
}

// noteVerification reports store evidence that failed its verification on open: a warning on
// stderr before the output, and the run's exit status becomes exitMismatch. Altered evidence is
// analysed (the responder may need to see it) but never silently.
func (a *app) noteVerification(ctx context.Context, cs *open.Case) {
	if cs == nil || cs.Verification == nil {
		return
	}
	if err := cs.VerificationErr(ctx); err != nil {
		fmt.Fprintf(a.ErrOut, "WARNING: %s\nWARNING: %s is analysed anyway; the output below comes from evidence that does not match its acquisition (exit status %d)\n",
			forensics.Printable(cs.Verification.Summary()), cs.Item.ID, exitMismatch)
		a.mismatched = append(a.mismatched, cs.Item.ID)
	}
}

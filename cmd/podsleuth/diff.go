package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/diff"
	"github.com/podsleuth/podsleuth/forensics/report"
)

// diffOptions are the options of `podsleuth diff`.
type diffOptions struct {
	output string
	reveal bool
	noMem  bool

	cfg  *config.Config
	a, b string
}

func newDiffCmd(a *app) *cobra.Command {
	o := &diffOptions{}
	cmd := &cobra.Command{
		Use:   "diff A B",
		Short: "Show what changed between two checkpoints of the same container",
		Long: `Compares two checkpoints (archives, CRIU image directories or evidence store IDs) taken at
different moments: processes added, removed or changed (command line, environment, state,
threads, credentials), sockets opened and closed, file descriptors added and removed, mounts,
rootfs changes, new and resolved findings, and new and vanished indicators.

Objects are matched by what survives between dumps, not by CRIU's per-dump numbers: processes
by (pid, comm), sockets by (family, protocol, addresses, ports, state), fds by (pid, fd, target).`,
		Example: `  podsleuth diff before.tar after.tar
  podsleuth diff 3f2a9c 7b1e04 -o json | jq '.sockets_opened'`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			o.cfg, o.a, o.b = cfg, args[0], args[1]
			if !cmd.Flags().Changed("reveal") {
				o.reveal = cfg.Report.Reveal
			}
			if o.output != "text" && o.output != "json" {
				return fmt.Errorf("unknown output format %q (want text or json)", o.output)
			}
			return o.run(cmd.Context(), a)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	cmd.Flags().BoolVar(&o.reveal, "reveal", false, "show secret values (environment, indicators) unredacted")
	cmd.Flags().BoolVar(&o.noMem, "no-memory-scan", false, "skip scanning process memory for indicators (faster on big checkpoints)")
	return cmd
}

func (o *diffOptions) run(ctx context.Context, a *app) error {
	// the store is only consulted to resolve evidence IDs and to record their opening
	ins, err := loadInputs(ctx, o.cfg, []string{o.a, o.b}, false, !o.noMem, analysis.Options{Reveal: o.reveal}, "podsleuth diff")
	if err != nil {
		return err
	}
	if err := a.noteInputs(ins); err != nil {
		return err
	}
	d, err := diff.Compare(diffInput(ins[0]), diffInput(ins[1]))
	if err != nil {
		return err
	}
	d = report.RedactDiff(d, report.Redactor{Reveal: o.reveal})
	for _, w := range d.Warnings {
		fmt.Fprintf(a.ErrOut, "warning: %s\n", w)
	}
	if o.output == "json" {
		return writeJSON(a.Out, d)
	}
	return diff.WriteText(a.Out, d)
}

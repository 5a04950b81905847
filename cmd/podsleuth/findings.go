package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/yara"
)

type findingsOptions struct {
	output string
	min    string
}

func newFindingsCmd(a *app) *cobra.Command {
	o := &findingsOptions{}
	cmd := &cobra.Command{
		Use:   "findings ARCHIVE|EVIDENCE-ID",
		Short: "List suspicious findings in a checkpoint, most severe first",
		Long: `findings applies podsleuth's rules to a decoded checkpoint: anonymous executable mappings (RWX is
critical, R-X high), executable memfd mappings and mappings of deleted files, deleted executables,
open deleted files, argv[0] that does not match the executable, user processes named like kernel
threads (kworker, ksoftirqd, ...), new or modified executables in the container's filesystem,
listening sockets and connections. Each finding has a rule id, a severity, a reason and where it is.
Mappings are peeked at in memory to say what they hold (ELF header, NOP sled).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.output != "text" && o.output != "json" {
				return fmt.Errorf("--output %q: want text or json", o.output)
			}
			var min forensics.Severity
			if err := min.UnmarshalText([]byte(o.min)); err != nil || min.String() != o.min {
				return fmt.Errorf("--min-severity %q: want info, low, medium, high or critical", o.min)
			}
			mc, closeCase, err := a.memOpen(cmd, args[0])
			if err != nil {
				return err
			}
			defer closeCase()
			c, err := a.config(cmd)
			if err != nil {
				return err
			}
			an, err := analysis.Run(cmd.Context(), mc.cp, mc.mem, analysis.Options{NoIndicators: true, IndexWarnings: mc.mem.Warnings,
				Yara: yara.FromConfig(c.Yara, c.CacheDir, mc.arc, mc.cp)})
			if err != nil {
				return err
			}
			if an.YaraErr != nil {
				fmt.Fprintf(a.ErrOut, "warning: YARA (config yara.rules): %s\n", quote(an.YaraErr.Error()))
			}
			res := []forensics.Finding{}
			for _, f := range an.Findings {
				if f.Severity >= min {
					res = append(res, f)
				}
			}
			if o.output == "json" {
				return writeJSON(a.Out, res)
			}
			return printFindings(a.Out, res)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	cmd.Flags().StringVar(&o.min, "min-severity", "info", "hide findings below this severity (info, low, medium, high, critical)")
	return cmd
}

func printFindings(w io.Writer, res []forensics.Finding) error {
	if len(res) == 0 {
		_, err := fmt.Fprintln(w, "no findings")
		return err
	}
	for _, f := range res {
		fmt.Fprintf(w, "%-8s  %-26s  %s\n", strings.ToUpper(f.Severity.String()), f.Rule, quote(f.Title))
		fmt.Fprintf(w, "          where: %s\n", quote(locString(f.Location)))
		fmt.Fprintf(w, "          why:   %s\n", quote(f.Reason))
	}
	return nil
}

package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/render"
	"github.com/podsleuth/podsleuth/forensics/yara"
)

type findingsOptions struct {
	output    string
	min       string
	listRules bool
	// noConclusion leaves the conclusion block out of the text output (only the findings).
	noConclusion bool
	rootfs       string
}

// findingsJSON is `findings -o json`: the conclusion of the whole analysis, the findings at or
// above --min-severity, and how many that hides.
type findingsJSON struct {
	Conclusion *analysis.Conclusion `json:"conclusion"`
	Findings   []forensics.Finding  `json:"findings"`
	Hidden     int                  `json:"hidden"`
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
listening sockets and connections; reverse and bind shells, fileless executable content in memfds,
ghost files, tmpfs, pipes and sockets, masquerading names and threads, renamed system tools,
mining (stratum, pool ports, wallets) and persistence in the rootfs changes. Each finding has a rule
id, a severity, the MITRE ATT&CK technique, a reason and where it is. --list-rules prints every
rule with its minimum severity, technique and condition (docs/rules.md).

The output opens with the conclusion of the whole analysis (whatever --min-severity hides): the
verdict, severity and confidence with the reason, what happened grouped by ATT&CK tactic and
technique with the processes and objects involved, and what to do next (isolate, block the named
endpoints, rotate the named credentials, preserve the evidence, extract the payloads, hunt the
image digest), each with the command that reaches the evidence. It is deterministic: the same
checkpoint gives the same text. -o json puts it in the "conclusion" field beside "findings".`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.listRules {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.output != "text" && o.output != "json" {
				return fmt.Errorf("--output %q: want text or json", o.output)
			}
			if o.listRules {
				if o.output == "json" {
					return writeJSON(a.Out, analysis.Rules())
				}
				return printRules(a.Out)
			}
			var min forensics.Severity
			if err := min.UnmarshalText([]byte(o.min)); err != nil || min.String() != o.min {
				return fmt.Errorf("--min-severity %q: want info, low, medium, high or critical", o.min)
			}
			mc, closeCase, err := a.memOpenBeside(cmd, args[0])
			if err != nil {
				return err
			}
			defer closeCase()
			c, err := a.config(cmd)
			if err != nil {
				return err
			}
			// the whole analysis (indicators too: the mining rules read them), so that every view
			// shows the same findings
			an, err := analysis.Run(cmd.Context(), mc.cp, mc.mem, analysis.Options{Archive: mc.arc, EvidenceID: mc.item, Rootfs: o.rootfs,
				Yara: yara.FromConfig(c.Yara, c.CacheDir, mc.arc, mc.cp)})
			// the hash and verification ran beside the analysis: known before any output
			if err := a.settle(cmd.Context(), mc.cs); err != nil {
				return err
			}
			if err != nil {
				return err
			}
			defer an.Close()
			an.Reconclude(mc.cp) // with the hash that ran beside it
			if an.YaraErr != nil {
				fmt.Fprintf(a.ErrOut, "warning: YARA (config yara.rules): %s\n", quote(an.YaraErr.Error()))
			}
			res := []forensics.Finding{}
			for _, f := range an.Findings {
				if f.Severity >= min {
					res = append(res, f)
				}
			}
			hidden := len(an.Findings) - len(res)
			if hidden > 0 {
				fmt.Fprintf(a.ErrOut, "%d findings below %s not shown (--min-severity)\n", hidden, min)
			}
			if o.output == "json" {
				return writeJSON(a.Out, findingsJSON{Conclusion: an.Conclusion, Findings: res, Hidden: hidden})
			}
			if !o.noConclusion {
				for _, l := range render.ConclusionLines(an.Conclusion) {
					fmt.Fprintln(a.Out, l)
				}
				fmt.Fprintln(a.Out)
			}
			return printFindings(a.Out, res)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	cmd.Flags().StringVar(&o.min, "min-severity", "info", "hide findings below this severity (info, low, medium, high, critical)")
	cmd.Flags().StringVar(&o.rootfs, "rootfs", "", "the container's base image (registry reference fetched with your registry credentials, docker-archive/OCI tarball, OCI layout, or rootfs dir/tar; tarballs may be gzipped): rootfs changes are classified added or modified against it")
	cmd.Flags().BoolVar(&o.noConclusion, "no-conclusion", false, "text output: list the findings only, without the conclusion block")
	cmd.Flags().BoolVar(&o.listRules, "list-rules", false, "print every rule: id, minimum severity, ATT&CK technique, condition")
	return cmd
}

func printRules(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tMIN SEVERITY\tATT&CK\tCONDITION")
	for _, r := range analysis.Rules() {
		t := r.Technique
		if t == "" {
			t = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, r.MinSeverity, t, r.Condition)
	}
	return tw.Flush()
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

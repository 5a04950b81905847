package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/diff"
	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/forensics/open"
	"github.com/podsleuth/podsleuth/forensics/report"
	"github.com/podsleuth/podsleuth/forensics/yara"
	"github.com/podsleuth/podsleuth/tui"
)

// reportOptions are the options of `podsleuth report`.
type reportOptions struct {
	format  string
	output  string
	notes   string
	reveal  bool
	diff    bool
	noStore bool
	noMem   bool
	schema  bool
	rootfs  string

	cfg    *config.Config
	fmt    report.Format
	inputs []string
}

func newReportCmd(a *app) *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report ARCHIVE|EVIDENCE-ID...",
		Short: "Write a forensic case report (JSON, Markdown or self-contained HTML)",
		Long: `Decodes one or more checkpoint archives (or CRIU image directories, or evidence store IDs) and
writes one case report: case header, evidence with SHA-256 and, for archives from the evidence
store, the acquisition manifest and chain of custody; findings by severity; then container
metadata, process tree, network, open files, mounts, rootfs changes, memory map summary,
indicators and a timeline. With --diff the changes from the first to the second checkpoint are
added. Secret values are redacted unless --reveal (or report.reveal in the config).

Exchange formats: -f csv (findings and indicators), -f timesketch (the timeline as JSON Lines),
-f stix (a STIX 2.1 bundle: indicators with STIX patterns, observed-data, attack-patterns for the
ATT&CK techniques, a malware instance when compromised, relationships, a grouping per evidence;
identifiers are reproducible), -f misp (one MISP event: indicators as attributes, ATT&CK techniques
as galaxy tags). Redacted secrets are left out of STIX indicators and MISP attributes unless
--reveal.

JSON follows the schema podsleuth.report/v1 (forensics/report/schema/report-v1.json). Writing a
report of store evidence appends an "exported" event to each item's custody log.`,
		Example: `  podsleuth report ./checkpoint.tar -f html -o case.html --case-id IR-42 --case-analyst dana
  podsleuth report 3f2a9c 7b1e04 --diff -f md -o ticket.md
  podsleuth report 3f2a9c -o case.stix.json
  podsleuth report images/ -f json | jq '.findings[] | select(.severity=="critical")'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.schema {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.MinimumNArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.schema {
				_, err := a.Out.Write(report.Schema)
				return err
			}
			if err := o.complete(a, cmd, args); err != nil {
				return err
			}
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd.Context(), a)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.rootfs, "rootfs", "", "the containers' base image (registry reference, docker-archive/OCI tarball, OCI layout, or rootfs dir/tar; tarballs may be gzipped): rootfs changes are classified added or modified against it")
	f.StringVarP(&o.format, "format", "f", "", "report format: json|md|html|csv|timesketch|stix|misp (default: from the -o file's extension (.stix.json: stix, .misp.json: misp), else md)")
	f.StringVarP(&o.output, "output", "o", "", "write the report to FILE (mode 0600) instead of standard output")
	f.StringVar(&o.notes, "notes", "", "case notes for the report header (default: case.notes from the config)")
	f.BoolVar(&o.reveal, "reveal", false, "include secret values unredacted (default: report.reveal from the config)")
	f.BoolVar(&o.diff, "diff", false, "add the changes from the first to the second checkpoint")
	f.BoolVar(&o.noStore, "no-store", false, "do not look the archives up in the evidence store (and log nothing there)")
	f.BoolVar(&o.schema, "print-schema", false, "print the JSON Schema of the JSON report (podsleuth.report/v1) and exit")
	f.BoolVar(&o.noMem, "no-memory-scan", false, "skip scanning process memory for indicators (faster on big checkpoints; environment, command lines and the model are still analysed)")
	return cmd
}

func (o *reportOptions) complete(a *app, cmd *cobra.Command, args []string) error {
	cfg, err := a.config(cmd)
	if err != nil {
		return err
	}
	o.cfg = cfg
	o.inputs = args
	if !cmd.Flags().Changed("notes") {
		o.notes = cfg.Case.Notes
	}
	if !cmd.Flags().Changed("reveal") {
		o.reveal = cfg.Report.Reveal
	}
	for _, f := range []string{"stix", "misp"} {
		if o.format == "" && strings.HasSuffix(strings.ToLower(o.output), "."+f+".json") {
			o.format = f
		}
	}
	if o.format == "" {
		switch strings.ToLower(filepath.Ext(o.output)) {
		case ".stix":
			o.format = "stix"
		case ".json":
			o.format = "json"
		case ".html", ".htm":
			o.format = "html"
		case ".csv":
			o.format = "csv"
		case ".jsonl":
			o.format = "timesketch"
		default:
			o.format = "md"
		}
	}
	return nil
}

func (o *reportOptions) validate() error {
	f, err := report.ParseFormat(o.format)
	if err != nil {
		return err
	}
	o.fmt = f
	if o.diff && len(o.inputs) < 2 {
		return errors.New("--diff needs two checkpoints: the first is compared with the second")
	}
	return nil
}

func (o *reportOptions) run(ctx context.Context, a *app) error {
	var st *evidence.Store
	if !o.noStore {
		s, err := openStoreIfExists(o.cfg)
		if err != nil {
			return err
		}
		st = s
	}
	inputs, err := loadInputs(ctx, o.cfg, o.inputs, o.noStore, !o.noMem, analysis.Options{Reveal: o.reveal, Rootfs: o.rootfs,
		Yara: yara.FromConfig(o.cfg.Yara, o.cfg.CacheDir, nil, nil)}, "podsleuth report")
	if err != nil {
		return err
	}
	if err := a.noteInputs(inputs); err != nil {
		return err
	}
	ec := report.ExportConfig{Options: report.Options{CaseID: o.cfg.Case.ID, Analyst: o.cfg.Case.Analyst, Notes: o.notes,
		ToolVersion: version, Generated: time.Now(), Reveal: o.reveal}, Format: o.fmt, File: o.output, Out: a.Out, Store: st}
	if o.diff {
		if ec.Diff, err = diff.Compare(diffInput(inputs[0]), diffInput(inputs[1])); err != nil {
			return err
		}
	}
	ex, err := report.Export(ctx, inputs, ec)
	if err != nil {
		return err
	}
	if o.output != "" {
		fmt.Fprintf(a.ErrOut, "wrote %s (%s, sha256 %s)\n", o.output, o.fmt, ex.SHA256)
	}
	return nil
}

// loadInputs opens and analyses every argument (a path or an evidence ID) for a report or a
// diff, recording each opening of evidence as by.
func loadInputs(ctx context.Context, cfg *config.Config, args []string, noStore, withMemory bool, ao analysis.Options, by string) ([]report.Input, error) {
	var inputs []report.Input
	for _, arg := range args {
		oc := open.FromConfig(cfg, arg, by)
		oc.NoStore, oc.Memory = noStore, withMemory
		in, err := report.OpenInput(ctx, oc, ao)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, in)
	}
	return inputs, nil
}

func diffInput(in report.Input) diff.Input {
	return diff.Input{Checkpoint: in.Checkpoint, IOCs: in.IOCs}
}

// reportExporter is the TUI's report export (evidence screen, key x), the TUI's own job.
func reportExporter(cfg *config.Config) func(ctx context.Context, path string) (string, error) {
	return tui.NewJobs(cfg, version).Report
}

// openStoreIfExists opens the evidence store when its directory exists (so that read-only
// commands do not create one).
func openStoreIfExists(cfg *config.Config) (*evidence.Store, error) {
	if _, err := os.Stat(cfg.DataDir); err != nil {
		return nil, nil
	}
	return evidence.OpenConfig(cfg)
}

// noteInputs warns about report inputs whose evidence failed verification on open (the report
// carries a red banner; the run ends with exitMismatch).
func (a *app) noteInputs(inputs []report.Input) error {
	for _, in := range inputs {
		if in.Store == nil || in.Store.Verification == nil || in.Store.Verification.State == open.StateVerified {
			continue
		}
		fmt.Fprintf(a.ErrOut, "WARNING: %s: %s\n", in.Store.ID, forensics.Printable(in.Store.Verification.Summary))
		a.mismatched = append(a.mismatched, in.Store.ID)
	}
	return nil
}

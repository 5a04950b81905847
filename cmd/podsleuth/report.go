package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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

JSON follows the schema podsleuth.report/v1 (forensics/report/schema/report-v1.json). Writing a
report of store evidence appends an "exported" event to each item's custody log.`,
		Example: `  podsleuth report ./checkpoint.tar -f html -o case.html --case-id IR-42 --case-analyst dana
  podsleuth report 3f2a9c 7b1e04 --diff -f md -o ticket.md
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
	f.StringVarP(&o.format, "format", "f", "", "report format: json|md|html (default: from the -o file's extension, else md)")
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
	if o.format == "" {
		switch strings.ToLower(filepath.Ext(o.output)) {
		case ".json":
			o.format = "json"
		case ".html", ".htm":
			o.format = "html"
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
	r, inputs, err := buildCaseReport(ctx, o.cfg, st, o.inputs, o.notes, loadOptions{reveal: o.reveal, noMemory: o.noMem, by: "podsleuth report"}, o.diff)
	if err != nil {
		return err
	}
	sum, err := writeReport(ctx, r, o.fmt, o.output, a.Out)
	if err != nil {
		return err
	}
	if err := logExport(st, inputs, o.fmt, o.output, sum, o.reveal); err != nil {
		return err
	}
	if o.output != "" {
		fmt.Fprintf(a.ErrOut, "wrote %s (%s, sha256 %s)\n", o.output, o.fmt, sum)
	}
	return nil
}

// buildCaseReport decodes and analyses every input and builds one case report; with withDiff
// the changes from the first input to the second are added.
func buildCaseReport(ctx context.Context, cfg *config.Config, st *evidence.Store, args []string, notes string, lo loadOptions, withDiff bool) (*report.Report, []report.Input, error) {
	var (
		inputs []report.Input
		dins   []diff.Input
	)
	for _, arg := range args {
		in, err := loadEvidence(ctx, cfg, st, arg, lo)
		if err != nil {
			return nil, nil, err
		}
		inputs = append(inputs, in.Input)
		dins = append(dins, diff.Input{Checkpoint: in.Checkpoint, IOCs: in.IOCs})
	}
	opts := report.Options{CaseID: cfg.Case.ID, Analyst: cfg.Case.Analyst, Notes: notes,
		ToolVersion: version, Generated: time.Now(), Reveal: lo.reveal}
	if withDiff {
		d, err := diff.Compare(dins[0], dins[1])
		if err != nil {
			return nil, nil, err
		}
		opts.Diff = d
	}
	r, err := report.Build(inputs, opts)
	if err != nil {
		return nil, nil, err
	}
	return r, inputs, nil
}

// logExport records the export of a report in the custody log of every store item in it.
func logExport(st *evidence.Store, inputs []report.Input, f report.Format, file, sum string, reveal bool) error {
	if st == nil {
		return nil
	}
	for _, in := range inputs {
		if in.Store == nil {
			continue
		}
		details := map[string]string{"what": "report", "format": string(f), "report_sha256": sum,
			"redacted": fmt.Sprint(!reveal)}
		if file != "" {
			details["file"] = file
		}
		if err := st.Log(in.Store.ID, evidence.Event{Action: evidence.ActionExported, Details: details}); err != nil {
			return fmt.Errorf("report written, but logging the export to %s's custody log failed: %w", in.Store.ID, err)
		}
	}
	return nil
}

// reportExporter is the TUI's report export (evidence screen, key x): a report of one archive
// in report.format (default html) written to report.dir (default DATA_DIR/reports, 0700),
// logged in the item's custody log. It returns the written file. Wire it as
// evidence.Source.Actions.Report.
func reportExporter(cfg *config.Config) func(ctx context.Context, path string) (string, error) {
	return func(ctx context.Context, path string) (string, error) {
		f, err := report.ParseFormat(cfg.Report.Format)
		if err != nil {
			return "", err
		}
		st, err := openStoreIfExists(cfg)
		if err != nil {
			return "", err
		}
		r, inputs, err := buildCaseReport(ctx, cfg, st, []string{path}, cfg.Case.Notes, loadOptions{reveal: cfg.Report.Reveal, by: "podsleuth TUI (report)"}, false)
		if err != nil {
			return "", err
		}
		dir := cfg.Report.Dir
		if dir == "" {
			dir = filepath.Join(cfg.DataDir, "reports")
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("report directory: %w", err)
		}
		name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		if in := inputs[0]; in.Store != nil {
			name = in.Store.ID
		}
		ext := map[report.Format]string{report.JSON: "json", report.Markdown: "md", report.HTML: "html"}[f]
		out := filepath.Join(dir, fmt.Sprintf("report-%s-%s.%s", name, time.Now().UTC().Format("20060102T150405Z"), ext))
		sum, err := r.WriteFileContext(ctx, out, f)
		if err != nil {
			return "", err
		}
		return out, logExport(st, inputs, f, out, sum, cfg.Report.Reveal)
	}
}

// writeReport writes the report to path (atomically, 0600) or to out when path is empty, and
// returns the SHA-256 of what was written.
func writeReport(ctx context.Context, r *report.Report, f report.Format, path string, out io.Writer) (string, error) {
	if path != "" {
		return r.WriteFileContext(ctx, path, f)
	}
	h := sha256.New()
	if err := r.RenderContext(ctx, io.MultiWriter(out, h), f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// loadedEvidence is a decoded input with what diff needs.
type loadedEvidence struct {
	report.Input
}

// loadEvidence resolves arg (a path, or an evidence store ID when no such path exists), decodes
// it, runs the analysers, and attaches its store record when the archive is store evidence.
// loadOptions say how evidence is analysed.
type loadOptions struct {
	// reveal keeps secret values unredacted.
	reveal bool
	// noMemory skips the indicator scan of process memory (and memory-reading finding rules).
	noMemory bool
	// by, when set, records an "opened" custody event by it on an input that is evidence.
	by string
}

func loadEvidence(ctx context.Context, cfg *config.Config, st *evidence.Store, arg string, lo loadOptions) (*loadedEvidence, error) {
	oc := open.FromConfig(cfg, arg, lo.by)
	oc.NoStore, oc.Memory = st == nil, !lo.noMemory
	cs, err := open.Open(ctx, oc)
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	if cs.MemoryErr != nil {
		return nil, cs.MemoryErr
	}
	if cs.CustodyErr != nil {
		// the report carries the custody log: one that cannot be written is not reported on
		return nil, cs.CustodyErr
	}
	var mem analysis.Memory // nil: only the model is analysed
	if cs.Memory != nil {
		mem = cs.Memory
	}
	res, err := analysis.Run(ctx, cs.Checkpoint, mem, analysis.Options{Reveal: lo.reveal})
	if err != nil {
		return nil, err
	}
	if res.IndicatorsErr != nil {
		return nil, fmt.Errorf("indicators of %s: %w", cs.Path, res.IndicatorsErr)
	}
	in := &loadedEvidence{Input: report.Input{Checkpoint: cs.Checkpoint, IOCs: res.Indicators}}
	item := cs.Item
	if item == nil && st != nil {
		item = storeItem(st, cs.Path, cs.Checkpoint)
	}
	if item != nil {
		evs, err := st.Custody(item.ID)
		if err != nil {
			return nil, fmt.Errorf("custody log of %s: %w", item.ID, err)
		}
		in.Store = &report.StoreRecord{ID: item.ID, Manifest: item.Manifest, Custody: evs}
	}
	return in, nil
}

// storeItem finds the store item of an archive: by its location in the store, else by its hash
// (a copy of store evidence elsewhere). Directories are never store evidence.
func storeItem(st *evidence.Store, path string, cp *forensics.Checkpoint) *evidence.Item {
	if it, err := st.ItemForPath(path); err == nil {
		return it
	}
	if cp.Source.SHA256 == "" {
		return nil
	}
	if it, err := st.FindBySHA256(cp.Source.SHA256); err == nil {
		return it
	}
	return nil
}

// openStoreIfExists opens the evidence store when its directory exists (so that read-only
// commands do not create one).
func openStoreIfExists(cfg *config.Config) (*evidence.Store, error) {
	if _, err := os.Stat(cfg.DataDir); err != nil {
		return nil, nil
	}
	return evidence.Open(cfg.DataDir)
}

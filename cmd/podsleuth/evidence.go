package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/evidence"
)

// evidenceOptions are what every `podsleuth evidence ...` command shares (-o, the
// configuration the store is opened with, the streams); each command's own options embed it.
type evidenceOptions struct{ *common }

// store opens the evidence store under the configured data directory, with the analyst's key.
func (o evidenceOptions) store() (*evidence.Store, error) { return evidence.OpenConfig(o.cfg) }

func newEvidenceCmd(a *app) *cobra.Command {
	o := evidenceOptions{&common{formats: []string{"text", "json"}}}
	cmd := &cobra.Command{
		Use:   "evidence",
		Short: "List, show, verify, add, export and import evidence in the local store",
		Long: `The evidence store keeps each acquired archive read-only (0400) next to its acquisition
manifest and an append-only, hash-chained custody log. "verify" re-hashes archives and checks the
custody chain; any mismatch is reported loudly and exits with status 2.`,
	}
	cmd.PersistentFlags().StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the evidence items (-o text|json|csv)",
		Args:  cobra.NoArgs,
		RunE:  runE(a, &evidenceListOptions{o}),
	}
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show an item's manifest and custody log",
		Args:  cobra.ExactArgs(1),
		RunE:  runE(a, &evidenceShowOptions{o}),
	}
	vo := &evidenceVerifyOptions{evidenceOptions: o}
	verify := &cobra.Command{
		Use:   "verify [ID...]",
		Short: "Re-hash archives and check custody logs (exit status 2 on any mismatch)",
		RunE:  runE(a, vo),
	}
	verify.Flags().BoolVar(&vo.all, "all", false, "verify every item (the default when no ID is given)")
	ao := &evidenceAddOptions{evidenceOptions: o}
	add := &cobra.Command{
		Use:   "add ARCHIVE",
		Short: "Import a local checkpoint archive into the store (copied; the original is left alone)",
		Args:  cobra.ExactArgs(1),
		RunE:  runE(a, ao),
	}
	add.Flags().StringVar(&ao.notes, "notes", "", "free-text notes recorded in the manifest")
	eo := &evidenceExportOptions{evidenceOptions: o}
	export := &cobra.Command{
		Use:   "export ID [--to FILE]",
		Short: "Write an item with its manifest, artifacts and custody log as a bundle for another analyst or store",
		Long: `export verifies the item, then writes it as one plain tar (the archive, manifest.json,
custody.jsonl, artifacts/ and a SHA256SUMS over them) and records the export, with the bundle's
SHA-256, in the item's custody log. "evidence import" on the receiving side checks it all.

An item that fails its verification is refused with exit status 3 and the reason (altered
evidence must not be handed on as if intact). --force exports it anyway: the bundle's custody
log holds the failed verification, the export is recorded with verification=MISMATCH and
forced=true, the run warns and ends with exit status 3, and the receiving store refuses it.`,
		Args: cobra.ExactArgs(1),
		RunE: runE(a, eo),
	}
	export.Flags().StringVar(&eo.to, "to", "", "the bundle file (default ./ID.evidence.tar)")
	export.Flags().BoolVar(&eo.force, "force", false, "export an item that failed its verification (refused by default; recorded in its custody log)")
	imp := &cobra.Command{
		Use:   "import BUNDLE",
		Short: "Receive an item exported by another store, with its chain of custody",
		Long: `import checks an evidence bundle before it keeps anything: one item, every file against
SHA256SUMS, the archive and artifacts against the manifest, the custody chain intact and starting
with the acquisition of that archive. The item keeps its ID, manifest and custody log, which gets
an "imported" event naming the bundle and its SHA-256.`,
		Args: cobra.ExactArgs(1),
		RunE: runE(a, &evidenceImportOptions{o}),
	}
	cmd.AddCommand(list, show, verify, add, export, imp)
	cmd.AddCommand(newKeyCmds(a, o)...)
	return cmd
}

// evidenceListOptions are the options of `podsleuth evidence list`.
type evidenceListOptions struct{ evidenceOptions }

// Run lists the items.
func (o *evidenceListOptions) Run(context.Context) error {
	st, err := o.store()
	if err != nil {
		return err
	}
	items, err := st.List()
	if err != nil {
		return err
	}
	switch {
	case o.json():
		return writeJSON(o.Out, items)
	case o.output == "csv":
		return writeItemsCSV(o.Out, items)
	}
	return printItems(o.Out, items)
}

// evidenceShowOptions are the options of `podsleuth evidence show ID`.
type evidenceShowOptions struct{ evidenceOptions }

// Run shows the item's manifest and custody log.
func (o *evidenceShowOptions) Run(context.Context) error {
	st, err := o.store()
	if err != nil {
		return err
	}
	it, err := st.Get(o.args[0])
	if err != nil {
		return err
	}
	evs, err := st.Custody(it.ID)
	if err != nil {
		return err
	}
	if o.json() {
		return writeJSON(o.Out, struct {
			*evidence.Item
			Custody []evidence.Event `json:"custody"`
		}{it, evs})
	}
	return printItem(o.Out, it, evs)
}

// evidenceVerifyOptions are the options of `podsleuth evidence verify [ID...]`.
type evidenceVerifyOptions struct {
	evidenceOptions
	all bool
}

// Run verifies the items named (every item with --all or none named); exit status 2 when any fails.
func (o *evidenceVerifyOptions) Run(ctx context.Context) error {
	st, err := o.store()
	if err != nil {
		return err
	}
	ids := o.args
	if o.all || len(ids) == 0 {
		items, err := st.List()
		if err != nil {
			return err
		}
		ids = nil
		for _, it := range items {
			ids = append(ids, it.ID)
		}
	}
	var results []*evidence.VerifyResult
	failed := 0
	for _, id := range ids {
		res, err := st.Verify(ctx, id)
		if res == nil {
			return err
		}
		results = append(results, res)
		if !res.OK {
			failed++
		}
	}
	if o.json() {
		if err := writeJSON(o.Out, results); err != nil {
			return err
		}
	} else {
		printVerify(o.Out, results)
	}
	if failed > 0 {
		return &exitError{code: 2, err: fmt.Errorf("%d of %d evidence items FAILED verification: %w", failed, len(results), evidence.ErrTampered)}
	}
	return nil
}

func printVerify(w io.Writer, results []*evidence.VerifyResult) {
	for _, r := range results {
		if r.OK {
			fmt.Fprintf(w, "OK        %s  sha256 %s  %d bytes\n", r.ID, r.Actual, r.Size)
		} else {
			fmt.Fprintf(w, "MISMATCH  %s\n", r.ID)
			for _, p := range r.Problems {
				fmt.Fprintf(w, "          !! %s\n", quote(p))
			}
		}
		sig := r.Signature
		if len(r.Signers) > 0 {
			sig += " by " + strings.Join(r.Signers, ", ")
		}
		fmt.Fprintf(w, "          signatures: %s\n", quote(sig))
		for _, warn := range r.Warnings {
			fmt.Fprintf(w, "          warning: %s\n", quote(warn))
		}
	}
}

// evidenceAddOptions are the options of `podsleuth evidence add ARCHIVE`.
type evidenceAddOptions struct {
	evidenceOptions
	notes string
}

// Run copies the archive into the store.
func (o *evidenceAddOptions) Run(ctx context.Context) error {
	st, err := o.store()
	if err != nil {
		return err
	}
	it, err := st.Import(ctx, o.args[0], evidence.Manifest{
		ToolVersion: version, CaseID: o.cfg.Case.ID, Analyst: o.cfg.Case.Analyst,
		Acquirer: evidence.CurrentActor(), Notes: o.notes,
	})
	if err != nil {
		return err
	}
	if o.json() {
		return writeJSON(o.Out, it)
	}
	fmt.Fprintf(o.Out, "added %s  sha256 %s  %d bytes\n", it.ID, it.Manifest.LocalSHA256, it.Manifest.Size)
	return nil
}

// evidenceExportOptions are the options of `podsleuth evidence export ID`.
type evidenceExportOptions struct {
	evidenceOptions
	to    string
	force bool
}

// Run writes the bundle beside its destination and renames it into place, read-only, once complete.
func (o *evidenceExportOptions) Run(ctx context.Context) error {
	st, err := o.store()
	if err != nil {
		return err
	}
	it, err := st.Get(o.args[0])
	if err != nil {
		return err
	}
	dest := o.to
	if dest == "" {
		dest = it.ID + ".evidence.tar"
	}
	if dest, err = filepath.Abs(dest); err != nil {
		return err
	}
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("export: %s exists (choose another --to)", dest)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".export-*")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer os.Remove(tmp.Name())
	sum, err := st.Export(ctx, it.ID, tmp, evidence.ExportOptions{To: dest, Force: o.force})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o400)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dest)
	}
	if errors.Is(err, evidence.ErrTampered) {
		return &exitError{code: exitMismatch, err: fmt.Errorf("%w (--force exports it anyway, recorded in its custody log)", err)}
	}
	if err != nil {
		return err
	}
	if o.json() {
		err = writeJSON(o.Out, map[string]string{"id": it.ID, "bundle": dest, "bundle_sha256": sum})
	} else {
		_, err = fmt.Fprintf(o.Out, "exported %s to %s  sha256 %s\n", it.ID, dest, sum)
	}
	if err != nil {
		return err
	}
	// a forced export of altered evidence succeeds, but never silently
	if evs, _ := st.Custody(it.ID); len(evs) > 0 && evs[len(evs)-1].Details["forced"] == "true" {
		return &exitError{code: exitMismatch, err: fmt.Errorf("%s failed verification and was exported with --force: %s",
			it.ID, forensics.Printable(evs[len(evs)-1].Details["problems"]))}
	}
	return nil
}

// evidenceImportOptions are the options of `podsleuth evidence import BUNDLE`.
type evidenceImportOptions struct{ evidenceOptions }

// Run checks the bundle and keeps its item.
func (o *evidenceImportOptions) Run(ctx context.Context) error {
	st, err := o.store()
	if err != nil {
		return err
	}
	src, err := filepath.Abs(o.args[0])
	if err != nil {
		return err
	}
	it, err := st.ImportBundle(ctx, src, archive.LimitsFrom(o.cfg.Limits), o.cfg.CacheDir)
	if err != nil {
		return err
	}
	if o.json() {
		return writeJSON(o.Out, it)
	}
	fmt.Fprintf(o.Out, "imported %s  sha256 %s  %d bytes, %d artifact(s), custody log intact\n", it.ID, it.Manifest.LocalSHA256, it.Manifest.Size, len(it.Manifest.Artifacts))
	if evs, err := st.Custody(it.ID); err == nil && len(evs) > 0 {
		d := evs[len(evs)-1].Details
		fmt.Fprintf(o.Out, "signatures: %s; signed by %s\n", quote(d["signatures"]), quote(d["signers"]))
	}
	return nil
}

func printItems(w io.Writer, items []evidence.Item) error {
	if len(items) == 0 {
		_, err := fmt.Fprintln(w, "no evidence yet: acquire with `podsleuth checkpoint NS/POD --pull` or `podsleuth evidence add ARCHIVE`")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCASE\tSOURCE\tACQUIRED (UTC)\tSIZE\tVERIFIED")
	for _, it := range items {
		m := it.Manifest
		verified := "never"
		if !it.LastVerified.IsZero() {
			verified = "ok " + it.LastVerified.Format(time.DateTime)
			if !it.LastVerifiedOK {
				verified = "FAILED " + it.LastVerified.Format(time.DateTime)
			}
		}
		if m.LocalSHA256 == "" {
			verified = "UNREADABLE manifest"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", quote(it.ID), quote(dash(m.CaseID)), quote(m.SourceDescription()),
			m.AcquiredAt.UTC().Format(time.DateTime), forensics.HumanBytes(m.Size), verified)
	}
	return tw.Flush()
}

func printItem(w io.Writer, it *evidence.Item, evs []evidence.Event) error {
	m := it.Manifest
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	// Every value may come from a manifest or log written elsewhere (an imported bundle): each
	// is printed through forensics.Printable, so none can forge a line or drive the terminal.
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, quote(v))
		}
	}
	row("ID", it.ID)
	row("Archive", it.Archive)
	row("Size", fmt.Sprintf("%d bytes (%s)", m.Size, forensics.HumanBytes(m.Size)))
	row("SHA-256 (local)", m.LocalSHA256)
	row("SHA-256 (node)", m.NodeSHA256)
	if m.Cluster != nil {
		row("Cluster", m.Cluster.Server)
		row("Context", m.Cluster.Context)
		row("Identity", strings.TrimSpace(m.Cluster.User+" "+strings.Join(m.Cluster.Groups, ",")))
	}
	row("Node", m.Node)
	row("Node path", m.NodePath)
	if m.Pod != "" {
		row("Pod", m.Namespace+"/"+m.Pod+" (uid "+m.PodUID+")")
	}
	row("Container", strings.TrimSpace(m.Container+" "+m.ContainerID))
	row("Image", strings.TrimSpace(m.Image+" "+m.ImageDigest))
	row("Source", m.SourcePath)
	row("Acquired", m.AcquiredAt.UTC().Format(time.RFC3339))
	row("Case", m.CaseID)
	row("Analyst", m.Analyst)
	row("Tool", m.ToolVersion)
	row("Acquirer", m.Acquirer)
	row("Notes", m.Notes)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nCustody log:")
	for _, e := range evs {
		keys := make([]string, 0, len(e.Details))
		for k := range e.Details {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, quote(k)+"="+quote(e.Details[k]))
		}
		fmt.Fprintf(w, "  %s  %-14s %-20s %s\n", e.Time.UTC().Format(time.RFC3339), quote(e.Action), quote(e.Actor), strings.Join(parts, " "))
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

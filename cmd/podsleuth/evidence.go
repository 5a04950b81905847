package main

import (
	"encoding/hex"
	"encoding/json"
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

// evidenceOptions are the options of `podsleuth evidence ...`.
type evidenceOptions struct {
	output string
	all    bool
	notes  string
}

func newEvidenceCmd(a *app) *cobra.Command {
	o := &evidenceOptions{}
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
		Short: "List the evidence items",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.evidenceStore(cmd)
			if err != nil {
				return err
			}
			items, err := st.List()
			if err != nil {
				return err
			}
			if o.output == "json" {
				return writeJSON(a.Out, items)
			}
			return printItems(a.Out, items)
		},
	}
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show an item's manifest and custody log",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.evidenceStore(cmd)
			if err != nil {
				return err
			}
			it, err := st.Get(args[0])
			if err != nil {
				return err
			}
			evs, err := st.Custody(it.ID)
			if err != nil {
				return err
			}
			if o.output == "json" {
				return writeJSON(a.Out, struct {
					*evidence.Item
					Custody []evidence.Event `json:"custody"`
				}{it, evs})
			}
			return printItem(a.Out, it, evs)
		},
	}
	verify := &cobra.Command{
		Use:   "verify [ID...]",
		Short: "Re-hash archives and check custody logs (exit status 2 on any mismatch)",
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.evidenceStore(cmd)
			if err != nil {
				return err
			}
			if o.all || len(args) == 0 {
				items, err := st.List()
				if err != nil {
					return err
				}
				args = args[:0]
				for _, it := range items {
					args = append(args, it.ID)
				}
			}
			var results []*evidence.VerifyResult
			failed := 0
			for _, id := range args {
				res, err := st.Verify(cmd.Context(), id)
				if res == nil {
					return err
				}
				results = append(results, res)
				if !res.OK {
					failed++
				}
			}
			if o.output == "json" {
				if err := writeJSON(a.Out, results); err != nil {
					return err
				}
			} else {
				for _, r := range results {
					if r.OK {
						fmt.Fprintf(a.Out, "OK        %s  sha256 %s  %d bytes\n", r.ID, r.Actual, r.Size)
					} else {
						fmt.Fprintf(a.Out, "MISMATCH  %s\n", r.ID)
						for _, p := range r.Problems {
							fmt.Fprintf(a.Out, "          !! %s\n", quote(p))
						}
					}
					sig := r.Signature
					if len(r.Signers) > 0 {
						sig += " by " + strings.Join(r.Signers, ", ")
					}
					fmt.Fprintf(a.Out, "          signatures: %s\n", quote(sig))
					for _, w := range r.Warnings {
						fmt.Fprintf(a.Out, "          warning: %s\n", quote(w))
					}
				}
			}
			if failed > 0 {
				return &exitError{code: 2, err: fmt.Errorf("%d of %d evidence items FAILED verification: %w", failed, len(results), evidence.ErrTampered)}
			}
			return nil
		},
	}
	verify.Flags().BoolVar(&o.all, "all", false, "verify every item (the default when no ID is given)")
	add := &cobra.Command{
		Use:   "add ARCHIVE",
		Short: "Import a local checkpoint archive into the store (copied; the original is left alone)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.evidenceStore(cmd)
			if err != nil {
				return err
			}
			c, _ := a.config(cmd)
			it, err := st.Import(cmd.Context(), args[0], evidence.Manifest{
				ToolVersion: version, CaseID: c.Case.ID, Analyst: c.Case.Analyst,
				Acquirer: evidence.CurrentActor(), Notes: o.notes,
			})
			if err != nil {
				return err
			}
			if o.output == "json" {
				return writeJSON(a.Out, it)
			}
			fmt.Fprintf(a.Out, "added %s  sha256 %s  %d bytes\n", it.ID, it.Manifest.LocalSHA256, it.Manifest.Size)
			return nil
		},
	}
	add.Flags().StringVar(&o.notes, "notes", "", "free-text notes recorded in the manifest")
	var to string
	export := &cobra.Command{
		Use:   "export ID [--to FILE]",
		Short: "Write an item with its manifest, artifacts and custody log as a bundle for another analyst or store",
		Long: `export verifies the item, then writes it as one plain tar (the archive, manifest.json,
custody.jsonl, artifacts/ and a SHA256SUMS over them) and records the export, with the bundle's
SHA-256, in the item's custody log. "evidence import" on the receiving side checks it all.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.evidenceStore(cmd)
			if err != nil {
				return err
			}
			it, err := st.Get(args[0])
			if err != nil {
				return err
			}
			dest := to
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
			sum, err := st.Export(cmd.Context(), it.ID, tmp, dest)
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
			if err != nil {
				return err
			}
			if o.output == "json" {
				return writeJSON(a.Out, map[string]string{"id": it.ID, "bundle": dest, "bundle_sha256": sum})
			}
			fmt.Fprintf(a.Out, "exported %s to %s  sha256 %s\n", it.ID, dest, sum)
			return nil
		},
	}
	export.Flags().StringVar(&to, "to", "", "the bundle file (default ./ID.evidence.tar)")
	imp := &cobra.Command{
		Use:   "import BUNDLE",
		Short: "Receive an item exported by another store, with its chain of custody",
		Long: `import checks an evidence bundle before it keeps anything: one item, every file against
SHA256SUMS, the archive and artifacts against the manifest, the custody chain intact and starting
with the acquisition of that archive. The item keeps its ID, manifest and custody log, which gets
an "imported" event naming the bundle and its SHA-256.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.evidenceStore(cmd)
			if err != nil {
				return err
			}
			c, err := a.config(cmd)
			if err != nil {
				return err
			}
			src, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			it, err := st.ImportBundle(cmd.Context(), src, archive.LimitsFrom(c.Limits), c.CacheDir)
			if err != nil {
				return err
			}
			if o.output == "json" {
				return writeJSON(a.Out, it)
			}
			fmt.Fprintf(a.Out, "imported %s  sha256 %s  %d bytes, %d artifact(s), custody log intact\n", it.ID, it.Manifest.LocalSHA256, it.Manifest.Size, len(it.Manifest.Artifacts))
			if evs, err := st.Custody(it.ID); err == nil && len(evs) > 0 {
				d := evs[len(evs)-1].Details
				fmt.Fprintf(a.Out, "signatures: %s; signed by %s\n", quote(d["signatures"]), quote(d["signers"]))
			}
			return nil
		},
	}
	cmd.AddCommand(list, show, verify, add, export, imp)
	cmd.AddCommand(newKeyCmds(a, o)...)
	return cmd
}

// evidenceStore opens the store under the configured data directory.
func (a *app) evidenceStore(cmd *cobra.Command) (*evidence.Store, error) {
	c, err := a.config(cmd)
	if err != nil {
		return nil, err
	}
	return evidence.OpenConfig(c)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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

// newKeyCmds are the signing commands: key (the analyst's public key), trust, revoke, keys.
func newKeyCmds(a *app, o *evidenceOptions) []*cobra.Command {
	key := &cobra.Command{
		Use:   "key",
		Short: "Print the analyst's public signing key (created on first use) for others to trust",
		Long: `key prints the analyst's ed25519 public key (PEM) and its key id. The private key stays in
its file (signing.key, default CONFIG_DIR/analyst-ed25519.pem, mode 0600); give the public key to
whoever receives your evidence bundles: they run "podsleuth evidence trust FILE".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.evidenceStore(cmd)
			if err != nil {
				return err
			}
			sg, err := st.Signer()
			if err != nil {
				return err
			}
			if sg == nil {
				return fmt.Errorf("signing is off (signing.key is \"none\")")
			}
			if o.output == "json" {
				return writeJSON(a.Out, map[string]string{"keyid": sg.KeyID(), "public_pem": sg.PublicPEM(), "public": hex.EncodeToString(sg.Public()), "name": sg.Name, "file": sg.Path})
			}
			fmt.Fprintf(a.Out, "# %s, key id %s (private key: %s)\n%s", quote(sg.Name), sg.KeyID(), sg.Path, sg.PublicPEM())
			return nil
		},
	}
	var name string
	trust := &cobra.Command{
		Use:   "trust PUBKEY",
		Short: "Trust a public key (a PEM file, '-' for stdin, or 64 hex digits) for verify and import",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.config(cmd)
			if err != nil {
				return err
			}
			text := args[0]
			if text == "-" {
				b, err := io.ReadAll(io.LimitReader(a.In, 1<<16))
				if err != nil {
					return err
				}
				text = string(b)
			} else if b, err := os.ReadFile(text); err == nil {
				text = string(b)
			}
			pub, _, err := evidence.ParsePublicKey(text)
			if err != nil {
				return err
			}
			t, err := evidence.LoadTrust(c.Signing.TrustedKeys)
			if err != nil {
				return err
			}
			k, err := t.Add(pub, name, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.Out, "trusted %s since %s\n", quote(k.Label()), k.Added.Format(time.RFC3339))
			return nil
		},
	}
	trust.Flags().StringVar(&name, "name", "", "who the key belongs to (e.g. alice@ir-team)")
	revoke := &cobra.Command{
		Use:   "revoke KEYID",
		Short: "Revoke a trusted key (by key id or a unique prefix): what it signs from now on is refused",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.config(cmd)
			if err != nil {
				return err
			}
			t, err := evidence.LoadTrust(c.Signing.TrustedKeys)
			if err != nil {
				return err
			}
			k, err := t.Revoke(args[0], time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.Out, "revoked %s at %s\n", quote(k.Label()), k.Revoked.Format(time.RFC3339))
			return nil
		},
	}
	keys := &cobra.Command{
		Use:   "keys",
		Short: "List the trusted keys with the time each was added and revoked",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.config(cmd)
			if err != nil {
				return err
			}
			t, err := evidence.LoadTrust(c.Signing.TrustedKeys)
			if err != nil {
				return err
			}
			if o.output == "json" {
				return writeJSON(a.Out, t.Keys)
			}
			tw := tabwriter.NewWriter(a.Out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY ID\tNAME\tADDED (UTC)\tREVOKED (UTC)")
			for _, k := range t.Keys {
				rev := "-"
				if !k.Revoked.IsZero() {
					rev = k.Revoked.UTC().Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.KeyID, quote(dash(k.Name)), k.Added.UTC().Format(time.DateTime), rev)
			}
			return tw.Flush()
		},
	}
	return []*cobra.Command{key, trust, revoke, keys}
}

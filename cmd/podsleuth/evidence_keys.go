package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/forensics/evidence"
)

// newKeyCmds are the signing commands: key (the analyst's public key), trust, revoke, keys.
func newKeyCmds(a *app, o evidenceOptions) []*cobra.Command {
	key := &cobra.Command{
		Use:   "key",
		Short: "Print the analyst's public signing key (created on first use) for others to trust",
		Long: `key prints the analyst's ed25519 public key (PEM) and its key id. The private key stays in
its file (signing.key, default CONFIG_DIR/analyst-ed25519.pem, mode 0600); give the public key to
whoever receives your evidence bundles: they run "podsleuth evidence trust FILE".`,
		Args: cobra.NoArgs,
		RunE: runE(a, &evidenceKeyOptions{o}),
	}
	to := &evidenceTrustOptions{evidenceOptions: o}
	trust := &cobra.Command{
		Use:   "trust PUBKEY",
		Short: "Trust a public key (a PEM file, '-' for stdin, or 64 hex digits) for verify and import",
		Args:  cobra.ExactArgs(1),
		RunE:  runE(a, to),
	}
	trust.Flags().StringVar(&to.name, "name", "", "who the key belongs to (e.g. alice@ir-team)")
	revoke := &cobra.Command{
		Use:   "revoke KEYID",
		Short: "Revoke a trusted key (by key id or a unique prefix): what it signs from now on is refused",
		Args:  cobra.ExactArgs(1),
		RunE:  runE(a, &evidenceRevokeOptions{o}),
	}
	keys := &cobra.Command{
		Use:   "keys",
		Short: "List the trusted keys with the time each was added and revoked",
		Args:  cobra.NoArgs,
		RunE:  runE(a, &evidenceKeysOptions{o}),
	}
	return []*cobra.Command{key, trust, revoke, keys}
}

// trusted loads the trusted keys file the configuration names.
func (o evidenceOptions) trusted() (*evidence.Trust, error) {
	return evidence.LoadTrust(o.cfg.Signing.TrustedKeys)
}

// evidenceKeyOptions are the options of `podsleuth evidence key`.
type evidenceKeyOptions struct{ evidenceOptions }

// Run prints the analyst's public key, creating the key pair on first use.
func (o *evidenceKeyOptions) Run(context.Context) error {
	st, err := o.store()
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
	if o.json() {
		return writeJSON(o.Out, map[string]string{"keyid": sg.KeyID(), "public_pem": sg.PublicPEM(), "public": hex.EncodeToString(sg.Public()), "name": sg.Name, "file": sg.Path})
	}
	fmt.Fprintf(o.Out, "# %s, key id %s (private key: %s)\n%s", quote(sg.Name), sg.KeyID(), sg.Path, sg.PublicPEM())
	return nil
}

// evidenceTrustOptions are the options of `podsleuth evidence trust PUBKEY`.
type evidenceTrustOptions struct {
	evidenceOptions
	name string
}

// Run adds the key (a PEM file, stdin, or hex) to the trusted keys file.
func (o *evidenceTrustOptions) Run(context.Context) error {
	text := o.args[0]
	if text == "-" {
		b, err := io.ReadAll(io.LimitReader(o.In, 1<<16))
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
	t, err := o.trusted()
	if err != nil {
		return err
	}
	k, err := t.Add(pub, o.name, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "trusted %s since %s\n", quote(k.Label()), k.Added.Format(time.RFC3339))
	return nil
}

// evidenceRevokeOptions are the options of `podsleuth evidence revoke KEYID`.
type evidenceRevokeOptions struct{ evidenceOptions }

// Run revokes the trusted key.
func (o *evidenceRevokeOptions) Run(context.Context) error {
	t, err := o.trusted()
	if err != nil {
		return err
	}
	k, err := t.Revoke(o.args[0], time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "revoked %s at %s\n", quote(k.Label()), k.Revoked.Format(time.RFC3339))
	return nil
}

// evidenceKeysOptions are the options of `podsleuth evidence keys`.
type evidenceKeysOptions struct{ evidenceOptions }

// Run lists the trusted keys.
func (o *evidenceKeysOptions) Run(context.Context) error {
	t, err := o.trusted()
	if err != nil {
		return err
	}
	if o.json() {
		return writeJSON(o.Out, t.Keys)
	}
	tw := tabwriter.NewWriter(o.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY ID\tNAME\tADDED (UTC)\tREVOKED (UTC)")
	for _, k := range t.Keys {
		rev := "-"
		if !k.Revoked.IsZero() {
			rev = k.Revoked.UTC().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.KeyID, quote(dash(k.Name)), k.Added.UTC().Format(time.DateTime), rev)
	}
	return tw.Flush()
}

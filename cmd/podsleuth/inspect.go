package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/open"
	"github.com/podsleuth/podsleuth/forensics/render"
)

// inspectOptions are the options of `podsleuth inspect`.
type inspectOptions struct {
	output   string
	sections render.Sections
	pid      int
	hash     bool
	noHash   bool
	opens    []open.Config
	errOut   io.Writer
	// onOpen is told of each opened case (the app's verification warning).
	onOpen func(context.Context, *open.Case)
}

func newInspectCmd(a *app) *cobra.Command {
	o := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect ARCHIVE|EVIDENCE-ID...",
		Short: "Decode checkpoint archives or CRIU image directories and show what was running",
		Long: `inspect decodes a container checkpoint archive (the .tar the kubelet writes, or the .tar.gz /
.tar.zst Podman and CRI-O export; compression is detected from content) or a bare CRIU image
directory (or the archive of an evidence item, by ID), and shows its container metadata, process tree, command lines, environment, open
files, sockets, memory maps, mounts and root filesystem changes.

Without section flags it shows the summary and the process tree. -o json prints the decoded
model (schema_version ` + forensics.SchemaVersion + `, JSON Schema in
forensics/criu/schema/checkpoint-v1.json), one object per archive (an array when
several archives are given); --pid restricts both outputs to one process.`,
		Example: `  podsleuth inspect checkpoint-web-2024.tar
  podsleuth inspect --all --pid 1 checkpoint.tar.zst
  podsleuth inspect -o json ./images/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(a, cmd, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context(), a.Out)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	f.BoolVar(&o.sections.PSTree, "ps-tree", false, "show the process tree")
	f.BoolVar(&o.sections.Cmdline, "cmdline", false, "show each process's command line (implies --ps-tree)")
	f.BoolVar(&o.sections.Env, "env", false, "show each process's environment (implies --ps-tree)")
	f.BoolVar(&o.sections.Maps, "maps", false, "show each process's memory maps (implies --ps-tree)")
	f.BoolVar(&o.sections.Files, "files", false, "show each process's open files, cwd and root (implies --ps-tree)")
	f.BoolVar(&o.sections.Sockets, "sockets", false, "show sockets with owners, states and queued data (implies --ps-tree)")
	f.BoolVar(&o.sections.Mounts, "mounts", false, "show the mount table")
	f.BoolVar(&o.sections.Rootfs, "rootfs", false, "show root filesystem changes (rootfs-diff.tar, deleted.files)")
	f.BoolVar(&o.sections.All, "all", false, "show everything")
	f.IntVar(&o.pid, "pid", 0, "show only this process (PID inside the container)")
	f.BoolVar(&o.hash, "hash", true, "compute the archive's SHA-256 (--no-hash skips it for plain tars opened by path; compressed archives and store evidence are always hashed)")
	f.BoolVar(&o.noHash, "no-hash", false, "skip the SHA-256 of a plain tar opened by path (the same as --hash=false)")
	return cmd
}

// Complete fills the options from the configuration and arguments.
func (o *inspectOptions) Complete(a *app, cmd *cobra.Command, args []string) error {
	cfg, err := a.config(cmd)
	if err != nil {
		return err
	}
	o.opens = nil
	for _, arg := range args {
		oc := open.FromConfig(cfg, arg, cmd.CommandPath())
		oc.NoHash = !o.hash || o.noHash
		o.opens = append(o.opens, oc)
	}
	o.errOut = a.ErrOut
	o.onOpen = a.noteVerification
	if o.pid != 0 {
		o.sections.PSTree = true
	}
	o.sections = o.sections.Normalize()
	return nil
}

// Validate checks the option values.
func (o *inspectOptions) Validate() error {
	if o.output != "text" && o.output != "json" {
		return fmt.Errorf("--output must be text or json, not %q", o.output)
	}
	if o.pid < 0 {
		return fmt.Errorf("--pid must be positive")
	}
	return nil
}

// Run decodes each archive and prints it.
func (o *inspectOptions) Run(ctx context.Context, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	var cps []*forensics.Checkpoint
	for i, oc := range o.opens {
		cs, err := open.Open(ctx, oc)
		if err != nil {
			return err
		}
		_ = cs.Close() // the model is complete: nothing more is read from the archive
		if cs.CustodyErr != nil && o.errOut != nil {
			fmt.Fprintf(o.errOut, "warning: %v\n", cs.CustodyErr)
		}
		if o.onOpen != nil {
			o.onOpen(ctx, cs)
		}
		cp, p := cs.Checkpoint, cs.Path
		if o.pid != 0 {
			if cp.Process(o.pid) == nil {
				return fmt.Errorf("%s: no process with PID %d (PIDs: %s)", p, o.pid, render.PIDList(cp))
			}
			cp = render.OnlyPID(cp, o.pid)
		}
		if o.output == "json" {
			cps = append(cps, cp)
			continue
		}
		if i > 0 {
			fmt.Fprintln(out)
		}
		if err := render.Text(ctx, out, cp, o.sections); err != nil {
			return err
		}
	}
	if o.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if len(cps) == 1 {
			return enc.Encode(cps[0])
		}
		return enc.Encode(cps)
	}
	return nil
}

// quote renders a string for a one-line display (forensics.Printable).
func quote(s string) string { return forensics.Printable(s) }

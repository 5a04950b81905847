package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/forensics/open"
	"github.com/podsleuth/podsleuth/sandbox"
	"github.com/podsleuth/podsleuth/sandbox/restore"
)

// restoreOptions are the options of `podsleuth restore`.
type restoreOptions struct {
	local, cluster  bool
	run, sinkhole   bool
	rootfs          string
	files           []string
	node            string
	allowNodeHelper bool
	output          string
	joinNetPID      int
	force           bool

	job restore.Config
}

func newRestoreCmd(a *app) *cobra.Command {
	o := &restoreOptions{}
	cmd := &cobra.Command{
		Use:   "restore ARCHIVE|IMAGEDIR|EVIDENCE-ID --local [--run] [--sinkhole] [--rootfs DIR|TAR]",
		Short: "Restore a checkpoint into an isolated sandbox for live analysis",
		Long: `Restore a checkpoint into an isolated sandbox, stopped by default (--run lets it continue).

--local (root, criu >= 4.2): fresh network (loopback only), PID, mount, UTS and IPC namespaces and
private copy-on-write copies of every path the process held, so the restore never touches the
host's files or takes over a live unix socket path. Bare CRIU image directories are restored
with criu; container checkpoint archives with runc restore, on a root filesystem rebuilt from
--rootfs (directory or tar) + rootfs-diff.tar + deleted.files, and spec.dump with host
networking, host mounts and devices removed.

--sinkhole gives the sandbox one veth to a podsleuth-owned namespace that answers DNS with its
own address and accepts TCP/UDP on any port, logging time, process, destination and first bytes
to the sandbox's sinkhole.jsonl and the evidence's custody log. Nothing routes to the host.

Manage sandboxes with "podsleuth sandbox list|ps|enter|resume|kill|destroy ID".`,
		Example: `  podsleuth restore test/fixtures/images/full --local
  podsleuth restore 3f2a9c --local --sinkhole --run
  podsleuth restore checkpoint.tar --local --rootfs busybox-rootfs.tar`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(a, cmd, args); err != nil {
				return err
			}
			if err := o.validate(); err != nil {
				return err
			}
			return o.runRestore(a, cmd)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.local, "local", false, "restore on this machine in fresh Linux namespaces")
	f.BoolVar(&o.cluster, "cluster", false, "restore into a quarantine namespace of the cluster")
	f.BoolVar(&o.run, "run", false, "let the restored processes run (default: restored stopped)")
	f.BoolVar(&o.sinkhole, "sinkhole", false, "connect the sandbox to a logging sinkhole (DNS + any TCP/UDP)")
	f.StringVar(&o.rootfs, "rootfs", "", "base root filesystem of a container checkpoint (directory or tar)")
	f.StringArrayVar(&o.files, "file", nil, "supply a held file from elsewhere: HELD-PATH=LOCAL-COPY (repeatable)")
	f.StringVar(&o.node, "node", "", "cluster: node to restore on")
	f.BoolVar(&o.allowNodeHelper, "allow-node-helper", false, "cluster: allow a short-lived privileged helper pod on the node (containerd)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	f.BoolVar(&o.force, "force", false, "restore store evidence that failed its verification (refused by default; recorded in its custody log)")
	f.IntVar(&o.joinNetPID, "join-net-pid", 0, "restore into this process's network namespace, quarantined (used by the cluster node helper)")
	_ = f.MarkHidden("join-net-pid")
	return cmd
}

func (o *restoreOptions) complete(a *app, cmd *cobra.Command, args []string) error {
	c, err := a.config(cmd)
	if err != nil {
		return err
	}
	o.job = restore.Config{Settings: c, Arg: args[0], Run: o.run, Sinkhole: o.sinkhole, Rootfs: o.rootfs,
		Node: o.node, AllowNodeHelper: o.allowNodeHelper, JoinNetPID: o.joinNetPID, Force: o.force}
	for _, f := range o.files {
		held, loc, ok := strings.Cut(f, "=")
		if !ok || !filepath.IsAbs(held) || loc == "" {
			return fmt.Errorf("--file %q: want HELD-PATH=LOCAL-COPY with an absolute held path", f)
		}
		if o.job.Files == nil {
			o.job.Files = map[string]string{}
		}
		o.job.Files[held] = loc
	}
	return nil
}

func (o *restoreOptions) validate() error {
	switch {
	case o.local == o.cluster:
		return errors.New("choose exactly one of --local and --cluster")
	case o.output != "text" && o.output != "json":
		return fmt.Errorf("--output %q: want text or json", o.output)
	case o.cluster && o.sinkhole:
		return errors.New("--sinkhole is for --local sandboxes; a cluster sandbox has no network but loopback")
	}
	return nil
}

func (o *restoreOptions) runRestore(a *app, cmd *cobra.Command) error {
	if o.cluster {
		conn, _, err := a.connect(cmd.Context(), cmd)
		if err != nil {
			return err
		}
		o.job.Cluster = conn
	}
	info, err := restore.Run(cmd.Context(), o.job)
	if errors.Is(err, open.ErrMismatch) {
		return &exitError{code: exitMismatch, err: err}
	}
	if err != nil {
		return err
	}
	if info.EvidenceVerification == open.StateMismatch {
		a.mismatched = append(a.mismatched, info.EvidenceID) // --force: restored, but exit 3
	}
	if o.output == "json" {
		return writeJSON(a.Out, info)
	}
	return printSandbox(a.Out, info)
}

func printSandbox(w io.Writer, in *sandbox.Info) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "sandbox\t%s (%s, %s)\n", in.ID, in.Backend, in.Kind)
	fmt.Fprintf(tw, "state\t%s\n", in.State)
	fmt.Fprintf(tw, "source\t%s\n", in.Source)
	if in.EvidenceID != "" {
		fmt.Fprintf(tw, "evidence\t%s (sha256 %s)\n", in.EvidenceID, in.EvidenceSHA256)
		if in.EvidenceVerification != "" {
			fmt.Fprintf(tw, "verification\t%s before the restore\n", in.EvidenceVerification)
		}
	}
	if in.RootPID != 0 {
		fmt.Fprintf(tw, "restored root\thost pid %d\n", in.RootPID)
	}
	if in.InitPID != 0 {
		fmt.Fprintf(tw, "namespace holder\thost pid %d\n", in.InitPID)
	}
	for _, t := range []string{"net", "pid", "mnt", "uts", "ipc"} {
		if v := in.Namespaces[t]; v != "" {
			fmt.Fprintf(tw, "%s namespace\t%s\n", t, v)
		}
	}
	if in.Sinkhole != nil {
		fmt.Fprintf(tw, "sinkhole\t%s (sandbox %s), log %s\n", in.Sinkhole.Address, in.Sinkhole.SandboxAddress, in.Sinkhole.Log)
	} else if in.Backend == sandbox.BackendLocal {
		fmt.Fprintf(tw, "network\tloopback only\n")
	}
	if in.Namespace != "" {
		fmt.Fprintf(tw, "quarantine namespace\t%s (node %s, placeholder pod %s)\n", in.Namespace, in.Node, in.Pod)
	}
	for _, v := range in.Isolation {
		fmt.Fprintf(tw, "isolation\t%s\n", v)
	}
	for _, p := range in.PrivatePaths {
		fmt.Fprintf(tw, "private copy\t%s\n", p)
	}
	for _, p := range in.Recreated {
		fmt.Fprintf(tw, "recreated\t%s (size as recorded, contents not in the checkpoint)\n", p)
	}
	for _, wn := range in.Warnings {
		fmt.Fprintf(tw, "warning\t%s\n", wn)
	}
	if in.RestoreSeconds > 0 {
		fmt.Fprintf(tw, "restore took\t%.3f s\n", in.RestoreSeconds)
	}
	fmt.Fprintf(tw, "state dir\t%s\n", in.Dir)
	if err := tw.Flush(); err != nil {
		return err
	}
	if in.State == "stopped" {
		_, err := fmt.Fprintf(w, "\nThe restored processes are stopped. Resume: podsleuth sandbox resume %s; shell: podsleuth sandbox enter %s\n", in.ID, in.ID)
		return err
	}
	return nil
}

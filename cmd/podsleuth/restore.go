package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/open"
	"github.com/podsleuth/podsleuth/sandbox"
	"github.com/podsleuth/podsleuth/sandbox/kube"
	"github.com/podsleuth/podsleuth/sandbox/local"
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
	source          string
	req             sandbox.Request
	cleanup         func()
	backend         sandbox.Restorer
	joinNetPID      int
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
			defer o.cleanup()
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
	f.IntVar(&o.joinNetPID, "join-net-pid", 0, "restore into this process's network namespace, quarantined (used by the cluster node helper)")
	_ = f.MarkHidden("join-net-pid")
	return cmd
}

func (o *restoreOptions) complete(a *app, cmd *cobra.Command, args []string) error {
	o.cleanup = func() {}
	c, err := a.config(cmd)
	if err != nil {
		return err
	}
	o.source = args[0]
	o.req = sandbox.Request{Source: args[0], Run: o.run, Sinkhole: o.sinkhole, Rootfs: o.rootfs, CaseID: c.Case.ID, JoinNetPID: o.joinNetPID}
	if len(o.files) > 0 {
		o.req.Files = map[string]string{}
		for _, f := range o.files {
			held, loc, ok := strings.Cut(f, "=")
			if !ok || !filepath.IsAbs(held) || loc == "" {
				return fmt.Errorf("--file %q: want HELD-PATH=LOCAL-COPY with an absolute held path", f)
			}
			abs, err := filepath.Abs(loc)
			if err != nil {
				return err
			}
			o.req.Files[filepath.Clean(held)] = abs
		}
	}
	if o.rootfs != "" {
		if o.req.Rootfs, err = filepath.Abs(o.rootfs); err != nil {
			return err
		}
	}
	// the argument: a path, or the ID of an item in the evidence store
	t, err := open.Resolve(open.FromConfig(c, args[0], ""))
	if err != nil {
		return err
	}
	path, err := filepath.Abs(t.Path)
	if err != nil {
		return err
	}
	if it := t.Item; it != nil {
		o.req.EvidenceID, o.req.EvidenceSHA256, o.req.Custody = it.ID, it.Manifest.LocalSHA256, t.Store
		if o.req.CaseID == "" {
			o.req.CaseID = it.Manifest.CaseID
		}
	}
	o.req.Archive = path
	if o.local {
		o.backend = localBackend(c)
	} else if o.cluster {
		if o.sinkhole {
			return errors.New("--sinkhole is for --local sandboxes; a cluster sandbox has no network but loopback")
		}
		conn, _, err := a.connect(cmd.Context(), cmd)
		if err != nil {
			return err
		}
		if conn.Readonly {
			return fmt.Errorf("restore --cluster: %w: it creates namespaces and pods (drop --readonly)", cluster.ErrReadonly)
		}
		if o.node == "" && t.Item != nil {
			o.node = t.Item.Manifest.Node
		}
		o.backend = clusterBackend(c, conn, o.node, o.allowNodeHelper)
	} else {
		return nil
	}
	return o.prepareInput(cmd, c, path)
}

// prepareInput sets Images/Bundle: a bare image dir is used in place; an archive is unpacked
// (through forensics/archive, which refuses traversal, links and bombs) into a temporary
// directory removed when the command ends (the sandbox keeps what it needs).
func (o *restoreOptions) prepareInput(cmd *cobra.Command, c *config.Config, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() {
		if _, err := os.Stat(filepath.Join(path, "checkpoint", "inventory.img")); err == nil {
			o.req.Bundle, o.req.Images = path, filepath.Join(path, "checkpoint")
			return nil
		}
		o.req.Images = path
		return nil
	}
	ar, err := archive.Open(cmd.Context(), path, archive.LimitsFrom(c.Limits), open.CacheDir(c.CacheDir))
	if err != nil {
		return err
	}
	defer ar.Close()
	if err := os.MkdirAll(c.CacheDir, 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(c.CacheDir, "restore-")
	if err != nil {
		return err
	}
	o.cleanup = func() { _ = os.RemoveAll(tmp) }
	if err := sandbox.Unpack(cmd.Context(), ar, tmp); err != nil {
		return err
	}
	if ar.ImageDir() == "" {
		o.req.Images = tmp
		return nil
	}
	o.req.Bundle, o.req.Images = tmp, filepath.Join(tmp, strings.TrimSuffix(ar.ImageDir(), "/"))
	return nil
}

func (o *restoreOptions) validate() error {
	switch {
	case o.local == o.cluster:
		return errors.New("choose exactly one of --local and --cluster")
	case o.output != "text" && o.output != "json":
		return fmt.Errorf("--output %q: want text or json", o.output)
	case o.req.Bundle == "" && o.rootfs != "":
		return errors.New("--rootfs applies to container checkpoint archives only; this is a bare CRIU image directory")
	}
	return nil
}

func (o *restoreOptions) runRestore(a *app, cmd *cobra.Command) error {
	info, err := o.backend.Restore(cmd.Context(), o.req)
	if err != nil {
		_ = sandbox.LogCustody(o.req.Custody, o.req.EvidenceID, "restore-refused", map[string]string{"error": err.Error()})
		return err
	}
	if err := sandbox.LogCustody(o.req.Custody, o.req.EvidenceID, "restored", map[string]string{
		"sandbox": info.ID, "backend": info.Backend, "state": info.State, "dir": info.Dir,
		"net_ns": info.Namespaces["net"], "pid_ns": info.Namespaces["pid"], "sinkhole": fmt.Sprint(info.Sinkhole != nil),
	}); err != nil {
		return fmt.Errorf("sandbox %s restored, but writing the custody log failed: %w", info.ID, err)
	}
	if o.output == "json" {
		return writeJSON(a.Out, info)
	}
	return printSandbox(a.Out, info)
}

// clusterBackend builds the cluster backend.
func clusterBackend(c *config.Config, conn *cluster.Conn, node string, allowHelper bool) *kube.Kube {
	exe, _ := os.Executable()
	var env []string
	if c.Sandbox.NodeCRIU != "" {
		env = append(env, "PODSLEUTH_SANDBOX_CRIU="+c.Sandbox.NodeCRIU)
	}
	if c.Sandbox.NodeRuntime != "" {
		env = append(env, "PODSLEUTH_SANDBOX_RUNTIME="+c.Sandbox.NodeRuntime)
	}
	return kube.New(kube.Config{Client: conn.Client, REST: conn.Config, Node: node, AllowNodeHelper: allowHelper,
		Image: c.Sandbox.HelperImage, Exe: exe, NodeDir: c.Sandbox.NodeDir, NodeEnv: env, StateDir: stateDir(c)})
}

// stateDir is where sandbox state lives.
func stateDir(c *config.Config) string {
	if c.Sandbox.StateDir != "" {
		return c.Sandbox.StateDir
	}
	return filepath.Join(c.CacheDir, "sandboxes")
}

// localBackend builds the local backend from the configuration.
func localBackend(c *config.Config) *local.Local {
	criu := c.Sandbox.CRIU
	if criu == "" {
		criu = os.Getenv("PODSLEUTH_CRIU")
	}
	runtime := c.Sandbox.Runtime
	if runtime == "" {
		if d := os.Getenv("PODSLEUTH_K8S_BIN"); d != "" {
			runtime = filepath.Join(d, "runc")
		}
	}
	state := stateDir(c)
	exe, err := os.Executable()
	if err != nil {
		exe = "podsleuth"
	}
	return local.New(local.Config{CRIU: criu, Runtime: runtime, StateDir: state,
		SinkholeCommand: []string{exe, "sandbox", "sinkhole-serve"}})
}

func printSandbox(w io.Writer, in *sandbox.Info) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "sandbox\t%s (%s, %s)\n", in.ID, in.Backend, in.Kind)
	fmt.Fprintf(tw, "state\t%s\n", in.State)
	fmt.Fprintf(tw, "source\t%s\n", in.Source)
	if in.EvidenceID != "" {
		fmt.Fprintf(tw, "evidence\t%s (sha256 %s)\n", in.EvidenceID, in.EvidenceSHA256)
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

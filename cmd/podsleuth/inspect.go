package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/open"
)

// inspectOptions are the options of `podsleuth inspect`.
type inspectOptions struct {
	output  string
	psTree  bool
	cmdline bool
	env     bool
	maps    bool
	files   bool
	sockets bool
	mounts  bool
	rootfs  bool
	all     bool
	pid     int
	hash    bool
	opens   []open.Config
	errOut  io.Writer
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
	f.BoolVar(&o.psTree, "ps-tree", false, "show the process tree")
	f.BoolVar(&o.cmdline, "cmdline", false, "show each process's command line (implies --ps-tree)")
	f.BoolVar(&o.env, "env", false, "show each process's environment (implies --ps-tree)")
	f.BoolVar(&o.maps, "maps", false, "show each process's memory maps (implies --ps-tree)")
	f.BoolVar(&o.files, "files", false, "show each process's open files, cwd and root (implies --ps-tree)")
	f.BoolVar(&o.sockets, "sockets", false, "show sockets with owners, states and queued data (implies --ps-tree)")
	f.BoolVar(&o.mounts, "mounts", false, "show the mount table")
	f.BoolVar(&o.rootfs, "rootfs", false, "show root filesystem changes (rootfs-diff.tar, deleted.files)")
	f.BoolVar(&o.all, "all", false, "show everything")
	f.IntVar(&o.pid, "pid", 0, "show only this process (PID inside the container)")
	f.BoolVar(&o.hash, "hash", true, "compute the archive's SHA-256 (--hash=false skips it for plain tars; compressed archives are always hashed)")
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
		oc.NoHash = !o.hash
		o.opens = append(o.opens, oc)
	}
	o.errOut = a.ErrOut
	if o.all {
		o.psTree, o.cmdline, o.env, o.maps, o.files, o.sockets, o.mounts, o.rootfs = true, true, true, true, true, true, true, true
	}
	if o.cmdline || o.env || o.maps || o.files || o.sockets || o.pid != 0 {
		o.psTree = true
	}
	if !o.psTree && !o.mounts && !o.rootfs {
		o.psTree = true // default: summary + tree
	}
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
		cp, p := cs.Checkpoint, cs.Path
		if o.pid != 0 {
			if cp.Process(o.pid) == nil {
				return fmt.Errorf("%s: no process with PID %d (PIDs: %s)", p, o.pid, pidList(cp))
			}
			cp = onlyPID(cp, o.pid)
		}
		if o.output == "json" {
			cps = append(cps, cp)
			continue
		}
		if i > 0 {
			fmt.Fprintln(out)
		}
		if err := o.writeText(out, cp); err != nil {
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

func pidList(cp *forensics.Checkpoint) string {
	var s []string
	for _, p := range cp.Processes {
		s = append(s, fmt.Sprint(p.PID))
	}
	return strings.Join(s, ", ")
}

// onlyPID returns a copy of cp restricted to one process and the sockets and pipes it holds.
func onlyPID(cp *forensics.Checkpoint, pid int) *forensics.Checkpoint {
	c := *cp
	p := *cp.Process(pid)
	c.Processes = []forensics.Process{p}
	holds := func(owners []int) bool {
		for _, o := range owners {
			if o == pid {
				return true
			}
		}
		return false
	}
	c.Sockets, c.Pipes = nil, nil
	for _, s := range cp.Sockets {
		if holds(s.Owners) {
			c.Sockets = append(c.Sockets, s)
		}
	}
	for _, pp := range cp.Pipes {
		if holds(pp.Owners) {
			c.Pipes = append(c.Pipes, pp)
		}
	}
	return &c
}

// tree is a plain text tree: "├── " / "└── " branches, no colours.
type tree struct {
	text     string
	children []*tree
}

func (t *tree) add(format string, args ...any) *tree {
	c := &tree{text: fmt.Sprintf(format, args...)}
	t.children = append(t.children, c)
	return c
}

func (t *tree) write(w io.Writer) error {
	var b strings.Builder
	b.WriteString(t.text)
	b.WriteByte('\n')
	var walk func(n *tree, prefix string)
	walk = func(n *tree, prefix string) {
		for i, c := range n.children {
			branch, next := "├── ", "│   "
			if i == len(n.children)-1 {
				branch, next = "└── ", "    "
			}
			lines := strings.Split(c.text, "\n")
			b.WriteString(prefix + branch + lines[0] + "\n")
			for _, l := range lines[1:] {
				b.WriteString(prefix + next + l + "\n")
			}
			walk(c, prefix+next)
		}
	}
	walk(t, "")
	_, err := io.WriteString(w, b.String())
	return err
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// quote renders a string for a one-line display (forensics.Printable).
func quote(s string) string { return forensics.Printable(s) }

func (o *inspectOptions) writeText(w io.Writer, cp *forensics.Checkpoint) error {
	title := cp.Source.Path
	if c := cp.Container; c != nil && c.Name != "" {
		title = c.Name
	}
	root := &tree{text: fmt.Sprintf("Displaying checkpoint tree view from %s\n\n%s", cp.Source.Path, title)}
	o.summary(root, cp)
	if o.psTree {
		o.processTree(root, cp)
	}
	if o.sockets && len(cp.Sockets) > 0 {
		sk := root.add("Sockets (%d)", len(cp.Sockets))
		for _, s := range cp.Sockets {
			socketNode(sk, s)
		}
	}
	if o.files && len(cp.Pipes) > 0 {
		pn := root.add("Pipes (%d)", len(cp.Pipes))
		for _, p := range cp.Pipes {
			kind := "pipe"
			if p.FIFO {
				kind = "fifo " + p.Path
			}
			n := pn.add("pipe:[%d] %s, owners %v", p.ID, kind, p.Owners)
			if p.Buffer != nil {
				n.add("unread %s: %q", forensics.HumanBytes(p.Buffer.Size), p.Buffer.Preview)
			}
		}
	}
	if o.mounts {
		mn := root.add("Mounts (%d)", len(cp.Mounts))
		for _, m := range cp.Mounts {
			line := fmt.Sprintf("%s  %s  %s", m.Mountpoint, m.FSType, m.Source)
			if m.Root != "" && m.Root != "/" {
				line += "  root=" + m.Root
			}
			if m.Options != "" {
				line += "  " + m.Options
			}
			if m.External != "" {
				line += "  (external: " + m.External + ")"
			}
			mn.add("%s", line)
		}
	}
	if o.rootfs {
		o.rootfsNode(root, cp)
	}
	if len(cp.Warnings) > 0 {
		wn := root.add("Warnings (%d): parts of the input that could not be decoded", len(cp.Warnings))
		for _, s := range cp.Warnings {
			wn.add("%s", s)
		}
	}
	return root.write(w)
}

func (o *inspectOptions) summary(root *tree, cp *forensics.Checkpoint) {
	if c := cp.Container; c != nil {
		if c.Image != "" {
			root.add("Image: %s", c.Image)
		}
		if c.ImageID != "" {
			root.add("Image ID: %s", c.ImageID)
		}
		if c.ID != "" {
			root.add("ID: %s", c.ID)
		}
		root.add("Engine: %s", c.Engine)
		if c.Runtime != "" {
			root.add("Runtime: %s", c.Runtime)
		}
		if c.Pod != nil {
			pod := root.add("Pod: %s/%s", c.Pod.Namespace, c.Pod.Name)
			if c.Pod.UID != "" {
				pod.add("UID: %s", c.Pod.UID)
			}
			if c.Pod.ContainerName != "" {
				pod.add("Container: %s", c.Pod.ContainerName)
			}
		}
		if c.Hostname != "" {
			root.add("Hostname: %s", c.Hostname)
		}
		for _, n := range c.Networks {
			line := strings.TrimSpace("Network: " + n.Network + " " + n.Interface + " " + strings.Join(n.Addresses, ", "))
			if n.MAC != "" {
				line += "  mac " + n.MAC
			}
			if n.Gateway != "" {
				line += "  gateway " + n.Gateway
			}
			root.add("%s", line)
		}
		if !c.Created.IsZero() {
			root.add("Created: %s", ts(c.Created))
		}
		if !c.Checkpointed.IsZero() {
			root.add("Checkpointed: %s", ts(c.Checkpointed))
		}
		if len(c.Args) > 0 {
			root.add("Container command: %s", quote(strings.Join(c.Args, " ")))
		}
		if c.RootfsDiffSz > 0 {
			root.add("Root filesystem diff: %s", forensics.HumanBytes(c.RootfsDiffSz))
		}
	}
	src := fmt.Sprintf("Source: %s", cp.Source.Format)
	if cp.Source.Size > 0 {
		src += ", " + forensics.HumanBytes(cp.Source.Size)
	}
	sn := root.add("%s", src)
	if cp.Source.SHA256 != "" {
		sn.add("SHA-256: %s", cp.Source.SHA256)
	}
	var imgBytes, pages int64
	for _, im := range cp.CRIU.Images {
		imgBytes += im.Size
		if strings.HasPrefix(im.Name, "pages-") {
			pages += im.Size
		}
	}
	cn := root.add("CRIU images: %d files, %s (memory pages %s), image version %d", len(cp.CRIU.Images), forensics.HumanBytes(imgBytes), forensics.HumanBytes(pages), cp.CRIU.ImageVersion)
	if cp.CRIU.PagemapFormat != "" {
		cn.add("Pagemap encoding: %s", cp.CRIU.PagemapFormat)
	}
	if d := cp.CRIU.Dump; d != nil {
		st := root.add("CRIU dump statistics")
		st.add("Freezing time: %s", time.Duration(d.FreezingTime)*time.Microsecond)
		st.add("Frozen time: %s", time.Duration(d.FrozenTime)*time.Microsecond)
		st.add("Memdump time: %s", time.Duration(d.MemdumpTime)*time.Microsecond)
		st.add("Memwrite time: %s", time.Duration(d.MemwriteTime)*time.Microsecond)
		st.add("Pages scanned: %d", d.PagesScanned)
		st.add("Pages written: %d", d.PagesWritten)
	}
	for _, ns := range cp.Namespaces {
		if ns.Type == "uts" && ns.Hostname != "" && (cp.Container == nil || cp.Container.Hostname == "") {
			root.add("Hostname (UTS namespace): %s", ns.Hostname)
		}
	}
}

func (o *inspectOptions) processTree(root *tree, cp *forensics.Checkpoint) {
	pt := root.add("Process tree (%d processes)", len(cp.Processes))
	byPID := map[int]*forensics.Process{}
	for i := range cp.Processes {
		byPID[cp.Processes[i].PID] = &cp.Processes[i]
	}
	sockets := map[uint32]forensics.Socket{}
	for _, s := range cp.Sockets {
		sockets[s.Ino] = s
	}
	shown := map[int]bool{}
	var visit func(parent *tree, p *forensics.Process, depth int)
	visit = func(parent *tree, p *forensics.Process, depth int) {
		if shown[p.PID] {
			return
		}
		shown[p.PID] = true
		line := fmt.Sprintf("[%d]  %s", p.PID, p.Comm)
		if p.State != "" && p.State != "alive" {
			line += "  (" + p.State + ")"
		}
		if len(p.Threads) > 1 {
			line += fmt.Sprintf("  %d threads", len(p.Threads))
		}
		if p.Creds.EUID != 0 || p.Creds.UID != 0 {
			line += fmt.Sprintf("  uid %d", p.Creds.EUID)
		}
		n := parent.add("%s", line)
		if p.Exe != "" {
			e := p.Exe
			if p.ExeDeleted {
				e += " (deleted)"
			}
			if o.cmdline || o.files {
				n.add("Executable: %s", e)
			} else if p.ExeDeleted {
				n.add("Executable: %s", e)
			}
		}
		if o.cmdline {
			if p.Cmdline == nil {
				n.add("Command line: (argument pages not in the checkpoint)")
			} else {
				n.add("Command line: %s", quote(strings.Join(p.Cmdline, " ")))
			}
		}
		if o.env {
			if p.Environ == nil {
				n.add("Environment: (environment pages not in the checkpoint)")
			} else {
				en := n.add("Environment variables (%d)", len(p.Environ))
				for _, e := range p.Environ {
					en.add("%s", quote(e))
				}
			}
		}
		if (o.cmdline || o.all) && len(p.Threads) > 1 {
			ids := make([]string, len(p.Threads))
			for i, t := range p.Threads {
				ids[i] = strconv.Itoa(t)
			}
			n.add("Threads: %s", strings.Join(ids, ", "))
		}
		if o.cmdline || o.all {
			c := p.Creds
			cr := n.add("Credentials: uid %d/%d/%d/%d gid %d/%d/%d/%d", c.UID, c.EUID, c.SUID, c.FSUID, c.GID, c.EGID, c.SGID, c.FSGID)
			if len(c.CapEff) > 0 {
				cr.add("Effective capabilities: %s", strings.Join(c.CapEff, " "))
			}
			if c.Seccomp != "" {
				cr.add("Seccomp: %s, no_new_privs: %v", c.Seccomp, c.NoNewPrivs)
			}
		}
		if o.files {
			fn := n.add("Open files (%d)", len(p.FDs))
			if p.Cwd != "" {
				fn.add("[cwd]  %s", p.Cwd)
			}
			if p.Root != "" {
				fn.add("[root]  %s", p.Root)
			}
			for _, f := range p.FDs {
				path := f.Path
				if f.Deleted {
					path += " (deleted)"
				}
				line := fmt.Sprintf("[%d]  %-9s %s", f.FD, f.Type, quote(path))
				if f.Flags != "" {
					line += "  " + f.Flags
				}
				if f.Type == forensics.FDRegular && (f.Size > 0 || f.Pos > 0) {
					line += fmt.Sprintf("  pos %d size %d", f.Pos, f.Size)
				}
				detail, more := p.FDDetail(f)
				if detail != "" {
					line += "  " + detail
				}
				dn := fn.add("%s", line)
				for _, m := range more {
					dn.add("%s", m)
				}
			}
		}
		if o.sockets {
			var own []forensics.Socket
			for _, f := range p.FDs {
				if f.SocketIno != 0 {
					if s, ok := sockets[f.SocketIno]; ok {
						own = append(own, s)
					}
				}
			}
			if len(own) > 0 {
				sn := n.add("Open sockets (%d)", len(own))
				for _, s := range own {
					sn.add("%s", socketLine(s))
				}
			}
		}
		if o.maps {
			mn := n.add("Memory maps (%d)", len(p.Maps))
			for _, m := range p.Maps {
				path := m.Path
				if m.Deleted {
					path += " (deleted)"
				}
				mn.add("%012x-%012x %s %-6s %8s resident %-9s %s", m.Start, m.End, m.Prot, m.Kind, forensics.HumanBytes(int64(m.Size())), forensics.HumanBytes(int64(m.ResidentBytes)), quote(path))
			}
		}
		if depth > 256 {
			n.add("(deeper levels not shown)")
			return
		}
		for _, c := range p.Children {
			if cp2, ok := byPID[c]; ok {
				visit(n, cp2, depth+1)
			}
		}
	}
	roots := cp.Roots()
	sort.Ints(roots)
	for _, r := range roots {
		visit(pt, byPID[r], 0)
	}
	// A hostile pstree can make parents form a cycle with no root: show what is left flat.
	for i := range cp.Processes {
		if !shown[cp.Processes[i].PID] {
			visit(pt, &cp.Processes[i], 0)
		}
	}
}

func socketLine(s forensics.Socket) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s", s.Family, s.Type)
	if s.Protocol != "" && s.Family != "unix" {
		fmt.Fprintf(&b, " (%s)", s.Protocol)
	}
	switch s.Family {
	case "inet", "inet6":
		fmt.Fprintf(&b, " %s", hostPort(s.LocalAddr, s.LocalPort))
		if s.RemoteAddr != "" || s.RemotePort != 0 {
			fmt.Fprintf(&b, " -> %s", hostPort(s.RemoteAddr, s.RemotePort))
		}
	case "unix":
		if s.Path != "" {
			fmt.Fprintf(&b, " %s", quote(s.Path))
		}
		if s.PeerIno != 0 {
			fmt.Fprintf(&b, " peer socket:[%d]", s.PeerIno)
		}
	case "netlink":
		fmt.Fprintf(&b, " portid %d", s.LocalPort)
	}
	fmt.Fprintf(&b, " %s  socket:[%d]", s.State, s.Ino)
	if s.RecvQueue != nil {
		fmt.Fprintf(&b, "  recv-q %d", s.RecvQueue.Size)
	}
	if s.SendQueue != nil {
		fmt.Fprintf(&b, "  send-q %d", s.SendQueue.Size)
	}
	return b.String()
}

func hostPort(addr string, port uint32) string {
	if strings.Contains(addr, ":") {
		return fmt.Sprintf("[%s]:%d", addr, port)
	}
	if addr == "" {
		addr = "*"
	}
	return fmt.Sprintf("%s:%d", addr, port)
}

func socketNode(parent *tree, s forensics.Socket) {
	n := parent.add("%s  owners %v", socketLine(s), s.Owners)
	if s.RecvQueue != nil {
		n.add("receive queue %s: %q", forensics.HumanBytes(s.RecvQueue.Size), s.RecvQueue.Preview)
	}
	if s.SendQueue != nil {
		n.add("send queue %s: %q", forensics.HumanBytes(s.SendQueue.Size), s.SendQueue.Preview)
	}
}

func (o *inspectOptions) rootfsNode(root *tree, cp *forensics.Checkpoint) {
	if cp.Container == nil && len(cp.Rootfs) == 0 {
		root.add("Root filesystem changes: none recorded (bare CRIU image directory)")
		return
	}
	rn := root.add("Root filesystem changes (%d)", len(cp.Rootfs))
	for _, r := range cp.Rootfs {
		line := fmt.Sprintf("%-8s %-8s %s", r.Kind, r.Type, quote(r.Path))
		if r.Kind != forensics.RootfsDeleted {
			line += fmt.Sprintf("  %s %s", r.Mode, forensics.HumanBytes(r.Size))
		}
		if r.Executable {
			line += "  executable"
		}
		if r.LinkTarget != "" {
			line += " -> " + quote(r.LinkTarget)
		}
		rn.add("%s", line)
	}
}

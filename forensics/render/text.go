// Package render writes the decoded checkpoint model as plain text for the CLI (as go-criu keeps
// its printing in crit/cli, outside crit): a tree of the container, the process tree and the
// sections asked for. No colours; every string from the workload goes through
// forensics.Printable, so a hostile name can neither fake a line nor reach the terminal's escape
// parser.
package render

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/podsleuth/podsleuth/forensics"
)

// Sections says which parts of a checkpoint Text shows besides the summary. All shows every
// section and, in the process tree, threads and credentials.
type Sections struct {
	PSTree, Cmdline, Env, Maps, Files, Sockets, Mounts, Rootfs, All bool
}

// Normalize applies the implications between sections: All turns every section on, a
// per-process section implies the process tree, and with no section the tree is shown.
func (o Sections) Normalize() Sections {
	if o.All {
		o.PSTree, o.Cmdline, o.Env, o.Maps, o.Files, o.Sockets, o.Mounts, o.Rootfs = true, true, true, true, true, true, true, true
	}
	if o.Cmdline || o.Env || o.Maps || o.Files || o.Sockets {
		o.PSTree = true
	}
	if !o.PSTree && !o.Mounts && !o.Rootfs {
		o.PSTree = true
	}
	return o
}

// Text writes cp as a plain text tree with the sections o asks for.
func Text(ctx context.Context, w io.Writer, cp *forensics.Checkpoint, o Sections) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return o.text(w, cp)
}

func PIDList(cp *forensics.Checkpoint) string {
	var s []string
	for _, p := range cp.Processes {
		s = append(s, fmt.Sprint(p.PID))
	}
	return strings.Join(s, ", ")
}

// OnlyPID returns a copy of cp restricted to one process and the sockets and pipes it holds.
func OnlyPID(cp *forensics.Checkpoint, pid int) *forensics.Checkpoint {
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

// add appends a child line. The whole line goes through forensics.Printable, so no string of the
// workload's (container, image, pod, host, process, file or mount name, warning) can start a
// line of its own or send an escape sequence; text already quoted stays as it is.
func (t *tree) add(format string, args ...any) *tree {
	c := &tree{text: forensics.Printable(fmt.Sprintf(format, args...))}
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

func (o Sections) text(w io.Writer, cp *forensics.Checkpoint) error {
	title := cp.Source.Path
	if c := cp.Container; c != nil && c.Name != "" {
		title = c.Name
	}
	root := &tree{text: fmt.Sprintf("Displaying checkpoint tree view from %s\n\n%s", quote(cp.Source.Path), quote(title))}
	o.summary(root, cp)
	if o.PSTree {
		o.processTree(root, cp)
	}
	if o.Sockets && len(cp.Sockets) > 0 {
		sk := root.add("Sockets (%d)", len(cp.Sockets))
		for _, s := range cp.Sockets {
			socketNode(sk, s)
		}
	}
	if o.Files && len(cp.Pipes) > 0 {
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
	if o.Mounts {
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
	if o.Rootfs {
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

func (o Sections) summary(root *tree, cp *forensics.Checkpoint) {
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
		keyValues(root, "Labels", c.Labels)
		keyValues(root, "Annotations", c.Annotations)
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

func (o Sections) processTree(root *tree, cp *forensics.Checkpoint) {
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
			if o.Cmdline || o.Files {
				n.add("Executable: %s", e)
			} else if p.ExeDeleted {
				n.add("Executable: %s", e)
			}
		}
		if o.Cmdline {
			if p.Cmdline == nil {
				n.add("Command line: (argument pages not in the checkpoint)")
			} else {
				n.add("Command line: %s", quote(strings.Join(p.Cmdline, " ")))
			}
		}
		if o.Env {
			if p.Environ == nil {
				n.add("Environment: (environment pages not in the checkpoint)")
			} else {
				en := n.add("Environment variables (%d)", len(p.Environ))
				for _, e := range p.Environ {
					en.add("%s", quote(e))
				}
			}
		}
		if (o.Cmdline || o.All) && len(p.Threads) > 1 {
			ids := make([]string, len(p.Threads))
			for i, t := range p.Threads {
				ids[i] = strconv.Itoa(t)
			}
			n.add("Threads: %s", strings.Join(ids, ", "))
		}
		if o.Cmdline || o.All {
			c := p.Creds
			cr := n.add("Credentials: uid %d/%d/%d/%d gid %d/%d/%d/%d", c.UID, c.EUID, c.SUID, c.FSUID, c.GID, c.EGID, c.SGID, c.FSGID)
			if len(c.CapEff) > 0 {
				cr.add("Effective capabilities: %s", strings.Join(c.CapEff, " "))
			}
			if c.Seccomp != "" {
				cr.add("Seccomp: %s, no_new_privs: %v", c.Seccomp, c.NoNewPrivs)
			}
		}
		if o.Files {
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
		if o.Sockets {
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
		if o.Maps {
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
		fmt.Fprintf(&b, " %s", forensics.HostPort(s.LocalAddr, s.LocalPort))
		if s.RemoteAddr != "" || s.RemotePort != 0 {
			fmt.Fprintf(&b, " -> %s", forensics.HostPort(s.RemoteAddr, s.RemotePort))
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
	if s.Backlog != 0 {
		fmt.Fprintf(&b, "  backlog %d", s.Backlog)
	}
	if s.RecvQueue != nil {
		fmt.Fprintf(&b, "  recv-q %d", s.RecvQueue.Size)
	}
	if s.SendQueue != nil {
		fmt.Fprintf(&b, "  send-q %d", s.SendQueue.Size)
	}
	return b.String()
}

// bufSizes is a socket's buffer sizes (SO_SNDBUF/SO_RCVBUF) in bytes, as in the JSON.
func bufSizes(s forensics.Socket) string {
	if s.SendBuf == 0 && s.RecvBuf == 0 {
		return ""
	}
	return fmt.Sprintf("  sndbuf %d rcvbuf %d", s.SendBuf, s.RecvBuf)
}

func socketNode(parent *tree, s forensics.Socket) {
	n := parent.add("%s  owners %v%s", socketLine(s), s.Owners, bufSizes(s))
	if s.RecvQueue != nil {
		n.add("receive queue %s: %q", forensics.HumanBytes(s.RecvQueue.Size), s.RecvQueue.Preview)
	}
	if s.SendQueue != nil {
		n.add("send queue %s: %q", forensics.HumanBytes(s.SendQueue.Size), s.SendQueue.Preview)
	}
}

func (o Sections) rootfsNode(root *tree, cp *forensics.Checkpoint) {
	if cp.Container == nil && len(cp.Rootfs) == 0 {
		root.add("Root filesystem changes: none recorded (bare CRIU image directory)")
		return
	}
	rn := root.add("Root filesystem changes (%d)", len(cp.Rootfs))
	w := 8
	for _, r := range cp.Rootfs {
		w = max(w, len(cp.RootfsKind(r)))
	}
	for _, r := range cp.Rootfs {
		line := fmt.Sprintf("%-*s %-8s %s", w, cp.RootfsKind(r), r.Type, quote(r.Path))
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

// keyValues adds a node listing a container's labels or annotations, sorted by key (the
// runtime's annotations carry the pod, the sandbox and the checkpoint's own records).
func keyValues(root *tree, title string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	n := root.add("%s (%d)", title, len(m))
	for _, k := range keys {
		n.add("%s=%s", quote(k), quote(m[k]))
	}
}

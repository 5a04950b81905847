package checkpoint

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/ioc"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// ProcessDetail renders one process's detail as lines: identity, cmdline, env (secrets
// masked unless reveal), creds, fds, sockets, maps.
func ProcessDetail(c *forensics.Checkpoint, p *forensics.Process, reveal bool, th theme.Theme) []string {
	var l []string
	h := func(s string) { l = append(l, "", th.Title.Render(s)) }
	l = append(l, th.Title.Render(fmt.Sprintf("PID %d  %s", p.PID, p.Comm))+
		fmt.Sprintf("  ppid %d  pgid %d  sid %d  %s  %s", p.PPID, p.PGID, p.SID, p.State, plural(len(p.Threads), "thread", "threads")))
	exe := p.Exe
	if p.ExeDeleted {
		exe += " " + th.Danger.Render("(deleted)")
	}
	if exe != "" {
		l = append(l, "exe:  "+exe)
	}
	if p.Cwd != "" || p.Root != "" {
		l = append(l, fmt.Sprintf("cwd:  %s   root: %s", p.Cwd, p.Root))
	}
	if p.Cmdline == nil {
		l = append(l, "cmdline: "+th.Muted.Render("(argument pages not in the dump)"))
	} else {
		l = append(l, "cmdline: "+quoteArgs(p.Cmdline))
	}
	cr := p.Creds
	h("Credentials")
	l = append(l, fmt.Sprintf("uid %d euid %d suid %d fsuid %d   gid %d egid %d sgid %d fsgid %d",
		cr.UID, cr.EUID, cr.SUID, cr.FSUID, cr.GID, cr.EGID, cr.SGID, cr.FSGID))
	if len(cr.Groups) > 0 {
		l = append(l, fmt.Sprintf("groups %v", cr.Groups))
	}
	l = append(l, "cap_eff: "+capList(cr.CapEff), "cap_prm: "+capList(cr.CapPrm), "cap_bnd: "+capList(cr.CapBnd))
	sec := fmt.Sprintf("seccomp %s  no_new_privs %v", orDash(cr.Seccomp), cr.NoNewPrivs)
	if cr.LSMProfile != "" {
		sec += "  lsm " + cr.LSMProfile
	}
	l = append(l, sec)
	secrets := 0
	for _, e := range p.Environ {
		if ioc.EnvSecret(e) {
			secrets++
		}
	}
	switch {
	case p.Environ == nil:
		h("Environment")
		l = append(l, th.Muted.Render("(environment pages not in the dump)"))
	case reveal || secrets == 0:
		h(fmt.Sprintf("Environment (%d)", len(p.Environ)))
	default:
		h(fmt.Sprintf("Environment (%d, %s masked: r reveals)", len(p.Environ), plural(secrets, "secret value", "secret values")))
	}
	for _, e := range p.Environ {
		if ioc.EnvSecret(e) {
			l = append(l, "  "+th.Warning.Render(MaskEnv(e, reveal)))
		} else {
			l = append(l, "  "+e)
		}
	}
	h(fmt.Sprintf("File descriptors (%d)", len(p.FDs)))
	for _, f := range p.FDs {
		s := fmt.Sprintf("  %3d %-9s %s", f.FD, f.Type, f.Path)
		if f.Flags != "" {
			s += "  " + th.Muted.Render(f.Flags)
		}
		if f.Deleted {
			s += " " + th.Danger.Render("(deleted)")
		}
		l = append(l, s)
	}
	var socks []string
	for _, f := range p.FDs {
		if f.SocketIno == 0 {
			continue
		}
		if s := c.Socket(f.SocketIno); s != nil {
			lo, re := socketEnds(*s)
			proto := s.Protocol
			if proto == "" {
				proto = s.Type
			}
			line := fmt.Sprintf("  fd %d %s %s %s %s", f.FD, s.Family, proto, s.State, lo)
			if re != "" {
				line += " -> " + re
			}
			if s.SendQueue != nil && s.SendQueue.Size > 0 {
				line += fmt.Sprintf("  sendq %d %q", s.SendQueue.Size, s.SendQueue.Preview)
			}
			if s.RecvQueue != nil && s.RecvQueue.Size > 0 {
				line += fmt.Sprintf("  recvq %d %q", s.RecvQueue.Size, s.RecvQueue.Preview)
			}
			socks = append(socks, line)
		}
	}
	h(fmt.Sprintf("Sockets (%d)", len(socks)))
	l = append(l, socks...)
	h(fmt.Sprintf("Memory maps (%d)", len(p.Maps)))
	for _, v := range p.Maps {
		path := v.Path
		if path == "" {
			path = "[" + v.Kind + "]"
		}
		s := fmt.Sprintf("  %012x-%012x %s %9s %9s %s", v.Start, v.End, v.Prot, forensics.HumanBytes(int64(v.Size())), forensics.HumanBytes(int64(v.ResidentBytes)), path)
		if v.Deleted {
			s += " (deleted)"
		}
		if v.Executable() && v.Writable() || v.Executable() && v.Kind != "file" && v.Kind != "vdso" && v.Kind != "vsyscall" {
			s = th.Danger.Render(s)
		}
		l = append(l, s)
	}
	return l
}

func quoteArgs(a []string) string {
	out := make([]string, len(a))
	for i, s := range a {
		if s == "" || strings.ContainsAny(s, " \t\"'\\") {
			out[i] = fmt.Sprintf("%q", s)
		} else {
			out[i] = s
		}
	}
	return strings.Join(out, " ")
}

func capList(c []string) string {
	if len(c) == 0 {
		return "-"
	}
	if len(c) > 30 {
		return fmt.Sprintf("%d capabilities (full set)", len(c))
	}
	return strings.Join(c, " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// SummaryLines renders the Summary tab: the conclusion and the findings first, then metadata
// and counts.
func SummaryLines(ld *Loaded, th theme.Theme) []string {
	c := ld.Checkpoint
	l := ConclusionLines(ld.Conclusion, th)
	h := func(s string) { l = append(l, th.Title.Render(s)) }
	switch {
	case len(c.Findings) > 0:
		bySev := map[forensics.Severity]int{}
		for _, f := range c.Findings {
			bySev[f.Severity]++
		}
		var parts []string
		for s := forensics.SeverityCritical; s >= forensics.SeverityInfo; s-- {
			if bySev[s] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", bySev[s], s))
			}
		}
		h(fmt.Sprintf("Findings: %s", strings.Join(parts, ", ")))
		for i, f := range c.Findings {
			if i == 8 {
				l = append(l, th.Muted.Render(fmt.Sprintf("  … %d more on the Findings tab", len(c.Findings)-i)))
				break
			}
			st := th.Muted
			switch {
			case f.Severity >= forensics.SeverityHigh:
				st = th.Danger
			case f.Severity == forensics.SeverityMedium:
				st = th.Warning
			}
			l = append(l, fmt.Sprintf("  %s %s — %s", st.Render(fmt.Sprintf("%-8s", f.Severity)), f.Title, LocationString(f.Location)))
		}
	case ld.FindingsNote != "":
		h("Findings")
		l = append(l, "  "+th.Muted.Render(ld.FindingsNote))
	default:
		h("Findings")
		l = append(l, "  none")
	}
	l = append(l, "")
	h("Source")
	src := c.Source
	l = append(l, fmt.Sprintf("  %s (%s)", src.Path, src.Format))
	if src.Size > 0 {
		l = append(l, fmt.Sprintf("  size %s  sha256 %s", forensics.HumanBytes(src.Size), orDash(src.SHA256)))
	}
	if ct := c.Container; ct != nil {
		l = append(l, "")
		h("Container")
		name := ct.Name
		if ct.Pod != nil {
			name = fmt.Sprintf("%s/%s container %s", ct.Pod.Namespace, ct.Pod.Name, ct.Pod.ContainerName)
		}
		l = append(l, fmt.Sprintf("  %s  id %s", orDash(name), shortID(ct.ID)))
		l = append(l, fmt.Sprintf("  engine %s  runtime %s  image %s", ct.Engine, orDash(ct.Runtime), orDash(ct.Image)))
		if !ct.Checkpointed.IsZero() {
			l = append(l, fmt.Sprintf("  created %s  checkpointed %s", fmtTime(ct.Created), fmtTime(ct.Checkpointed)))
		}
		if ct.Hostname != "" {
			l = append(l, "  hostname "+ct.Hostname)
		}
		if len(ct.Labels) > 0 {
			keys := make([]string, 0, len(ct.Labels))
			for k := range ct.Labels {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var kv []string
			for _, k := range keys {
				kv = append(kv, k+"="+ct.Labels[k])
			}
			l = append(l, "  labels "+strings.Join(kv, " "))
		}
	}
	l = append(l, "")
	h("CRIU")
	cr := c.CRIU
	l = append(l, fmt.Sprintf("  image version %d  pagemap %s  %d image files", cr.ImageVersion, orDash(cr.PagemapFormat), len(cr.Images)))
	if d := cr.Dump; d != nil {
		l = append(l, fmt.Sprintf("  frozen %s (memdump %s, memwrite %s)  pages written %d of %d scanned",
			us(d.FrozenTime), us(d.MemdumpTime), us(d.MemwriteTime), d.PagesWritten, d.PagesScanned))
	}
	l = append(l, "")
	h("Contents")
	fds, deleted, vmas := 0, 0, 0
	var resident uint64
	for _, p := range c.Processes {
		fds += len(p.FDs)
		for _, f := range p.FDs {
			if f.Deleted {
				deleted++
			}
		}
		vmas += len(p.Maps)
		for _, v := range p.Maps {
			resident += v.ResidentBytes
		}
	}
	l = append(l, fmt.Sprintf("  %d processes  %d fds (%d deleted)  %d sockets  %d pipes", len(c.Processes), fds, deleted, len(c.Sockets), len(c.Pipes)))
	l = append(l, fmt.Sprintf("  %d mappings  %s resident  %d mounts  %d rootfs changes  %d namespaces", vmas, forensics.HumanBytes(int64(resident)), len(c.Mounts), len(c.Rootfs), len(c.Namespaces)))
	if ld.IOCs != nil {
		secrets := 0
		for _, i := range ld.IOCs {
			if i.Secret {
				secrets++
			}
		}
		l = append(l, fmt.Sprintf("  %d indicators (%d secrets)", len(ld.IOCs), secrets))
	}
	if len(c.Namespaces) > 0 {
		var ns []string
		for _, n := range c.Namespaces {
			s := fmt.Sprintf("%s:%d", n.Type, n.ID)
			if n.Hostname != "" {
				s += "(" + n.Hostname + ")"
			}
			ns = append(ns, s)
		}
		l = append(l, "  namespaces "+strings.Join(ns, " "))
	}
	if len(c.Warnings) > 0 {
		l = append(l, "")
		h(fmt.Sprintf("Warnings (%d): parts that could not be decoded", len(c.Warnings)))
		for _, w := range c.Warnings {
			l = append(l, "  "+th.Warning.Render(w))
		}
	}
	return l
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return orDash(id)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func us(v uint32) string { return (time.Duration(v) * time.Microsecond).String() }

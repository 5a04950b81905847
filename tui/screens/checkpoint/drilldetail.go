package checkpoint

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/content"
	"github.com/podsleuth/podsleuth/forensics/ioc"
	"github.com/podsleuth/podsleuth/tui/components/table"
)

// Pure builders: one row's detail view from the decoded model (no I/O; saved contents are
// read afterwards in Cmds).

func field(name, value string) dline { return dline{text: fmt.Sprintf("%-11s %s", name, value)} }

func heading(s string) []dline { return []dline{{}, {text: s, tone: table.Heading}} }

func procLabel(c *forensics.Checkpoint, pid int) string {
	if cm := comm(c, pid); cm != "" {
		return fmt.Sprintf("%d (%s)", pid, cm)
	}
	return itoa(pid)
}

// processLine is a line that jumps to the process on the Processes tab.
func processLine(c *forensics.Checkpoint, pid int, suffix string) dline {
	return dline{text: "  pid " + procLabel(c, pid) + suffix, jump: &jump{tab: TabProcesses, key: itoa(pid)}}
}

// contentFor finds the saved content held by pid's descriptor fd.
func (m *Model) contentFor(pid, fd int) *content.Object {
	if m.ld.Contents == nil {
		return nil
	}
	for _, o := range m.ld.Contents.Objects {
		for _, h := range o.Holders {
			if h.PID == pid && h.FD == fd && fd >= 0 {
				return o
			}
		}
	}
	return nil
}

func (m *Model) contentByID(id string) *content.Object {
	if m.ld.Contents == nil {
		return nil
	}
	for _, o := range m.ld.Contents.Objects {
		if o.ID == id {
			return o
		}
	}
	return nil
}

func (m *Model) fdDetail(k string) (string, []dline, []*contentView) {
	c := m.ld.Checkpoint
	ps, fs, ok := strings.Cut(k, "/")
	pid, err := strconv.Atoi(ps)
	p := c.Process(pid)
	if !ok || err != nil || p == nil {
		return "", nil, nil
	}
	if fs == "exe" {
		l := []dline{field("process", procLabel(c, pid)), field("executable", p.Exe+" (deleted)")}
		l = append(l, dline{text: "  the executable was deleted after it started: its image is only in the memory maps", tone: table.Warn})
		l = append(l, processLine(c, pid, ": its maps on the Processes tab"))
		var cvs []*contentView
		if o := m.contentByID(content.KindGhost + ":" + strings.TrimSuffix(p.Exe, " (deleted)")); o != nil {
			cvs = append(cvs, &contentView{obj: o, label: "content"})
		}
		return fmt.Sprintf("pid %s executable", procLabel(c, pid)), l, cvs
	}
	fdn, _ := strconv.Atoi(fs)
	i := slices.IndexFunc(p.FDs, func(f forensics.FD) bool { return f.FD == fdn })
	if i < 0 {
		return "", nil, nil
	}
	f := p.FDs[i]
	l := []dline{
		{text: "process     " + procLabel(c, pid), jump: &jump{tab: TabProcesses, key: itoa(pid)}},
		field("fd", itoa(f.FD)), field("type", f.Type), field("path", f.Path),
	}
	if f.Deleted {
		l = append(l, dline{text: "deleted     yes: the file was unlinked while held open", tone: table.Danger})
	}
	if f.Flags != "" {
		l = append(l, field("flags", f.Flags))
	}
	l = append(l, field("position", strconv.FormatInt(f.Pos, 10)))
	if f.Size != 0 {
		l = append(l, field("size", forensics.HumanBytes(f.Size)+" ("+strconv.FormatInt(f.Size, 10)+" bytes)"))
	}
	if f.Mode != 0 {
		l = append(l, field("mode", fmt.Sprintf("%#o", f.Mode)))
	}
	l = append(l, field("file id", fmt.Sprintf("%d (CRIU files.img)", f.FileID)))
	if f.SocketIno != 0 {
		l = append(l, dline{text: fmt.Sprintf("socket      inode %d", f.SocketIno), jump: &jump{tab: TabNetwork, key: fmt.Sprintf("sk%d", f.SocketIno)}})
	}
	if f.PipeID != 0 {
		s := fmt.Sprintf("pipe id %d", f.PipeID)
		for _, pp := range c.Pipes {
			if pp.ID == f.PipeID && pp.Buffer != nil && pp.Buffer.Size > 0 {
				s += fmt.Sprintf(", %s unread", forensics.HumanBytes(pp.Buffer.Size))
			}
		}
		l = append(l, field("pipe", s))
	}
	if d, more := p.FDDetail(f); d != "" || len(more) > 0 {
		l = append(l, field("state", d))
		for _, x := range more {
			l = append(l, dline{text: "            " + x})
		}
	}
	// every descriptor of the same open file (shared by fork or dup)
	l = append(l, heading("Holders (descriptors of the same open file)")...)
	o := m.contentFor(pid, f.FD)
	for _, q := range c.Processes {
		for _, g := range q.FDs {
			same := g.FileID == f.FileID || (f.SocketIno != 0 && g.SocketIno == f.SocketIno) || (f.PipeID != 0 && g.PipeID == f.PipeID)
			if same {
				l = append(l, dline{text: fmt.Sprintf("  pid %s fd %d %s", procLabel(c, q.PID), g.FD, g.Flags), jump: &jump{tab: TabFiles, key: fmt.Sprintf("%d/%d", q.PID, g.FD)}})
			}
		}
	}
	if o != nil {
		for _, h := range o.Holders {
			if h.FD < 0 && h.VMA != nil {
				l = append(l, dline{text: fmt.Sprintf("  pid %s maps it at %012x-%012x %s", procLabel(c, h.PID), h.VMA.Start, h.VMA.End, h.VMA.Prot), jump: &jump{tab: TabProcesses, key: itoa(h.PID)}})
			}
		}
	}
	var cvs []*contentView
	switch {
	case o != nil:
		cvs = append(cvs, &contentView{obj: o, label: "content"})
	case f.SocketIno != 0:
		for _, q := range []string{"recv", "send"} {
			if so := m.contentByID(fmt.Sprintf("socket:[%d]/%s", f.SocketIno, q)); so != nil {
				cvs = append(cvs, &contentView{obj: so, label: q + " queue"})
			}
		}
	default:
		l = append(l, heading("Content")...)
		switch {
		case m.ld.Contents == nil && m.ld.ContentNote != "":
			l = append(l, dline{text: "  " + m.ld.ContentNote, tone: table.Muted})
		default:
			l = append(l, dline{text: "  CRIU saved no content for this descriptor (files of the image and of volumes stay outside the checkpoint)", tone: table.Muted})
		}
	}
	return fmt.Sprintf("fd %d of pid %s", f.FD, procLabel(c, pid)), l, cvs
}

func (m *Model) socketDetail(k string) (string, []dline, []*contentView) {
	c := m.ld.Checkpoint
	ino, err := strconv.ParseUint(strings.TrimPrefix(k, "sk"), 10, 32)
	s := c.Socket(uint32(ino))
	if err != nil || s == nil {
		return "", nil, nil
	}
	lo, re := socketEnds(*s)
	proto := s.Protocol
	if proto == "" {
		proto = s.Type
	}
	l := []dline{field("inode", itoa(int(s.Ino))), field("family", s.Family), field("type", s.Type)}
	if s.Protocol != "" {
		l = append(l, field("protocol", s.Protocol))
	}
	l = append(l, field("state", s.State))
	if lo != "" {
		l = append(l, field("local", lo))
	}
	switch {
	case s.PeerIno != 0:
		l = append(l, dline{text: fmt.Sprintf("peer        inode %d", s.PeerIno), jump: &jump{tab: TabNetwork, key: fmt.Sprintf("sk%d", s.PeerIno)}})
	case re != "":
		l = append(l, field("remote", re))
	}
	if s.Backlog != 0 {
		l = append(l, field("backlog", itoa(int(s.Backlog))))
	}
	for _, q := range []struct {
		name string
		b    *forensics.Buffer
	}{{"send queue", s.SendQueue}, {"recv queue", s.RecvQueue}} {
		v := "empty"
		if q.b != nil && q.b.Size > 0 {
			v = fmt.Sprintf("%s (%d bytes) not yet read", forensics.HumanBytes(q.b.Size), q.b.Size)
		}
		l = append(l, field(q.name, v))
	}
	l = append(l, heading(fmt.Sprintf("Owners (%d)", len(s.Owners)))...)
	for _, pid := range s.Owners {
		fds := ""
		if p := c.Process(pid); p != nil {
			for _, f := range p.FDs {
				if f.SocketIno == s.Ino {
					fds += " fd " + itoa(f.FD)
				}
			}
		}
		l = append(l, processLine(c, pid, fds))
	}
	// indicators that name its peer
	if s.RemoteAddr != "" {
		var hits []dline
		for _, i := range m.ld.IOCs {
			if strings.Contains(i.Value, s.RemoteAddr) || slices.ContainsFunc(i.Where, func(w forensics.Location) bool { return w.Socket != "" && strings.Contains(w.Socket, itoa(int(s.Ino))) }) {
				hits = append(hits, dline{text: "  " + i.Type + " " + m.iocValue(i), jump: &jump{tab: TabIOCs, key: i.Type + "\x00" + i.SHA256}})
			}
		}
		l = append(l, heading(fmt.Sprintf("Indicators naming %s (%d)", s.RemoteAddr, len(hits)))...)
		l = append(l, hits...)
	}
	var cvs []*contentView
	for _, q := range []string{"recv", "send"} {
		if o := m.contentByID(fmt.Sprintf("socket:[%d]/%s", s.Ino, q)); o != nil {
			cvs = append(cvs, &contentView{obj: o, label: q + " queue"})
		}
	}
	return fmt.Sprintf("socket %d %s %s %s", s.Ino, s.Family, proto, s.State), l, cvs
}

func mountDetail(c *forensics.Checkpoint, k string) (string, []dline) {
	id, _ := strconv.Atoi(k)
	i := slices.IndexFunc(c.Mounts, func(mt forensics.Mount) bool { return int(mt.ID) == id })
	if i < 0 {
		return "", nil
	}
	mt := c.Mounts[i]
	l := []dline{field("id", itoa(int(mt.ID))), {text: "parent      " + itoa(int(mt.ParentID)), jump: &jump{tab: TabMounts, key: itoa(int(mt.ParentID))}},
		field("mountpoint", mt.Mountpoint), field("fstype", mt.FSType), field("source", mt.Source), field("root", mt.Root)}
	if mt.External != "" {
		l = append(l, dline{text: "external    " + mt.External + " (a bind mount from the host: CRIU did not save its files)", tone: table.Warn})
	}
	l = append(l, heading("Options")...)
	for o := range strings.SplitSeq(mt.Options, ",") {
		if o != "" {
			l = append(l, dline{text: "  " + o})
		}
	}
	var sub []dline
	for _, x := range c.Mounts {
		if x.ParentID == mt.ID && x.ID != mt.ID {
			sub = append(sub, dline{text: "  " + x.Mountpoint + " " + x.FSType, jump: &jump{tab: TabMounts, key: itoa(int(x.ID))}})
		}
	}
	if len(sub) > 0 {
		l = append(l, heading(fmt.Sprintf("Mounted under it (%d)", len(sub)))...)
		l = append(l, sub...)
	}
	return "mount " + mt.Mountpoint, l
}

// iocValue is an indicator's value as shown: secrets redacted unless revealed.
func (m *Model) iocValue(i forensics.IOC) string {
	if i.Secret && !m.reveal && !i.Redacted {
		return ioc.Redact(i.Type, i.Value)
	}
	return i.Value
}

func (m *Model) iocDetail(k string) (string, []dline) {
	j := slices.IndexFunc(m.ld.IOCs, func(i forensics.IOC) bool { return i.Type+"\x00"+i.SHA256 == k })
	if j < 0 {
		return "", nil
	}
	i := m.ld.IOCs[j]
	l := []dline{field("type", i.Type)}
	v := dline{text: "value       " + m.iocValue(i)}
	if i.Secret {
		v.tone = table.Danger
	}
	l = append(l, v)
	if i.Secret && !m.reveal && !i.Redacted {
		l = append(l, dline{text: "            (a secret: redacted as in reports; r reveals)", tone: table.Muted})
	}
	if i.Confidence != "" {
		l = append(l, field("confidence", i.Confidence))
	}
	l = append(l, field("count", itoa(i.Count)), field("sha256", i.SHA256))
	l = append(l, heading(fmt.Sprintf("Seen at (%d)", len(i.Where)))...)
	for _, w := range i.Where {
		l = append(l, dline{text: "  " + LocationString(w), jump: m.locationJump(w)})
	}
	return i.Type + " " + m.iocValue(i), l
}

func (m *Model) findingDetail(k string) (string, []dline) {
	fs := m.ld.Checkpoint.Findings
	n, _ := strconv.Atoi(strings.SplitN(k, ":", 2)[0])
	if n < 0 || n >= len(fs) {
		return "", nil
	}
	f := fs[n]
	sev := dline{text: "severity    " + f.Severity.String()}
	if f.Severity >= forensics.SeverityHigh {
		sev.tone = table.Danger
	}
	l := []dline{sev, field("rule", f.Rule), field("title", f.Title)}
	if f.Technique != "" {
		l = append(l, field("ATT&CK", f.Technique+"  "+attackURL(f.Technique)))
	}
	l = append(l, heading("Reason")...)
	for r := range strings.SplitSeq(f.Reason, "\n") {
		l = append(l, dline{text: "  " + r})
	}
	l = append(l, heading("Evidence")...)
	l = append(l, dline{text: "  " + LocationString(f.Location), jump: m.locationJump(f.Location)})
	return f.Severity.String() + " " + f.Rule, l
}

// attackURL is the MITRE ATT&CK page of a technique ("T1059.004" -> .../T1059/004/).
func attackURL(t string) string {
	return "https://attack.mitre.org/techniques/" + strings.ReplaceAll(t, ".", "/") + "/"
}

// locationJump is where a finding's or indicator's place is shown: the hexdump at a memory
// address, the descriptor, the socket, the rootfs change or the process.
func (m *Model) locationJump(l forensics.Location) *jump {
	c := m.ld.Checkpoint
	p := c.Process(l.PID)
	if l.Addr != 0 && p != nil && m.ld.Memory != nil {
		for _, v := range p.Maps {
			if l.Addr >= v.Start && l.Addr < v.End {
				region := v.Path
				if region == "" {
					region = v.Kind
				}
				return &jump{hit: &Hit{PID: p.PID, Comm: p.Comm, Addr: l.Addr, VMAStart: v.Start, VMAEnd: v.End, Region: region, Len: 1}}
			}
		}
	}
	if ino := socketIno(l.Socket); ino != 0 && c.Socket(ino) != nil {
		return &jump{tab: TabNetwork, key: fmt.Sprintf("sk%d", ino)}
	}
	if p != nil && l.FD != 0 {
		return &jump{tab: TabFiles, key: fmt.Sprintf("%d/%d", l.PID, l.FD)}
	}
	if l.Kind == "rootfs" && l.Path != "" {
		for _, r := range c.Rootfs {
			if r.Path == l.Path {
				return &jump{tab: TabRootfs, key: r.Kind + ":" + r.Path}
			}
		}
	}
	if p != nil {
		return &jump{tab: TabProcesses, key: itoa(p.PID)}
	}
	return nil
}

// socketIno reads the inode out of "socket:[123]", "tcp 1.2.3.4:5 (ino 123)" and the like.
func socketIno(s string) uint32 {
	if i := strings.Index(s, "["); i >= 0 {
		if j := strings.Index(s[i:], "]"); j > 0 {
			n, _ := strconv.ParseUint(s[i+1:i+j], 10, 32)
			return uint32(n)
		}
	}
	if _, after, ok := strings.Cut(s, "ino "); ok {
		end := strings.IndexFunc(after, func(r rune) bool { return r < '0' || r > '9' })
		if end < 0 {
			end = len(after)
		}
		n, _ := strconv.ParseUint(after[:end], 10, 32)
		return uint32(n)
	}
	return 0
}

package checkpoint

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/ioc"
	"github.com/podsleuth/podsleuth/tui/components/table"
)

// Pure builders: forensics model -> table rows. Tested on real decoded fixtures.

func itoa(i int) string { return strconv.Itoa(i) }

func pad(n int64) string { return fmt.Sprintf("%020d", n) }

func comm(c *forensics.Checkpoint, pid int) string {
	if p := c.Process(pid); p != nil {
		return p.Comm
	}
	return ""
}

func owners(c *forensics.Checkpoint, pids []int) string {
	var s []string
	for _, p := range pids {
		if cm := comm(c, p); cm != "" {
			s = append(s, fmt.Sprintf("%d/%s", p, cm))
		} else {
			s = append(s, itoa(p))
		}
	}
	return strings.Join(s, ",")
}

// end renders one end of an inet socket (forensics.HostPort); an unset end is an empty cell.
func end(addr string, port uint32) string {
	if addr == "" && port == 0 {
		return ""
	}
	return forensics.HostPort(addr, port)
}

// socketEnds describes a socket's local and remote end.
func socketEnds(s forensics.Socket) (string, string) {
	switch s.Family {
	case "inet", "inet6":
		return end(s.LocalAddr, s.LocalPort), end(s.RemoteAddr, s.RemotePort)
	case "unix":
		remote := ""
		if s.PeerIno != 0 {
			remote = fmt.Sprintf("peer ino %d", s.PeerIno)
		}
		return s.Path, remote
	}
	return s.LocalAddr, s.RemoteAddr
}

func queue(b *forensics.Buffer) string {
	if b == nil || b.Size == 0 {
		return ""
	}
	return forensics.HumanBytes(b.Size)
}

func networkColumns() []table.Column {
	return []table.Column{
		{Title: "INO", Right: true, Numeric: true, Drop: 4},
		{Title: "FAMILY", Drop: 5}, {Title: "PROTO"}, {Title: "STATE", Drop: 1},
		{Title: "LOCAL", Max: 40, Key: true}, {Title: "REMOTE", Max: 40, Key: true},
		{Title: "SENDQ", Right: true, Numeric: true, Drop: 3}, {Title: "RECVQ", Right: true, Numeric: true, Drop: 3},
		{Title: "OWNERS", Flex: true, Drop: 2},
	}
}

func networkRows(c *forensics.Checkpoint) []table.Row {
	rows := make([]table.Row, 0, len(c.Sockets))
	for _, s := range c.Sockets {
		l, r := socketEnds(s)
		proto := s.Protocol
		if proto == "" {
			proto = s.Type
		}
		var sq, rq int64
		if s.SendQueue != nil {
			sq = s.SendQueue.Size
		}
		if s.RecvQueue != nil {
			rq = s.RecvQueue.Size
		}
		tone := table.Normal
		if s.State == "LISTEN" {
			tone = table.Good
		} else if s.State == "ESTABLISHED" && s.RemoteAddr != "" && !isLoopback(s.RemoteAddr) {
			tone = table.Warn
		}
		rows = append(rows, table.Row{
			Key:   fmt.Sprintf("sk%d", s.Ino),
			Cells: []string{itoa(int(s.Ino)), s.Family, proto, s.State, l, r, queue(s.SendQueue), queue(s.RecvQueue), owners(c, s.Owners)},
			Keys:  []string{itoa(int(s.Ino)), s.Family, proto, s.State, l, r, strconv.FormatInt(sq, 10), strconv.FormatInt(rq, 10), owners(c, s.Owners)},
			Tone:  tone,
		})
	}
	return rows
}

func isLoopback(a string) bool {
	return strings.HasPrefix(a, "127.") || a == "::1" || a == "0.0.0.0" || a == "::" || strings.HasPrefix(a, "::ffff:127.")
}

func filesColumns() []table.Column {
	return []table.Column{
		{Title: "PID", Right: true, Numeric: true, Key: true}, {Title: "COMM", Max: 16, Drop: 3},
		{Title: "FD", Right: true, Numeric: true, Key: true}, {Title: "TYPE"},
		{Title: "PATH", Flex: true, Max: 80, Key: true}, {Title: "FLAGS", Max: 24, Drop: 5},
		{Title: "POS", Right: true, Numeric: true, Drop: 4}, {Title: "DELETED", Drop: 2}, {Title: "DETAIL", Flex: true, Max: 120, Drop: 1},
	}
}

func filesRows(c *forensics.Checkpoint) []table.Row {
	var rows []table.Row
	for _, p := range c.Processes {
		for _, f := range p.FDs {
			del := ""
			tone := table.Normal
			if f.Deleted {
				del = "deleted"
				tone = table.Danger
			}
			pos := ""
			if f.Pos != 0 {
				pos = strconv.FormatInt(f.Pos, 10)
			}
			// eventfd counter, timer, signals, inotify watches, epoll targets, terminal
			detail, more := p.FDDetail(f)
			if len(more) > 0 {
				detail += ": " + strings.Join(more, "; ")
			}
			rows = append(rows, table.Row{
				Key:   fmt.Sprintf("%d/%d", p.PID, f.FD),
				Cells: []string{itoa(p.PID), p.Comm, itoa(f.FD), f.Type, f.Path, f.Flags, pos, del, detail},
				Tone:  tone,
			})
		}
		if p.ExeDeleted {
			rows = append(rows, table.Row{
				Key:   fmt.Sprintf("%d/exe", p.PID),
				Cells: []string{itoa(p.PID), p.Comm, "exe", FDRegularExe, p.Exe, "", "", "deleted"},
				Keys:  []string{itoa(p.PID), p.Comm, "-1"},
				Tone:  table.Danger,
			})
		}
	}
	return rows
}

// FDRegularExe is the TYPE shown for a process's executable in the Files tab.
const FDRegularExe = "EXE"

func mountsColumns() []table.Column {
	return []table.Column{
		{Title: "ID", Right: true, Numeric: true, Drop: 3}, {Title: "PARENT", Right: true, Numeric: true, Drop: 4},
		{Title: "MOUNTPOINT", Max: 50, Key: true}, {Title: "FSTYPE"}, {Title: "SOURCE", Max: 30, Drop: 2},
		{Title: "ROOT", Max: 30, Drop: 1}, {Title: "OPTIONS", Flex: true, Max: 60},
	}
}

func mountsRows(c *forensics.Checkpoint) []table.Row {
	rows := make([]table.Row, 0, len(c.Mounts))
	for _, m := range c.Mounts {
		src := m.Source
		if m.External != "" {
			src = "ext:" + m.External
		}
		rows = append(rows, table.Row{
			Key:   itoa(int(m.ID)),
			Cells: []string{itoa(int(m.ID)), itoa(int(m.ParentID)), m.Mountpoint, m.FSType, src, m.Root, m.Options},
		})
	}
	return rows
}

func rootfsColumns() []table.Column {
	return []table.Column{
		{Title: "KIND"}, {Title: "TYPE", Drop: 2}, {Title: "MODE", Drop: 3},
		{Title: "SIZE", Right: true, Numeric: true, Drop: 1}, {Title: "MTIME", Drop: 4}, {Title: "PATH", Flex: true, Key: true},
	}
}

func rootfsRows(c *forensics.Checkpoint) []table.Row {
	rows := make([]table.Row, 0, len(c.Rootfs))
	for _, r := range c.Rootfs {
		size, mt := "", ""
		if r.Size > 0 || r.Type == "file" {
			size = forensics.HumanBytes(r.Size)
		}
		if !r.ModTime.IsZero() {
			mt = r.ModTime.UTC().Format("2006-01-02 15:04:05")
		}
		path := r.Path
		if r.LinkTarget != "" {
			path += " -> " + r.LinkTarget
		}
		tone := table.Normal
		switch {
		case r.Kind == forensics.RootfsDeleted:
			tone = table.Muted
		case r.Executable:
			tone = table.Warn
		}
		rows = append(rows, table.Row{
			Key:   r.Kind + ":" + r.Path,
			Cells: []string{kindCell(c, r), r.Type, r.Mode, size, mt, path},
			Keys:  []string{kindCell(c, r), r.Type, r.Mode, strconv.FormatInt(r.Size, 10), mt, path},
			Tone:  tone,
		})
	}
	return rows
}

// kindCell is the KIND cell of a rootfs change: the model's kind (Checkpoint.RootfsKind), "added
// or modified" written "added/mod" so that the key columns keep their room at 80 columns.
func kindCell(c *forensics.Checkpoint, r forensics.RootfsChange) string {
	if k := c.RootfsKind(r); k != forensics.RootfsAddedOrModified {
		return k
	}
	return "added/mod"
}

func iocColumns() []table.Column {
	return []table.Column{
		{Title: "TYPE"}, {Title: "VALUE", Max: 60, Key: true, Flex: true}, {Title: "COUNT", Right: true, Numeric: true, Drop: 2},
		{Title: "WHERE", Flex: true, Drop: 1},
	}
}

// LocationString renders a Location in one line: "pid 12 (sh) heap 0x7f..", "env FOO".
func LocationString(l forensics.Location) string {
	var p []string
	p = append(p, l.Kind)
	if l.PID != 0 {
		s := "pid " + itoa(l.PID)
		if l.Comm != "" {
			s += " (" + l.Comm + ")"
		}
		p = append(p, s)
	}
	if l.Region != "" {
		p = append(p, l.Region)
	}
	if l.Addr != 0 {
		p = append(p, fmt.Sprintf("0x%x", l.Addr))
	} else if l.Start != 0 {
		p = append(p, fmt.Sprintf("0x%x-0x%x", l.Start, l.End))
	}
	if l.Path != "" {
		p = append(p, l.Path)
	}
	if l.FD != 0 {
		p = append(p, "fd "+itoa(l.FD))
	}
	if l.Socket != "" {
		p = append(p, l.Socket)
	}
	return strings.Join(p, " ")
}

func iocRows(iocs []forensics.IOC, reveal bool) []table.Row {
	rows := make([]table.Row, 0, len(iocs))
	for _, i := range iocs {
		where := make([]string, 0, len(i.Where))
		for _, l := range i.Where {
			where = append(where, LocationString(l))
		}
		v := i.Value
		tone := table.Normal
		if i.Secret {
			tone = table.Danger
			if !reveal && !i.Redacted {
				// the same redaction as reports: a prefix, a suffix and the hash, so
				// values can still be correlated
				v = ioc.Redact(i.Type, v)
			}
		}
		rows = append(rows, table.Row{
			Key:   i.Type + "\x00" + i.SHA256,
			Cells: []string{i.Type, v, itoa(i.Count), strings.Join(where, "; ")},
			Tone:  tone,
		})
	}
	return rows
}

func findingsColumns() []table.Column {
	return []table.Column{
		{Title: "SEVERITY"}, {Title: "RULE", Max: 24, Drop: 2}, {Title: "TITLE", Max: 50, Key: true},
		{Title: "WHERE", Flex: true, Max: 60, Drop: 1},
	}
}

func findingsRows(fs []forensics.Finding) []table.Row {
	rows := make([]table.Row, 0, len(fs))
	for i, f := range fs {
		tone := table.Normal
		switch {
		case f.Severity >= forensics.SeverityHigh:
			tone = table.Danger
		case f.Severity == forensics.SeverityMedium:
			tone = table.Warn
		case f.Severity == forensics.SeverityInfo:
			tone = table.Muted
		}
		rows = append(rows, table.Row{
			Key:   fmt.Sprintf("%d:%s", i, f.Rule),
			Cells: []string{f.Severity.String(), f.Rule, f.Title, LocationString(f.Location)},
			Keys:  []string{strconv.Itoa(int(forensics.SeverityCritical - f.Severity)), f.Rule, f.Title, LocationString(f.Location)},
			Tone:  tone,
		})
	}
	return rows
}

func hitColumns() []table.Column {
	return []table.Column{
		{Title: "PID", Right: true, Numeric: true, Key: true}, {Title: "COMM", Max: 16, Drop: 3},
		{Title: "ADDRESS", Key: true}, {Title: "REGION", Max: 32, Drop: 2}, {Title: "+OFFSET", Right: true, Drop: 1},
		{Title: "PREVIEW", Flex: true},
	}
}

func hitRows(hits []Hit) []table.Row {
	rows := make([]table.Row, 0, len(hits))
	for i, h := range hits {
		rows = append(rows, table.Row{
			Key:   strconv.Itoa(i),
			Cells: []string{itoa(h.PID), h.Comm, fmt.Sprintf("0x%012x", h.Addr), h.Region, fmt.Sprintf("0x%x", h.Addr-h.VMAStart), h.Preview},
		})
	}
	return rows
}

// Mask hides a secret value, keeping its length visible.
func Mask(v string) string {
	return fmt.Sprintf("•••••• (%d chars hidden, r reveals)", len(v))
}

// MaskEnv masks the value of a secret environment entry (ioc.EnvSecret: the rule the reports
// redact by).
func MaskEnv(kv string, reveal bool) string {
	if reveal || !ioc.EnvSecret(kv) {
		return kv
	}
	k, v, _ := strings.Cut(kv, "=")
	return k + "=" + Mask(v)
}

// processByPID indexes processes.
func processByPID(c *forensics.Checkpoint) map[int]*forensics.Process {
	m := make(map[int]*forensics.Process, len(c.Processes))
	for i := range c.Processes {
		m[c.Processes[i].PID] = &c.Processes[i]
	}
	return m
}

// childrenOf returns the children of each PID: Process.Children when the decoder set it,
// otherwise derived from PPID.
func childrenOf(c *forensics.Checkpoint) map[int][]int {
	ch := make(map[int][]int)
	set := false
	for _, p := range c.Processes {
		if len(p.Children) > 0 {
			set = true
			ch[p.PID] = append(ch[p.PID], p.Children...)
		}
	}
	if !set {
		for _, p := range c.Processes {
			if p.PPID != p.PID {
				ch[p.PPID] = append(ch[p.PPID], p.PID)
			}
		}
	}
	for k := range ch {
		sort.Ints(ch[k])
	}
	return ch
}

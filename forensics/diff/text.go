package diff

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
)

// pr writes one line: names from the checkpoints are made terminal-safe (forensics.Printable),
// so a hostile one can neither inject escape sequences nor fake a line.
func pr(w io.Writer, format string, a ...any) {
	fmt.Fprintln(w, forensics.Printable(fmt.Sprintf(format, a...)))
}

// WriteText writes the result as plain text, one line per change with a leading "+" (only in B),
// "-" (only in A) or "~" (in both, changed), grouped by kind. Empty groups are left out.
func WriteText(w io.Writer, r *Result) error {
	bw := bufio.NewWriter(w)
	pr(bw, "--- a: %s", r.A)
	pr(bw, "+++ b: %s", r.B)
	for _, w := range r.Warnings {
		pr(bw, "WARNING: %s", w)
	}
	if r.Empty() {
		fmt.Fprintln(bw, "no changes")
		return bw.Flush()
	}
	group := func(title string, n int) bool {
		if n == 0 {
			return false
		}
		fmt.Fprintf(bw, "\n%s (%d)\n", title, n)
		return true
	}
	if group("processes", len(r.ProcessesAdded)+len(r.ProcessesRemoved)+len(r.ProcessesChanged)) {
		for _, p := range r.ProcessesAdded {
			pr(bw, "+ %s", ProcessLine(p))
		}
		for _, p := range r.ProcessesRemoved {
			pr(bw, "- %s", ProcessLine(p))
		}
		for _, p := range r.ProcessesChanged {
			pr(bw, "~ pid %d %s", p.PID, p.Comm)
			for _, c := range p.Changes {
				pr(bw, "    %s", ChangeLine(c))
			}
		}
	}
	if group("sockets", len(r.SocketsOpened)+len(r.SocketsClosed)) {
		for _, s := range r.SocketsOpened {
			pr(bw, "+ %s", SocketRefLine(s))
		}
		for _, s := range r.SocketsClosed {
			pr(bw, "- %s", SocketRefLine(s))
		}
	}
	if group("file descriptors", len(r.FDsAdded)+len(r.FDsRemoved)) {
		for _, f := range r.FDsAdded {
			pr(bw, "+ %s", FDLine(f))
		}
		for _, f := range r.FDsRemoved {
			pr(bw, "- %s", FDLine(f))
		}
	}
	if group("mounts", len(r.MountsAdded)+len(r.MountsRemoved)) {
		for _, m := range r.MountsAdded {
			pr(bw, "+ %s %s %s %s", m.Mountpoint, m.FSType, m.Source, m.Options)
		}
		for _, m := range r.MountsRemoved {
			pr(bw, "- %s %s %s %s", m.Mountpoint, m.FSType, m.Source, m.Options)
		}
	}
	if group("rootfs", len(r.RootfsAdded)+len(r.RootfsRemoved)+len(r.RootfsChanged)) {
		for _, c := range r.RootfsAdded {
			pr(bw, "+ %s %s %s %d bytes", c.Kind, c.Type, c.Path, c.Size)
		}
		for _, c := range r.RootfsRemoved {
			pr(bw, "- %s %s %s %d bytes", c.Kind, c.Type, c.Path, c.Size)
		}
		for _, c := range r.RootfsChanged {
			pr(bw, "~ %s", c.Path)
			for _, f := range c.Changes {
				pr(bw, "    %s", ChangeLine(f))
			}
		}
	}
	if group("findings", len(r.FindingsNew)+len(r.FindingsResolved)) {
		for _, f := range r.FindingsNew {
			pr(bw, "+ %s", FindingLine(f))
		}
		for _, f := range r.FindingsResolved {
			pr(bw, "- %s", FindingLine(f))
		}
	}
	if group("indicators", len(r.IOCsNew)+len(r.IOCsGone)) {
		for _, i := range r.IOCsNew {
			pr(bw, "+ %s %s", i.Type, i.Value)
		}
		for _, i := range r.IOCsGone {
			pr(bw, "- %s %s", i.Type, i.Value)
		}
	}
	fmt.Fprintf(bw, "\n%d change(s)\n", r.Count())
	return bw.Flush()
}

// ProcessLine renders an added or removed process on one line.
func ProcessLine(p ProcessRef) string {
	cmd := strings.Join(p.Cmdline, " ")
	if cmd == "" {
		cmd = "[" + p.Comm + "]"
	}
	return fmt.Sprintf("pid %d (ppid %d) %s %s, %d thread(s), %d fd(s): %s", p.PID, p.PPID, p.Comm, p.State, p.Threads, p.FDs, cmd)
}

// ChangeLine renders one attribute change.
func ChangeLine(c FieldChange) string {
	if len(c.Added) > 0 || len(c.Removed) > 0 {
		var parts []string
		for _, a := range c.Added {
			parts = append(parts, "+"+a)
		}
		for _, r := range c.Removed {
			parts = append(parts, "-"+r)
		}
		return fmt.Sprintf("%s: %s", c.Field, strings.Join(parts, " "))
	}
	return fmt.Sprintf("%s: %q -> %q", c.Field, c.Before, c.After)
}

// SocketRefLine renders a socket identity with its owners.
func SocketRefLine(s SocketRef) string {
	line := socketRefString(s)
	if len(s.Owners) > 0 {
		line += fmt.Sprintf(" (pid %s)", joinInts(s.Owners))
	}
	return line
}

func socketRefString(s SocketRef) string {
	proto := s.Protocol
	if proto == "" {
		proto = s.Type
	}
	switch s.Family {
	case "inet", "inet6":
		out := proto
		if s.Family == "inet6" {
			out += "6"
		}
		out += " " + forensics.HostPort(s.LocalAddr, s.LocalPort)
		if s.RemoteAddr != "" || s.RemotePort != 0 {
			out += " -> " + forensics.HostPort(s.RemoteAddr, s.RemotePort)
		}
		return out + " " + s.State
	case "unix":
		out := "unix " + s.Type
		if s.Path != "" {
			out += " " + s.Path
		}
		return out + " " + s.State
	}
	return strings.TrimSpace(s.Family+" "+s.Type+" "+s.Protocol) + " " + s.State
}

// FDLine renders an added or removed fd.
func FDLine(f FDRef) string {
	t := f.Target
	if f.Deleted {
		t += " (deleted)"
	}
	return fmt.Sprintf("pid %d %s fd %d %s %s", f.PID, f.Comm, f.FD, f.Type, t)
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}

// FindingLine renders a finding with where it is: "[info] loopback-connection: Loopback
// connection (pid 1 target, tcp 127.0.0.1:1 -> 127.0.0.1:2 ESTABLISHED)".
func FindingLine(f forensics.Finding) string {
	l := f.Location
	var at []string
	if l.PID != 0 {
		at = append(at, strings.TrimSpace(fmt.Sprintf("pid %d %s", l.PID, l.Comm)))
	}
	for _, s := range []string{l.Region, l.Path, l.Socket} {
		if s != "" {
			at = append(at, s)
		}
	}
	if l.Start != 0 {
		at = append(at, fmt.Sprintf("0x%x-0x%x", l.Start, l.End))
	}
	line := fmt.Sprintf("[%s] %s: %s", f.Severity, f.Rule, f.Title)
	if len(at) > 0 {
		line += " (" + strings.Join(at, ", ") + ")"
	}
	return line
}

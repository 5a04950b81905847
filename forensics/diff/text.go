package diff

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
)

// WriteText writes the result as plain text, one line per change with a leading "+" (only in B),
// "-" (only in A) or "~" (in both, changed), grouped by kind. Empty groups are left out.
func WriteText(w io.Writer, r *Result) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "--- a: %s\n+++ b: %s\n", r.A, r.B)
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
			fmt.Fprintf(bw, "+ %s\n", ProcessLine(p))
		}
		for _, p := range r.ProcessesRemoved {
			fmt.Fprintf(bw, "- %s\n", ProcessLine(p))
		}
		for _, p := range r.ProcessesChanged {
			fmt.Fprintf(bw, "~ pid %d %s\n", p.PID, p.Comm)
			for _, c := range p.Changes {
				fmt.Fprintf(bw, "    %s\n", ChangeLine(c))
			}
		}
	}
	if group("sockets", len(r.SocketsOpened)+len(r.SocketsClosed)) {
		for _, s := range r.SocketsOpened {
			fmt.Fprintf(bw, "+ %s\n", SocketRefLine(s))
		}
		for _, s := range r.SocketsClosed {
			fmt.Fprintf(bw, "- %s\n", SocketRefLine(s))
		}
	}
	if group("file descriptors", len(r.FDsAdded)+len(r.FDsRemoved)) {
		for _, f := range r.FDsAdded {
			fmt.Fprintf(bw, "+ %s\n", FDLine(f))
		}
		for _, f := range r.FDsRemoved {
			fmt.Fprintf(bw, "- %s\n", FDLine(f))
		}
	}
	if group("mounts", len(r.MountsAdded)+len(r.MountsRemoved)) {
		for _, m := range r.MountsAdded {
			fmt.Fprintf(bw, "+ %s %s %s %s\n", m.Mountpoint, m.FSType, m.Source, m.Options)
		}
		for _, m := range r.MountsRemoved {
			fmt.Fprintf(bw, "- %s %s %s %s\n", m.Mountpoint, m.FSType, m.Source, m.Options)
		}
	}
	if group("rootfs", len(r.RootfsAdded)+len(r.RootfsRemoved)+len(r.RootfsChanged)) {
		for _, c := range r.RootfsAdded {
			fmt.Fprintf(bw, "+ %s %s %s %d bytes\n", c.Kind, c.Type, c.Path, c.Size)
		}
		for _, c := range r.RootfsRemoved {
			fmt.Fprintf(bw, "- %s %s %s %d bytes\n", c.Kind, c.Type, c.Path, c.Size)
		}
		for _, c := range r.RootfsChanged {
			fmt.Fprintf(bw, "~ %s\n", c.Path)
			for _, f := range c.Changes {
				fmt.Fprintf(bw, "    %s\n", ChangeLine(f))
			}
		}
	}
	if group("findings", len(r.FindingsNew)+len(r.FindingsResolved)) {
		for _, f := range r.FindingsNew {
			fmt.Fprintf(bw, "+ %s\n", FindingLine(f))
		}
		for _, f := range r.FindingsResolved {
			fmt.Fprintf(bw, "- %s\n", FindingLine(f))
		}
	}
	if group("indicators", len(r.IOCsNew)+len(r.IOCsGone)) {
		for _, i := range r.IOCsNew {
			fmt.Fprintf(bw, "+ %s %s\n", i.Type, i.Value)
		}
		for _, i := range r.IOCsGone {
			fmt.Fprintf(bw, "- %s %s\n", i.Type, i.Value)
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
		out += " " + hostPort(s.LocalAddr, s.LocalPort)
		if s.RemoteAddr != "" || s.RemotePort != 0 {
			out += " -> " + hostPort(s.RemoteAddr, s.RemotePort)
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

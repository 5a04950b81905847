package findings

import (
	"fmt"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
)

var shellNames = map[string]bool{"sh": true, "bash": true, "dash": true, "ash": true, "zsh": true, "ksh": true, "mksh": true,
	"fish": true, "tcsh": true, "csh": true, "rbash": true}

var netcatNames = map[string]bool{"nc": true, "ncat": true, "netcat": true, "socat": true, "nc.traditional": true,
	"nc.openbsd": true, "pwncat": true, "telnet": true}

func isShell(p *forensics.Process) bool {
	for _, n := range names(p) {
		if shellNames[n] {
			return true
		}
	}
	return false
}

func isNetcat(p *forensics.Process) bool {
	for _, n := range names(p) {
		if netcatNames[n] {
			return true
		}
	}
	return false
}

func sockDesc(s *forensics.Socket) string {
	d := fmt.Sprintf("socket:[%d] %s", s.Ino, s.Protocol)
	if s.LocalAddr != "" {
		d += " " + endpoint(s.LocalAddr, s.LocalPort)
	}
	if s.RemotePort != 0 {
		d += " -> " + endpoint(s.RemoteAddr, s.RemotePort)
	}
	if s.State != "" {
		d += " " + s.State
	}
	if s.Path != "" {
		d += " " + s.Path
	}
	return d
}

func inetConn(s *forensics.Socket) bool {
	return s != nil && (s.Family == "inet" || s.Family == "inet6") && s.RemotePort != 0 && s.State != "LISTEN"
}

// accepted reports whether an inet connection was accepted on a local listening port (a bind
// shell's connection) rather than opened outwards (a reverse shell's).
func accepted(cp *forensics.Checkpoint, s *forensics.Socket) bool {
	for _, l := range cp.Sockets {
		if l.State == "LISTEN" && l.LocalPort == s.LocalPort && (l.Family == "inet" || l.Family == "inet6") {
			return true
		}
	}
	// no listener left (nc -l -e execs the shell and closes it): a low local port talking to an
	// ephemeral remote port was accepted
	return s.LocalPort < 32768 && s.RemotePort >= 32768
}

// shells finds reverse and bind shells.
func (a *analyzer) shells(cp *forensics.Checkpoint) {
	for i := range cp.Processes {
		p := &cp.Processes[i]
		shell, nc := isShell(p), isNetcat(p)
		if !shell && !nc {
			continue
		}
		done := false
		for _, fd := range p.FDs {
			if done || fd.FD > 2 || fd.SocketIno == 0 {
				continue
			}
			s := cp.Socket(fd.SocketIno)
			if s == nil {
				continue
			}
			conn, via := s, ""
			if s.Family == "unix" && s.PeerIno != 0 {
				// a socketpair to a relay (socat EXEC:, nc -e with a pipe) holding the connection
				conn = nil
				if peer := cp.Socket(s.PeerIno); peer != nil {
					for _, opid := range peer.Owners {
						if opid == p.PID {
							continue
						}
						if op := cp.Process(opid); op != nil {
							for _, ofd := range op.FDs {
								if c := cp.Socket(ofd.SocketIno); inetConn(c) {
									conn, via = c, fmt.Sprintf(" through a socketpair to pid %d (%s)", op.PID, op.Comm)
								}
							}
						}
					}
				}
			}
			if !inetConn(conn) {
				continue
			}
			what := "shell"
			if !shell {
				what = "netcat-like relay"
			}
			loc := forensics.Location{Kind: "socket", PID: p.PID, Comm: p.Comm, FD: fd.FD, Socket: sockDesc(conn), Path: p.Exe}
			if accepted(cp, conn) {
				a.add(RuleBindShell, forensics.SeverityCritical, "Bind shell",
					fmt.Sprintf("pid %d (%s, %s) has fd %d wired to a TCP connection accepted on local port %d from %s%s: a shell served to whoever connects.",
						p.PID, p.Comm, orNone(p.Exe), fd.FD, conn.LocalPort, endpoint(conn.RemoteAddr, conn.RemotePort), via), loc)
			} else {
				a.add(RuleReverseShell, forensics.SeverityCritical, "Reverse shell",
					fmt.Sprintf("pid %d (%s %s, %s) has fd %d wired to an outgoing TCP connection to %s%s: an interactive %s controlled from the remote end.",
						p.PID, p.Comm, what, orNone(p.Exe), fd.FD, endpoint(conn.RemoteAddr, conn.RemotePort), via, what), loc)
			}
			done = true
		}
		if done {
			continue
		}
		// a listening shell, or a netcat told to run one
		cmd := strings.Join(p.Cmdline, " ")
		runsShell := shell || strings.Contains(cmd, " -e") || strings.Contains(cmd, " -c") || strings.Contains(strings.ToUpper(cmd), "EXEC:") ||
			strings.Contains(strings.ToUpper(cmd), "SYSTEM:")
		if !runsShell {
			continue
		}
		for _, fd := range p.FDs {
			s := cp.Socket(fd.SocketIno)
			if fd.SocketIno == 0 || s == nil || s.State != "LISTEN" || s.Family == "unix" {
				continue
			}
			a.add(RuleBindShell, forensics.SeverityCritical, "Bind shell listening",
				fmt.Sprintf("pid %d (%s) listens on %s (fd %d) and runs a shell for each connection (%q).",
					p.PID, p.Comm, endpoint(s.LocalAddr, s.LocalPort), fd.FD, clip(cmd, 120)),
				forensics.Location{Kind: "socket", PID: p.PID, Comm: p.Comm, FD: fd.FD, Socket: sockDesc(s), Path: p.Exe})
			break
		}
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

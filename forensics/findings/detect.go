package findings

import (
	"bytes"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/content"
)

// WithContent lets the rules read the checkpoint's saved contents: fileless payloads in memfds,
// ghost files, tmpfs and /dev/shm files, pipes and sockets; persistence in the rootfs changes;
// copies of system tools; stratum traffic in socket queues.
func WithContent(s *content.Set) Option { return func(a *analyzer) { a.content = s } }

// WithIndicators lets the mining rules see the indicators (stratum URLs, wallet addresses).
func WithIndicators(iocs []forensics.IOC) Option { return func(a *analyzer) { a.iocs = iocs } }

// BaseFile returns the content of path in the container's base image and whether the image
// has it; nil when the base is unknown.
type BaseFile func(path string) ([]byte, bool)

// WithBase lets the persistence rules show only the lines the container changed.
func WithBase(f BaseFile) Option { return func(a *analyzer) { a.base = f } }

// maxTextFile bounds what the persistence rules read of one file.
const maxTextFile = 1 << 20

// maxSignatureScan bounds how much of an executable the system-tool check reads.
const maxSignatureScan = 8 << 20

var shellNames = map[string]bool{"sh": true, "bash": true, "dash": true, "ash": true, "zsh": true, "ksh": true, "mksh": true,
	"fish": true, "tcsh": true, "csh": true, "rbash": true}

var netcatNames = map[string]bool{"nc": true, "ncat": true, "netcat": true, "socat": true, "nc.traditional": true,
	"nc.openbsd": true, "pwncat": true, "telnet": true}

// jitRuntimes map executables that legitimately create executable anonymous memory.
var jitRuntimes = map[string]bool{"node": true, "nodejs": true, "luajit": true, "java": true, "dotnet": true,
	"pypy": true, "pypy3": true, "deno": true, "bun": true, "qemu": true, "chrome": true, "chromium": true,
	"firefox": true, "mono": true, "erl": true, "beam.smp": true, "julia": true, "php-fpm": true}

func names(p *forensics.Process) []string {
	out := []string{p.Comm}
	if p.Exe != "" {
		out = append(out, path.Base(strings.TrimSuffix(p.Exe, " (deleted)")))
	}
	if len(p.Cmdline) > 0 && p.Cmdline[0] != "" {
		out = append(out, path.Base(strings.TrimPrefix(p.Cmdline[0], "-")))
	}
	return out
}

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

func isJIT(p *forensics.Process) bool {
	eb := path.Base(strings.TrimSuffix(p.Exe, " (deleted)"))
	if jitRuntimes[eb] {
		return true
	}
	// versioned names: java17, node20, luajit-2.1
	for k := range jitRuntimes {
		if strings.HasPrefix(eb, k) && len(eb) > len(k) && strings.ContainsRune("0123456789.-", rune(eb[len(k)])) {
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

// interpreters run scripts: their comm is the script's name.
var interpreters = map[string]bool{"python": true, "python3": true, "perl": true, "ruby": true, "node": true, "php": true}

func interpreter(eb string) bool {
	if shellNames[eb] || interpreters[eb] || multicall[eb] {
		return true
	}
	for k := range interpreters {
		if strings.HasPrefix(eb, k) {
			return true
		}
	}
	return false
}

// names and threads that disguise the process.
func (a *analyzer) masquerade(p *forensics.Process, fakeKernel bool) {
	loc := forensics.Location{Kind: "process", PID: p.PID, Comm: p.Comm, Path: p.Exe}
	for i, n := range p.ThreadNames {
		if i == 0 || i >= len(p.Threads) || !kernelName(n) {
			continue
		}
		l := loc
		l.Kind, l.TID = "thread", p.Threads[i]
		a.add(RuleKernelThreadTID, forensics.SeverityHigh, "Thread disguised as a kernel thread",
			fmt.Sprintf("thread %d of pid %d (%s, %s) is named %q: kernel threads are never threads of a user process.", p.Threads[i], p.PID, p.Comm, orNone(p.Exe), n), l)
	}
	if fakeKernel || p.Exe == "" || p.Comm == "" {
		return
	}
	eb := path.Base(strings.TrimSuffix(p.Exe, " (deleted)"))
	if multicall[eb] || strings.HasPrefix(p.Exe, "/memfd:") {
		return
	}
	prefixOf := func(s string) bool {
		s = path.Base(strings.TrimPrefix(s, "-"))
		return s != "" && (strings.HasPrefix(s, p.Comm) || len(p.Comm) >= 15 && strings.HasPrefix(p.Comm, s[:min(len(s), 15)]))
	}
	if prefixOf(eb) {
		return
	}
	for i, c := range p.Cmdline {
		// argv[0] (a process title keeps the executable's name first), or a script an
		// interpreter runs
		if i == 0 && prefixOf(strings.Fields(c + " ")[0]) && prefixOf(eb) {
			return
		}
		if i > 0 && interpreter(eb) && prefixOf(c) {
			return
		}
	}
	a.add(RuleCommMismatch, forensics.SeverityMedium, "Process name differs from its executable",
		fmt.Sprintf("pid %d is called %q but runs %s (argv[0] %q): a process that renamed itself to pass for another program.",
			p.PID, p.Comm, p.Exe, first(p.Cmdline)), loc)
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// toolDirs are hidden directories where package managers legitimately install programs.
var toolDirs = map[string]bool{".local": true, ".cargo": true, ".rustup": true, ".nvm": true, ".pyenv": true, ".rbenv": true,
	".npm": true, ".deno": true, ".bun": true, ".dotnet": true, ".sdkman": true, ".cache": true, ".vscode-server": true, ".krew": true}

// hiddenDir reports whether an executable lies in a hidden directory other than a user's tool
// directories (~/.local/bin, ~/.cargo/bin, ...); under /tmp and the like every hidden directory
// counts.
func hiddenDir(p string) bool {
	parts := strings.Split(path.Dir(p), "/")
	for i, c := range parts {
		if !strings.HasPrefix(c, ".") || c == "." || c == ".." {
			continue
		}
		home := i >= 1 && (parts[1] == "root" || parts[1] == "home")
		if !home || !toolDirs[c] {
			return true
		}
	}
	return false
}

var tempDirs = []string{"/tmp/", "/var/tmp/", "/dev/shm/", "/run/user/", "/dev/mqueue/"}

func (a *analyzer) execLocation(p *forensics.Process) {
	if p.Exe == "" {
		return
	}
	loc := forensics.Location{Kind: "process", PID: p.PID, Comm: p.Comm, Path: p.Exe}
	if strings.HasPrefix(p.Exe, "/memfd:") {
		a.add(RuleFileless, forensics.SeverityCritical, "Process runs from a memfd",
			fmt.Sprintf("pid %d (%s) was executed from %s: an ELF image that exists only in memory (fexecve of a memfd), fileless malware.", p.PID, p.Comm, p.Exe), loc)
		return
	}
	for _, d := range tempDirs {
		if strings.HasPrefix(p.Exe, d) || hiddenDir(p.Exe) {
			where := strings.TrimSuffix(d, "/")
			if !strings.HasPrefix(p.Exe, d) {
				where = "a hidden directory"
			}
			a.add(RuleExecFromTemp, forensics.SeverityHigh, "Executable run from a temporary or hidden location",
				fmt.Sprintf("pid %d (%s) runs %s from %s: where dropped tools and malware are written, never where an image installs programs.", p.PID, p.Comm, p.Exe, where), loc)
			return
		}
	}
}

// contentRules look at the saved contents.
func (a *analyzer) contentRules(cp *forensics.Checkpoint) {
	if a.content == nil {
		return
	}
	for _, o := range a.content.Objects {
		if !o.Saved {
			continue
		}
		switch o.Kind {
		case content.KindMemfd, content.KindShmem, content.KindGhost, content.KindTmpfs, content.KindDevshm, content.KindPipe, content.KindSocket:
			a.fileless(o)
		}
		switch o.Kind {
		case content.KindRootfs, content.KindGhost, content.KindMemfd, content.KindTmpfs, content.KindDevshm:
			a.systemCopy(o)
		}
	}
	a.persistence(cp)
}

func holderText(o *content.Object) string {
	if len(o.Holders) == 0 {
		return "no process holds it"
	}
	var s []string
	for _, h := range o.Holders {
		switch {
		case h.FD >= 0:
			s = append(s, fmt.Sprintf("pid %d (%s) fd %d", h.PID, h.Comm, h.FD))
		case h.VMA != nil:
			s = append(s, fmt.Sprintf("pid %d (%s) maps it at 0x%x-0x%x", h.PID, h.Comm, h.VMA.Start, h.VMA.End))
		default:
			s = append(s, fmt.Sprintf("pid %d (%s) runs it", h.PID, h.Comm))
		}
	}
	return strings.Join(s, ", ")
}

func objLocation(o *content.Object) forensics.Location {
	l := forensics.Location{Kind: "file", Path: o.ID}
	switch o.Kind {
	case content.KindMemfd, content.KindShmem:
		l.Kind = "shmem"
	case content.KindPipe:
		l.Kind = "pipe"
	case content.KindSocket:
		l.Kind, l.Socket, l.Path = "socket", o.ID, ""
	case content.KindRootfs:
		l.Kind, l.Path = "rootfs", o.Path
	}
	for _, h := range o.Holders {
		l.PID, l.Comm = h.PID, h.Comm
		if h.FD >= 0 {
			l.FD = h.FD
		}
		if h.VMA != nil {
			l.Start, l.End = h.VMA.Start, h.VMA.End
		}
		break
	}
	return l
}

func (a *analyzer) fileless(o *content.Object) {
	r := o.Reader()
	var head [128]byte
	n, _ := r.ReadAt(head[:], 0)
	what, ok := content.Magic(head[:n])
	if !ok {
		return
	}
	sev := forensics.SeverityCritical
	detail := "an ELF executable"
	if what == "script" {
		line, _, _ := strings.Cut(string(head[:n]), "\n")
		detail = fmt.Sprintf("a script (%q)", forensics.Printable(clip(line, 60)))
	}
	switch {
	case o.Kind == content.KindGhost && what == "script", o.Kind == content.KindTmpfs:
		sev = forensics.SeverityHigh
	}
	where := map[string]string{
		content.KindMemfd: "a memfd (anonymous file that exists only in memory)", content.KindShmem: "shared anonymous memory",
		content.KindGhost: "a deleted file still held open (CRIU saved it as a ghost file)", content.KindTmpfs: "a tmpfs file",
		content.KindDevshm: "a /dev/shm file", content.KindPipe: "a pipe buffer", content.KindSocket: "a socket queue",
	}[o.Kind]
	a.add(RuleFileless, sev, "Executable content without a file on disk",
		fmt.Sprintf("%s (%d bytes) is %s and holds %s; %s. Extract it with 'podsleuth files extract ... %s'.",
			o.ID, o.Size, where, detail, holderText(o), o.ID), objLocation(o))
}

// tools identifies system tools by a string their binaries carry.
var tools = []struct {
	sig, name string
}{
	{"BusyBox v", "busybox"}, {"socat by Gerhard Rieger", "socat"}, {"OpenBSD netcat", "nc"},
	{"GNU netcat", "nc"}, {"Ncat: ", "ncat"}, {"curl: try 'curl --help'", "curl"},
	{"GNU bash, version", "bash"}, {"Usage: wget", "wget"}, {"OpenSSH_", "ssh"},
}

func (a *analyzer) systemCopy(o *content.Object) {
	if _, ok := o.Executable(); !ok {
		return
	}
	r := io.LimitReader(o.Reader(), maxSignatureScan)
	buf := make([]byte, 256<<10)
	keep := 64
	var tail []byte
	found := ""
	for found == "" {
		n, err := r.Read(buf)
		chunk := append(tail, buf[:n]...)
		for _, t := range tools {
			if bytes.Contains(chunk, []byte(t.sig)) {
				found = t.name
				break
			}
		}
		if err != nil {
			break
		}
		tail = append([]byte(nil), chunk[max(0, len(chunk)-keep):]...)
	}
	base := path.Base(o.Path)
	if found == "" || base == found || strings.HasPrefix(base, found) {
		return
	}
	a.add(RuleSystemCopy, forensics.SeverityHigh, "System tool copied under another name",
		fmt.Sprintf("%s (%d bytes) is %s renamed to %q (%s): attackers copy system tools to innocuous or misleading names to run them unnoticed.",
			o.Path, o.Size, found, base, holderText(o)), objLocation(o))
}

// readText reads up to maxTextFile bytes of an object.
func readText(o *content.Object) string {
	r := o.Reader()
	if r == nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(r, maxTextFile))
	return string(b)
}

// changed returns the lines of now that are not in the base file (all meaningful lines when the
// base is unknown), and whether a base was known.
func (a *analyzer) changed(p, now string) ([]string, bool) {
	var base map[string]bool
	if a.base != nil {
		if b, ok := a.base(p); ok {
			base = map[string]bool{}
			for _, l := range strings.Split(string(b), "\n") {
				base[strings.TrimRight(l, "\r")] = true
			}
		}
	}
	var out []string
	for _, l := range strings.Split(now, "\n") {
		l = strings.TrimRight(l, "\r")
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if base != nil && base[l] {
			continue
		}
		out = append(out, l)
	}
	return out, base != nil
}

func linesText(ls []string, max int) string {
	var q []string
	for i, l := range ls {
		if i == max {
			q = append(q, fmt.Sprintf("(+%d more)", len(ls)-max))
			break
		}
		q = append(q, strconv.Quote(forensics.Printable(clip(l, 160))))
	}
	return strings.Join(q, ", ")
}

func (a *analyzer) persistence(cp *forensics.Checkpoint) {
	for _, o := range a.content.Objects {
		if o.Kind != content.KindRootfs || !o.Saved {
			continue
		}
		p := o.Path
		base := path.Base(p)
		dir := path.Dir(p)
		loc := forensics.Location{Kind: "rootfs", Path: p}
		kind := "added or modified"
		if c := rootfsChange(cp, p); c != nil && c.Kind != "" && c.Kind != forensics.RootfsAdded {
			kind = c.Kind
		}
		switch {
		case p == "/etc/passwd":
			lines, _ := a.changed(p, readText(o))
			for _, l := range lines {
				f := strings.Split(l, ":")
				if len(f) < 4 {
					continue
				}
				if f[2] == "0" && f[0] != "root" {
					a.add(RuleAccountUID0, forensics.SeverityCritical, "Account with uid 0 added",
						fmt.Sprintf("/etc/passwd (%s) has the account %q with uid 0, a second root: %s.", kind, f[0], linesText([]string{l}, 1)), loc)
				}
				if f[1] == "" {
					a.add(RuleAccountNoPass, forensics.SeverityHigh, "Account without a password",
						fmt.Sprintf("/etc/passwd (%s) has the account %q with an empty password field: anyone can log in as it: %s.", kind, f[0], linesText([]string{l}, 1)), loc)
				}
			}
		case p == "/etc/shadow":
			lines, _ := a.changed(p, readText(o))
			for _, l := range lines {
				f := strings.Split(l, ":")
				if len(f) >= 2 && f[1] == "" {
					a.add(RuleAccountNoPass, forensics.SeverityHigh, "Account without a password",
						fmt.Sprintf("/etc/shadow (%s) has the account %q with an empty password: %s.", kind, f[0], linesText([]string{l}, 1)), loc)
				}
			}
		case p == "/etc/sudoers" || dir == "/etc/sudoers.d":
			a.lineRule(RuleSudoers, forensics.SeverityHigh, "sudo rules changed", o, kind, "grants privileges through sudo")
		case p == "/etc/crontab" || strings.HasPrefix(p, "/etc/cron.") || strings.HasPrefix(p, "/var/spool/cron/"):
			a.lineRule(RuleCron, forensics.SeverityHigh, "Cron job added", o, kind, "runs commands on a schedule (persistence)")
		case base == "authorized_keys" || base == "authorized_keys2":
			a.lineRule(RuleAuthorizedKeys, forensics.SeverityHigh, "SSH key authorized", o, kind, "lets the key's holder log in over SSH")
		case p == "/etc/ld.so.preload":
			a.lineRule(RuleLDPreload, forensics.SeverityCritical, "Library preloaded into every process", o, kind, "makes the dynamic linker load a library into every program (rootkits hide processes and files this way)")
		case slices.Contains([]string{".bashrc", ".profile", ".bash_profile", ".bash_login", ".bash_logout", ".zshrc", ".zprofile", ".kshrc", ".mkshrc", ".cshrc", ".tcshrc"}, base) ||
			p == "/etc/profile" || p == "/etc/bash.bashrc" || p == "/etc/environment" || dir == "/etc/profile.d" || p == "/etc/zsh/zshrc":
			a.lineRule(RuleShellRC, forensics.SeverityMedium, "Shell startup file changed", o, kind, "runs its commands in every new shell")
		}
	}
	for _, c := range cp.Rootfs {
		if c.Kind != forensics.RootfsDeleted {
			continue
		}
		why := "a file of the image was removed (defacement, covering tracks)"
		tech := ""
		if strings.HasPrefix(c.Path, "/var/log/") || strings.HasSuffix(c.Path, ".log") || strings.Contains(c.Path, "history") {
			why, tech = "a log or history file of the image was removed: log wiping", "T1070.002"
		}
		a.add(RuleRootfsDeleted, forensics.SeverityLow, "File of the image deleted",
			fmt.Sprintf("%s was deleted in the container: %s.", c.Path, why), forensics.Location{Kind: "rootfs", Path: c.Path})
		if tech != "" {
			a.out[len(a.out)-1].Technique = tech
		}
	}
}

func rootfsChange(cp *forensics.Checkpoint, p string) *forensics.RootfsChange {
	for i := range cp.Rootfs {
		if cp.Rootfs[i].Path == p && cp.Rootfs[i].Kind != forensics.RootfsDeleted {
			return &cp.Rootfs[i]
		}
	}
	return nil
}

func (a *analyzer) lineRule(rule string, sev forensics.Severity, title string, o *content.Object, kind, what string) {
	lines, based := a.changed(o.Path, readText(o))
	if based && len(lines) == 0 {
		return // only comments or blank lines changed
	}
	changed := "its lines"
	if based {
		changed = "lines not in the image"
	}
	a.add(rule, sev, title, fmt.Sprintf("%s (%s, %d bytes) %s; %s: %s.", o.Path, kind, o.Size, what, changed, linesText(lines, 5)),
		forensics.Location{Kind: "rootfs", Path: o.Path})
}

// poolPorts are TCP ports mining pools commonly serve stratum on.
var poolPorts = map[uint32]bool{3333: true, 3334: true, 4444: true, 5555: true, 5556: true, 6666: true, 7777: true, 8888: true,
	9999: true, 10128: true, 14433: true, 14444: true, 20535: true, 20580: true, 45560: true, 45700: true}

var stratumMarks = [][]byte{[]byte(`"mining.subscribe"`), []byte(`"mining.authorize"`), []byte(`"mining.notify"`),
	[]byte(`"method":"login"`), []byte(`"method": "login"`), []byte(`"method":"job"`), []byte(`"method": "job"`), []byte(`"method":"submit"`), []byte(`"job_id"`)}

func (a *analyzer) mining(cp *forensics.Checkpoint) {
	a.out = append(a.out, indicatorFindings(sortIOCs(a.iocs))...)
	stratum := false
	for _, i := range a.iocs {
		if i.Type == "url" && strings.HasPrefix(strings.ToLower(i.Value), "stratum") {
			stratum = true
			l := forensics.Location{Kind: "memory"}
			if len(i.Where) > 0 {
				l = i.Where[0]
			}
			a.add(RuleMiningStratum, forensics.SeverityHigh, "Mining pool URL",
				fmt.Sprintf("%s (seen %d times, first in %s): a cryptocurrency miner's pool address.", i.Value, i.Count, whereText(l)), l)
		}
	}
	for _, i := range a.iocs {
		switch i.Type {
		case "monero-address", "bitcoin-address", "ethereum-address":
			sev := forensics.SeverityMedium
			if stratum {
				sev = forensics.SeverityHigh
			}
			l := forensics.Location{Kind: "memory"}
			if len(i.Where) > 0 {
				l = i.Where[0]
			}
			a.add(RuleMiningWallet, sev, "Cryptocurrency wallet address",
				fmt.Sprintf("%s %s (seen %d times, first in %s): where mined coins or ransom go.", strings.TrimSuffix(i.Type, "-address"), i.Value, i.Count, whereText(l)), l)
		}
	}
	for i := range cp.Sockets {
		s := &cp.Sockets[i]
		if s.Protocol != "tcp" || s.RemotePort == 0 || !poolPorts[s.RemotePort] {
			continue
		}
		sev, why := forensics.SeverityMedium, "a port mining pools serve stratum on"
		if q := a.queued(s.Ino); q != "" {
			sev, why = forensics.SeverityHigh, "and stratum JSON-RPC is queued on it ("+q+")"
		}
		l := forensics.Location{Kind: "socket", Socket: sockDesc(s)}
		if len(s.Owners) > 0 {
			l.PID = s.Owners[0]
			if p := cp.Process(l.PID); p != nil {
				l.Comm = p.Comm
				for _, fd := range p.FDs {
					if fd.SocketIno == s.Ino {
						l.FD = fd.FD
					}
				}
			}
		}
		a.add(RuleMiningPool, sev, "Connection to a mining pool port",
			fmt.Sprintf("TCP %s -> %s (%s), owned by %s: port %d is %s.", endpoint(s.LocalAddr, s.LocalPort), endpoint(s.RemoteAddr, s.RemotePort), s.State, owners(cp, s.Owners), s.RemotePort, why), l)
	}
}

// queued returns a stratum method found in the socket's queues, or "".
func (a *analyzer) queued(ino uint32) string {
	if a.content == nil {
		return ""
	}
	pre := fmt.Sprintf("socket:[%d]/", ino)
	for _, o := range a.content.Objects {
		if !strings.HasPrefix(o.ID, pre) || !o.Saved {
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(o.Reader(), 1<<20))
		for _, m := range stratumMarks {
			if bytes.Contains(b, m) {
				return strings.TrimPrefix(o.ID, pre) + " queue: " + string(m)
			}
		}
	}
	return ""
}

func whereText(l forensics.Location) string {
	s := l.Kind
	if l.PID != 0 {
		s += fmt.Sprintf(" of pid %d (%s)", l.PID, l.Comm)
	}
	if l.Region != "" {
		s += " " + l.Region
	}
	if l.Path != "" {
		s += " " + l.Path
	}
	if l.Socket != "" {
		s += " " + l.Socket
	}
	return s
}

// sortIOCs orders indicators as the tables show them: secrets first, then by type and value.
func sortIOCs(in []forensics.IOC) []forensics.IOC {
	out := slices.Clone(in)
	slices.SortStableFunc(out, func(a, b forensics.IOC) int {
		if a.Secret != b.Secret {
			if a.Secret {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Type+"\x00"+a.Value, b.Type+"\x00"+b.Value)
	})
	return out
}

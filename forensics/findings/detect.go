package findings

import (
	"bytes"
	"fmt"
	"io"
	"path"
	"slices"
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

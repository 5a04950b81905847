// Package findings turns a decoded checkpoint into suspicious findings (Volatility's malfind
// and friends, for CRIU checkpoints): anonymous executable memory, executable deleted files and
// memfds, deleted executables and open files, argv[0] disguises, fake kernel threads, new
// executables in the rootfs, listeners and outbound connections.
//
// Analyze is pure: model in, findings out. Rules that look at memory contents take a small
// MemoryReader; without one they still fire, with less detail. It imports only the forensics
// model: never k8s.io/..., charm.land/... or other podsleuth packages.
package findings

import (
	"bytes"
	"cmp"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/content"
)

// Rule identifiers (stable: reports and tests refer to them).
const (
	RuleAnonRWX         = "anon-rwx-mapping"
	RuleAnonExec        = "anon-exec-mapping"
	RuleExecMemfd       = "memfd-exec-mapping"
	RuleExecDeleted     = "deleted-file-exec-mapping"
	RuleDeletedExe      = "deleted-exe"
	RuleOpenDeleted     = "open-deleted-file"
	RuleArgv0Mismatch   = "argv0-exe-mismatch"
	RuleFakeKernelThr   = "fake-kernel-thread"
	RuleRootfsNewExec   = "rootfs-new-executable"
	RuleListener        = "listening-socket"
	RuleOutbound        = "outbound-connection"
	RuleLoopbackConnect = "loopback-connection"
	RuleMemoryIndex     = "memory-index-inconsistent"
	RuleRootfsTraversal = "rootfs-path-traversal"
)

// MemoryReader reads a process's memory; memory.Memory satisfies it.
type MemoryReader interface {
	ReadAt(pid int, addr uint64, b []byte) (int, error)
}

// Option configures Analyze.
type Option func(*analyzer)

// WithMemory lets memory rules look at the contents of suspicious mappings.
func WithMemory(m MemoryReader) Option { return func(a *analyzer) { a.mem = m } }

// WithIndexWarnings turns the page index's warnings (pagemaps that point past the pages image,
// overlap, or map pages no VMA covers) into findings: a checkpoint whose memory images
// contradict each other was damaged or tampered with.
func WithIndexWarnings(ws []string) Option { return func(a *analyzer) { a.warnings = ws } }

type analyzer struct {
	mem      MemoryReader
	warnings []string
	content  *content.Set
	iocs     []forensics.IOC
	base     BaseFile
	out      []forensics.Finding
}

func (a *analyzer) add(rule string, sev forensics.Severity, title, reason string, loc forensics.Location) {
	a.out = append(a.out, forensics.Finding{Rule: rule, Severity: sev, Technique: techniques[rule], Title: title, Reason: reason, Location: loc})
}

// Analyze returns the findings of a checkpoint, most severe first (then by rule, PID, address).
func Analyze(cp *forensics.Checkpoint, opts ...Option) []forensics.Finding {
	a := &analyzer{}
	for _, o := range opts {
		o(a)
	}
	for i := range cp.Processes {
		p := &cp.Processes[i]
		a.mappings(p)
		a.masquerade(p, a.process(p))
		a.execLocation(p)
		a.files(p)
	}
	a.rootfs(cp)
	a.sockets(cp)
	a.shells(cp)
	a.contentRules(cp)
	a.mining(cp)
	for _, w := range a.warnings {
		a.add(RuleMemoryIndex, forensics.SeverityLow, "Memory images are inconsistent",
			w+": those pages cannot be read or attributed; the checkpoint may be damaged or tampered with.",
			forensics.Location{Kind: "memory"})
	}
	slices.SortStableFunc(a.out, func(x, y forensics.Finding) int {
		return cmp.Or(cmp.Compare(y.Severity, x.Severity), cmp.Compare(x.Rule, y.Rule),
			cmp.Compare(x.Location.PID, y.Location.PID), cmp.Compare(x.Location.Start, y.Location.Start),
			cmp.Compare(x.Location.Path, y.Location.Path), cmp.Compare(x.Location.Socket, y.Location.Socket))
	})
	return a.out
}

func region(v *forensics.VMA) string {
	s := v.Kind
	if v.Path != "" && !strings.HasPrefix(v.Path, v.Kind+":") {
		s += ":" + v.Path
	} else if v.Path != "" {
		s = v.Path
	}
	if v.Deleted && !strings.HasSuffix(s, "(deleted)") {
		s += " (deleted)"
	}
	return s + " " + v.Prot
}

func isAnon(v *forensics.VMA) bool {
	switch v.Kind {
	case "anon", "heap", "stack", "shmem":
		return true
	}
	return false
}

func isMemfd(v *forensics.VMA) bool {
	return v.Kind == "memfd" || strings.HasPrefix(v.Path, "memfd:") || strings.HasPrefix(v.Path, "/memfd:")
}

// peek describes what the first bytes of a mapping look like, for the reason text.
func (a *analyzer) peek(pid int, v *forensics.VMA) string {
	if a.mem == nil {
		return ""
	}
	b := make([]byte, 64)
	n, _ := a.mem.ReadAt(pid, v.Start, b)
	b = b[:n]
	switch {
	case n == 0:
		return " Its contents are not in the checkpoint."
	case bytes.HasPrefix(b, []byte("\x7fELF")):
		return " It starts with an ELF header: a loaded binary that is not backed by a file."
	case bytes.HasPrefix(b, []byte("MZ")):
		return " It starts with an MZ (PE) header."
	case bytes.Count(b[:min(n, 16)], []byte{0x90}) >= 8:
		return " It starts with a NOP sled (0x90 bytes), typical of injected shellcode."
	case bytes.Count(b, []byte{0}) == n:
		return " Its first bytes are zero."
	}
	return fmt.Sprintf(" First bytes: % x.", b[:min(n, 16)])
}

// head reads the first bytes of a mapping (nil without memory or contents).
func (a *analyzer) head(pid int, v *forensics.VMA) []byte {
	if a.mem == nil {
		return nil
	}
	b := make([]byte, 64)
	n, _ := a.mem.ReadAt(pid, v.Start, b)
	return b[:n]
}

// loaded reports whether b looks like a loaded binary or shellcode rather than JIT output.
func loaded(b []byte) bool {
	return bytes.HasPrefix(b, []byte("\x7fELF")) || bytes.HasPrefix(b, []byte("MZ")) || len(b) >= 16 && bytes.Count(b[:16], []byte{0x90}) >= 8
}

func (a *analyzer) mappings(p *forensics.Process) {
	jit := isJIT(p)
	for i := range p.Maps {
		v := &p.Maps[i]
		if !v.Executable() && isAnon(v) && v.Kind != "shmem" && a.mem != nil {
			if h := a.head(p.PID, v); bytes.HasPrefix(h, []byte("\x7fELF")) {
				a.add(RuleAnonELF, forensics.SeverityCritical, "ELF image in anonymous memory",
					fmt.Sprintf("%s (%d bytes, %s) of pid %d (%s) starts with an ELF header: a binary copied into memory by hand (reflective loading), not mapped from a file.",
						hexRange(v), v.Size(), v.Kind, p.PID, p.Comm),
					forensics.Location{Kind: "memory", PID: p.PID, Comm: p.Comm, Start: v.Start, End: v.End, Region: region(v)})
			}
		}
		if !v.Executable() || v.Kind == "vdso" || v.Kind == "vsyscall" || v.Kind == "vvar" {
			continue
		}
		if jit && isAnon(v) && !loaded(a.head(p.PID, v)) {
			rule := RuleAnonExec
			if v.Writable() {
				rule = RuleAnonRWX
			}
			a.add(rule, forensics.SeverityLow, "Executable anonymous memory in a JIT runtime",
				fmt.Sprintf("%s (%d bytes, %s %s) of pid %d (%s): %s compiles code into memory like this; podsleuth cannot tell JIT output from injected code without disassembling it, and its first bytes are neither an ELF/PE header nor a NOP sled.%s",
					hexRange(v), v.Size(), v.Kind, v.Prot, p.PID, p.Comm, path.Base(p.Exe), a.peek(p.PID, v)),
				forensics.Location{Kind: "memory", PID: p.PID, Comm: p.Comm, Start: v.Start, End: v.End, Region: region(v), Path: v.Path})
			continue
		}
		loc := forensics.Location{Kind: "memory", PID: p.PID, Comm: p.Comm, Start: v.Start, End: v.End, Region: region(v), Path: v.Path}
		size := fmt.Sprintf("%d bytes", v.Size())
		switch {
		case isMemfd(v):
			a.add(RuleExecMemfd, forensics.SeverityCritical, "Executable memfd mapping",
				fmt.Sprintf("%s (%s) maps a memfd (%s) executable: code run from memory without a file on disk, the fileless-malware pattern.%s",
					hexRange(v), size, v.Path, a.peek(p.PID, v)), loc)
		case isAnon(v) && v.Writable():
			a.add(RuleAnonRWX, forensics.SeverityCritical, "Anonymous RWX mapping",
				fmt.Sprintf("%s (%s, %s) is anonymous memory that is writable and executable at once: where injected or unpacked code lives.%s",
					hexRange(v), size, v.Kind, a.peek(p.PID, v)), loc)
		case isAnon(v):
			a.add(RuleAnonExec, forensics.SeverityHigh, "Anonymous executable mapping",
				fmt.Sprintf("%s (%s, %s) is executable anonymous memory not backed by any file (JIT compilers do this; so does injected code).%s",
					hexRange(v), size, v.Kind, a.peek(p.PID, v)), loc)
		case v.Kind == "file" && (v.Deleted || strings.HasSuffix(v.Path, " (deleted)")):
			a.add(RuleExecDeleted, forensics.SeverityHigh, "Executable mapping of a deleted file",
				fmt.Sprintf("%s maps %s executable, and the file was deleted: code whose file was removed after it was loaded.", hexRange(v), v.Path), loc)
		}
	}
}

func hexRange(v *forensics.VMA) string { return fmt.Sprintf("0x%x-0x%x", v.Start, v.End) }

// kernelThreadPrefixes are the names of kernel threads that malware imitates.
var kernelThreadPrefixes = []string{"kworker", "ksoftirqd", "kthreadd", "migration/", "rcu_", "rcu/", "kswapd",
	"watchdog/", "watchdogd", "irq/", "cpuhp/", "kdevtmpfs", "khugepaged", "jbd2/", "kcompactd", "kauditd",
	"khungtaskd", "oom_reaper", "writeback", "kblockd", "ksmd", "kintegrityd", "md/", "scsi_eh", "ext4-rsv"}

func kernelName(s string) bool {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	for _, k := range kernelThreadPrefixes {
		if strings.HasPrefix(s, k) {
			return true
		}
	}
	return false
}

// multicall binaries run under many names: argv[0] differs from the exe by design.
var multicall = map[string]bool{"busybox": true, "toybox": true, "coreutils": true, "bash": true, "dash": true}

// process runs the process rules; it reports whether the process poses as a kernel thread.
func (a *analyzer) process(p *forensics.Process) bool {
	loc := forensics.Location{Kind: "process", PID: p.PID, Comm: p.Comm, Path: p.Exe}
	if p.ExeDeleted {
		a.add(RuleDeletedExe, forensics.SeverityHigh, "Executable deleted",
			fmt.Sprintf("pid %d (%s) runs %s, which was deleted after it started: a common way to hide a dropped binary.", p.PID, p.Comm, p.Exe), loc)
	}
	argv0 := ""
	if len(p.Cmdline) > 0 {
		argv0 = p.Cmdline[0]
	}
	// A user process (it has an address space and an executable) named like a kernel thread.
	fake := kernelName(p.Comm) || kernelName(argv0)
	if fake {
		a.add(RuleFakeKernelThr, forensics.SeverityHigh, "User process disguised as a kernel thread",
			fmt.Sprintf("pid %d is a user process (exe %s) but calls itself %q (argv[0] %q): kernel threads have no executable and are never in a container checkpoint.",
				p.PID, orNone(p.Exe), p.Comm, argv0), loc)
	}
	if argv0 != "" && p.Exe != "" {
		ab := path.Base(strings.TrimPrefix(argv0, "-"))
		eb := path.Base(strings.TrimSuffix(p.Exe, " (deleted)"))
		if ab != eb && !multicall[eb] && !strings.HasPrefix(eb, ab) && !strings.HasPrefix(ab, eb) {
			a.add(RuleArgv0Mismatch, forensics.SeverityMedium, "argv[0] does not match the executable",
				fmt.Sprintf("pid %d runs %s but its argv[0] is %q: the process renamed itself or was started under a false name.", p.PID, p.Exe, argv0), loc)
		}
	}
	return fake
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (a *analyzer) files(p *forensics.Process) {
	for _, fd := range p.FDs {
		if !fd.Deleted || fd.Type != forensics.FDRegular {
			continue
		}
		a.add(RuleOpenDeleted, forensics.SeverityMedium, "Open deleted file",
			fmt.Sprintf("pid %d holds fd %d open on %s, which was deleted (%d bytes): its contents live on only through this descriptor (CRIU saved them as a ghost file).",
				p.PID, fd.FD, fd.Path, fd.Size),
			forensics.Location{Kind: "file", PID: p.PID, Comm: p.Comm, FD: fd.FD, Path: fd.Path})
	}
}

// runtimeManaged are files container engines create in every container (bind-mount targets).
var runtimeManaged = map[string]bool{"/etc/hostname": true, "/etc/hosts": true, "/etc/resolv.conf": true,
	"/run/.containerenv": true, "/.dockerenv": true, "/run/secrets": true}

func (a *analyzer) rootfs(cp *forensics.Checkpoint) {
	for _, c := range cp.Rootfs {
		if c.Traversal {
			a.add(RuleRootfsTraversal, forensics.SeverityHigh, "Path traversal name in the container's filesystem changes",
				fmt.Sprintf("the rootfs diff names %s (%s) with an absolute path or '..': extracted as named it would land outside the container's root (shown cleaned). No container engine writes such a name: the archive was crafted or altered.", c.Path, c.Type),
				forensics.Location{Kind: "rootfs", Path: c.Path})
		}
		if !c.Executable || c.Type != "file" || c.Kind == forensics.RootfsDeleted || c.Size == 0 || runtimeManaged[c.Path] {
			continue // an empty file runs nothing; the engine creates these mount points itself
		}
		sev := forensics.SeverityHigh
		why := "an executable file that is not part of the image"
		switch cp.RootfsKind(c) {
		case forensics.RootfsModified:
			why = "an executable of the image that was modified"
		case forensics.RootfsAddedOrModified:
			why = "an executable file written in the container (added to the image or replacing one of its files: without a base image podsleuth cannot tell)"
		}
		for _, d := range []string{"/tmp/", "/dev/shm/", "/var/tmp/", "/run/"} {
			if strings.HasPrefix(c.Path, d) || strings.Contains(c.Path, "/.") {
				sev = forensics.SeverityCritical
				why += ", in a temporary or hidden location"
				break
			}
		}
		a.add(RuleRootfsNewExec, sev, "New or modified executable in the container filesystem",
			fmt.Sprintf("%s (%s, %d bytes, %s) is %s: containers should run only what their image ships.", c.Path, cp.RootfsKind(c), c.Size, c.Mode, why),
			forensics.Location{Kind: "rootfs", Path: c.Path})
	}
}

func loopback(addr string) bool {
	ip, err := netip.ParseAddr(addr)
	return err == nil && ip.Unmap().IsLoopback()
}

func unspecified(addr string) bool {
	ip, err := netip.ParseAddr(addr)
	return addr == "" || err == nil && ip.IsUnspecified()
}

func endpoint(addr string, port uint32) string {
	if strings.Contains(addr, ":") {
		return fmt.Sprintf("[%s]:%d", addr, port)
	}
	return fmt.Sprintf("%s:%d", addr, port)
}

func (a *analyzer) sockets(cp *forensics.Checkpoint) {
	for _, s := range cp.Sockets {
		if s.Family != "inet" && s.Family != "inet6" {
			continue
		}
		owner := forensics.Location{Kind: "socket", Socket: fmt.Sprintf("socket:[%d]", s.Ino)}
		if len(s.Owners) > 0 {
			owner.PID = s.Owners[0]
			if p := cp.Process(owner.PID); p != nil {
				owner.Comm = p.Comm
			}
		}
		local := endpoint(s.LocalAddr, s.LocalPort)
		switch {
		case s.State == "LISTEN" || s.Protocol == "udp" && s.RemotePort == 0 && s.LocalPort != 0:
			sev, scope := forensics.SeverityLow, "loopback only"
			if !loopback(s.LocalAddr) {
				sev, scope = forensics.SeverityMedium, "reachable from the network"
			}
			owner.Socket += " " + s.Protocol + " " + local
			a.add(RuleListener, sev, "Listening socket",
				fmt.Sprintf("%s listens on %s (%s), owned by %s: a service or a backdoor waiting for connections.", strings.ToUpper(s.Protocol), local, scope, owners(cp, s.Owners)),
				owner)
		case s.RemotePort != 0 && !unspecified(s.RemoteAddr):
			remote := endpoint(s.RemoteAddr, s.RemotePort)
			owner.Socket += fmt.Sprintf(" %s %s -> %s %s", s.Protocol, local, remote, s.State)
			if loopback(s.RemoteAddr) {
				a.add(RuleLoopbackConnect, forensics.SeverityInfo, "Loopback connection",
					fmt.Sprintf("%s %s -> %s (%s) stays on this host, owned by %s.", strings.ToUpper(s.Protocol), local, remote, s.State, owners(cp, s.Owners)), owner)
				continue
			}
			a.add(RuleOutbound, forensics.SeverityMedium, "Connection to a remote address",
				fmt.Sprintf("%s %s -> %s (%s), owned by %s: check the remote end against the case's indicators (C2, mining pool, exfiltration).", strings.ToUpper(s.Protocol), local, remote, s.State, owners(cp, s.Owners)), owner)
		}
	}
}

func owners(cp *forensics.Checkpoint, pids []int) string {
	if len(pids) == 0 {
		return "no process"
	}
	var s []string
	for _, pid := range pids {
		n := ""
		if p := cp.Process(pid); p != nil {
			n = " (" + p.Comm + ")"
		}
		s = append(s, fmt.Sprintf("pid %d%s", pid, n))
	}
	return strings.Join(s, ", ")
}

package analysis_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/findings"
)

func run(t *testing.T, name string) (*forensics.Checkpoint, *analysis.Result) {
	t.Helper()
	a, cp, m := open(t, name)
	res, err := analysis.Run(context.Background(), cp, m, analysis.Options{Archive: a})
	require.NoError(t, err)
	t.Cleanup(func() { res.Close() })
	require.NoError(t, res.ContentErr)
	require.NoError(t, res.IndicatorsErr)
	return cp, res
}

// pidOf returns the pid of the only process whose comm and command line match.
func pidOf(t *testing.T, cp *forensics.Checkpoint, comm, cmdline string) int {
	t.Helper()
	var pids []int
	for _, p := range cp.Processes {
		if p.Comm == comm && strings.Contains(strings.Join(p.Cmdline, " "), cmdline) {
			pids = append(pids, p.PID)
		}
	}
	require.Len(t, pids, 1, "%s %q", comm, cmdline)
	return pids[0]
}

// hits returns the findings of a rule.
func hits(res *analysis.Result, rule string) []forensics.Finding {
	var out []forensics.Finding
	for _, f := range res.Findings {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

// one requires exactly one finding of the rule matching where, with that severity and the
// rule's technique.
func one(t *testing.T, res *analysis.Result, rule string, sev forensics.Severity, where func(forensics.Location) bool) forensics.Finding {
	t.Helper()
	var got []forensics.Finding
	for _, f := range hits(res, rule) {
		if where(f.Location) {
			got = append(got, f)
		}
	}
	require.Len(t, got, 1, "%s: %+v", rule, hits(res, rule))
	r, ok := findings.RuleByID(rule)
	require.True(t, ok)
	require.Equal(t, sev, got[0].Severity, got[0].Reason)
	require.GreaterOrEqual(t, got[0].Severity, r.MinSeverity)
	require.Equal(t, r.Technique, got[0].Technique)
	return got[0]
}

func fdOf(t *testing.T, cp *forensics.Checkpoint, pid int, match func(forensics.FD) bool) int {
	t.Helper()
	for _, fd := range cp.Process(pid).FDs {
		if match(fd) {
			return fd.FD
		}
	}
	t.Fatalf("pid %d: no such fd", pid)
	return -1
}

// TestFileless (images/triage-fileless, gen.sh triage): a stage-2 script that deleted itself
// while sh runs it (a ghost file with a second C2 URL), a memfd holding an ELF nobody maps, the
// same ELF copied into anonymous memory, and a "#!" script waiting in a pipe.
func TestFileless(t *testing.T) {
	cp, res := run(t, "images/triage-fileless")
	sh := pidOf(t, cp, "sh", ".stage2.sh")
	attack := pidOf(t, cp, "attack", "--mode fileless")
	mfd := fdOf(t, cp, attack, func(fd forensics.FD) bool { return fd.Type == forensics.FDMemfd })
	f := one(t, res, findings.RuleFileless, forensics.SeverityCritical, func(l forensics.Location) bool { return l.Path == "memfd:kworkerd" })
	require.Equal(t, attack, f.Location.PID)
	require.Equal(t, mfd, f.Location.FD)
	require.Contains(t, f.Reason, "ELF")
	pipe := fdOf(t, cp, attack, func(fd forensics.FD) bool { return fd.Type == forensics.FDPipe })
	f = one(t, res, findings.RuleFileless, forensics.SeverityCritical, func(l forensics.Location) bool { return l.Kind == "pipe" })
	require.Equal(t, attack, f.Location.PID)
	require.Equal(t, pipe, f.Location.FD)
	require.Contains(t, f.Reason, "#!/bin/sh")
	script := fdOf(t, cp, sh, func(fd forensics.FD) bool { return fd.Deleted && strings.HasSuffix(fd.Path, ".stage2.sh") })
	f = one(t, res, findings.RuleFileless, forensics.SeverityHigh, func(l forensics.Location) bool { return strings.HasPrefix(l.Path, "ghost:") })
	require.Equal(t, sh, f.Location.PID)
	require.Equal(t, script, f.Location.FD)
	f = one(t, res, findings.RuleAnonELF, forensics.SeverityCritical, func(l forensics.Location) bool { return true })
	require.Equal(t, attack, f.Location.PID)
	v := cp.Process(attack)
	var vma *forensics.VMA
	for i := range v.Maps {
		if v.Maps[i].Start == f.Location.Start {
			vma = &v.Maps[i]
		}
	}
	require.NotNil(t, vma)
	require.Equal(t, "anon", vma.Kind)
	require.Equal(t, vma.End, f.Location.End)

	// the C2 URL written only in the deleted script is an indicator, found in the ghost file
	found := false
	for _, i := range res.Indicators {
		if i.Type == "url" && i.Value == "http://c2-stage2.evil.example:8080/gate.php" {
			for _, w := range i.Where {
				if w.Kind == "file" && strings.HasPrefix(w.Path, "ghost:") {
					found = true
				}
			}
		}
	}
	require.True(t, found, "the deleted script's C2 URL, from the ghost file")
}

// TestShells (images/triage-shells): bash's /dev/tcp reverse shell (sh -i on the socket) and a
// socat bind shell (listening, and the sh it served through a socketpair).
func TestShells(t *testing.T) {
	cp, res := run(t, "images/triage-shells")
	exact := func(args ...string) int {
		for _, p := range cp.Processes {
			if strings.Join(p.Cmdline, "\x00") == strings.Join(args, "\x00") {
				return p.PID
			}
		}
		t.Fatalf("no process %q", args)
		return 0
	}
	rev := exact("/bin/sh", "-i")
	f := one(t, res, findings.RuleReverseShell, forensics.SeverityCritical, func(l forensics.Location) bool { return true })
	require.Equal(t, rev, f.Location.PID)
	require.Equal(t, 0, f.Location.FD)
	require.Contains(t, f.Location.Socket, "-> 127.0.0.1:9001")
	var listener int
	for _, p := range cp.Processes {
		if p.Comm == "socat" && p.PPID != 0 && cp.Process(p.PPID).Comm == "sh" {
			listener = p.PID
		}
	}
	f = one(t, res, findings.RuleBindShell, forensics.SeverityCritical, func(l forensics.Location) bool { return l.PID == listener })
	require.Contains(t, f.Location.Socket, "127.0.0.1:14445 LISTEN")
	served := exact("/bin/sh")
	f = one(t, res, findings.RuleBindShell, forensics.SeverityCritical, func(l forensics.Location) bool { return l.PID == served })
	require.Equal(t, 0, f.Location.FD)
	require.Contains(t, f.Location.Socket, "127.0.0.1:14445 ->")
	require.Contains(t, f.Reason, "socketpair")
	require.Empty(t, hits(res, findings.RuleMiningPool), "a shell's port is not a pool")
}

// TestMasquerade (images/triage-masq): run from /dev/shm/.x, calls itself sshd (comm and argv),
// two threads named like kernel threads.
func TestMasquerade(t *testing.T) {
	cp, res := run(t, "images/triage-masq")
	pid := pidOf(t, cp, "sshd", "/usr/sbin/sshd")
	p := cp.Process(pid)
	require.Equal(t, "/dev/shm/.x/updater", p.Exe)
	one(t, res, findings.RuleExecFromTemp, forensics.SeverityHigh, func(l forensics.Location) bool { return l.PID == pid })
	one(t, res, findings.RuleCommMismatch, forensics.SeverityMedium, func(l forensics.Location) bool { return l.PID == pid })
	one(t, res, findings.RuleArgv0Mismatch, forensics.SeverityMedium, func(l forensics.Location) bool { return l.PID == pid })
	require.Len(t, p.ThreadNames, 3)
	for i, name := range []string{"ksoftirqd/0", "kworker/u4:1"} {
		tid := p.Threads[i+1]
		require.Equal(t, name, p.ThreadNames[i+1])
		f := one(t, res, findings.RuleKernelThreadTID, forensics.SeverityHigh, func(l forensics.Location) bool { return l.TID == tid })
		require.Equal(t, pid, f.Location.PID)
		require.Contains(t, f.Reason, name)
	}
}

// TestMiner (images/triage-miner): a miner from /tmp/.xm logged in to a local fake stratum pool
// whose job answer waits unread, with Monero, Bitcoin and Ethereum wallets.
func TestMiner(t *testing.T) {
	cp, res := run(t, "images/triage-miner")
	pid := pidOf(t, cp, "xmrig", "stratum+tcp://")
	one(t, res, findings.RuleExecFromTemp, forensics.SeverityHigh, func(l forensics.Location) bool { return l.PID == pid })
	f := one(t, res, findings.RuleMiningStratum, forensics.SeverityHigh, func(l forensics.Location) bool { return true })
	require.Contains(t, f.Reason, "stratum+tcp://127.0.0.1:3333")
	sock := fdOf(t, cp, pid, func(fd forensics.FD) bool { return fd.Type == forensics.FDInet })
	f = one(t, res, findings.RuleMiningPool, forensics.SeverityHigh, func(l forensics.Location) bool { return l.PID == pid })
	require.Equal(t, sock, f.Location.FD)
	require.Contains(t, f.Reason, "job_id")
	for _, typ := range []string{"monero", "bitcoin", "ethereum"} {
		var got []forensics.Finding
		for _, f := range hits(res, findings.RuleMiningWallet) {
			if strings.HasPrefix(f.Reason, typ+" ") {
				got = append(got, f)
			}
		}
		require.Len(t, got, 1, typ)
		require.Equal(t, forensics.SeverityHigh, got[0].Severity, "with a stratum URL")
		require.Equal(t, pid, got[0].Location.PID)
	}
	require.Len(t, hits(res, findings.RuleMiningWallet), 3)
}

// TestBenign (images/triage-benign): a busybox shell, a worker that rewrote its title like nginx,
// LuaJIT with JIT-compiled code: nothing above low, and the JIT's executable memory says why it
// cannot tell.
func TestBenign(t *testing.T) {
	cp, res := run(t, "images/triage-benign")
	for _, f := range res.Findings {
		if f.Rule == findings.RuleSecretExposed {
			continue // every fixture runs with the known environment, which holds planted credentials
		}
		require.LessOrEqual(t, f.Severity, forensics.SeverityLow, "%s: %s", f.Rule, f.Reason)
	}
	lj := pidOf(t, cp, "luajit", "jit.lua")
	f := one(t, res, findings.RuleAnonExec, forensics.SeverityLow, func(l forensics.Location) bool { return l.PID == lj })
	require.Contains(t, f.Reason, "cannot tell")
	pidOf(t, cp, "pgworker", "pgworker: worker process")
}

// TestSystemBinaryCopy (archives/containerd-busybox.tar, a real containerd checkpoint): busybox
// copied to /tmp/.cache/httpd and run from there is a system tool under another name, placed at
// the rootfs file and the process that maps it.
func TestSystemBinaryCopy(t *testing.T) {
	cp, res := run(t, "archives/containerd-busybox.tar")
	f := one(t, res, findings.RuleSystemCopy, forensics.SeverityHigh, func(l forensics.Location) bool { return l.Path == "/tmp/.cache/httpd" })
	require.Equal(t, "rootfs", f.Location.Kind)
	require.Contains(t, f.Reason, `busybox renamed to "httpd"`)
	p := cp.Process(f.Location.PID)
	require.NotNil(t, p)
	require.Equal(t, "/tmp/.cache/httpd", p.Exe)
	require.Equal(t, "T1036.003", f.Technique)
	// the same busybox as the image's own /bin tools is no finding: only the renamed copy
	require.Len(t, hits(res, findings.RuleSystemCopy), 1)
}

// TestRootfsDeletedFile (archives/podman-crun.tar): the workload deleted the image's
// /var/log/auth.log; the deletion is a low finding naming log wiping, and the conclusion keeps
// it out of the story (context).
func TestRootfsDeletedFile(t *testing.T) {
	cp, res := run(t, "archives/podman-crun.tar")
	fs := hits(res, findings.RuleRootfsDeleted)
	require.Len(t, fs, 1)
	f := fs[0]
	require.Equal(t, forensics.Location{Kind: "rootfs", Path: "/var/log/auth.log"}, f.Location)
	require.Equal(t, forensics.SeverityLow, f.Severity)
	require.Equal(t, "T1070.002", f.Technique, "a log: Clear Linux or Mac System Logs")
	require.Contains(t, f.Reason, "log wiping")
	var deleted bool
	for _, c := range cp.Rootfs {
		if c.Path == "/var/log/auth.log" {
			deleted = c.Kind == forensics.RootfsDeleted
		}
	}
	require.True(t, deleted, "deleted.files lists it")
	for _, s := range res.Conclusion.Stages {
		for _, it := range s.Items {
			require.NotEqual(t, findings.RuleRootfsDeleted, it.Rule)
		}
	}
}

package findings_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/criu"
	"github.com/podsleuth/podsleuth/forensics/findings"
	"github.com/podsleuth/podsleuth/forensics/memory"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

func byRule(fs []forensics.Finding, rule string) []forensics.Finding {
	var out []forensics.Finding
	for _, f := range fs {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

// TestFixtureFindings: the planted suspicious things of test/fixtures are flagged.
func TestFixtureFindings(t *testing.T) {
	tests := []struct {
		path        string
		main, child int
		rootfs      bool
		tcp         bool
	}{
		{"images/full", 15728, 15732, false, true},
		{"images/criu41", 27741, 27745, false, false},
		{"archives/podman-crun.tar", 1, 8, true, true},
		{"archives/podman-runc.tar", 1, 16, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			ctx := context.Background()
			a, err := archive.Open(ctx, filepath.Join(fixtures.Dir(), tt.path), archive.DefaultLimits(), t.TempDir())
			require.NoError(t, err)
			defer a.Close()
			cp, err := criu.Decode(ctx, a)
			require.NoError(t, err)
			m, err := memory.Open(ctx, a, cp)
			require.NoError(t, err)
			fs := findings.Analyze(cp, findings.WithMemory(m))
			for i := 1; i < len(fs); i++ {
				require.GreaterOrEqual(t, fs[i-1].Severity, fs[i].Severity, "sorted by severity")
			}

			rwx := byRule(fs, findings.RuleAnonRWX)
			require.Len(t, rwx, 1)
			require.Equal(t, forensics.SeverityCritical, rwx[0].Severity)
			require.Equal(t, tt.main, rwx[0].Location.PID)
			require.Equal(t, uint64(4096), rwx[0].Location.End-rwx[0].Location.Start)
			require.Contains(t, rwx[0].Reason, "NOP sled", "memory peek")

			mfd := byRule(fs, findings.RuleExecMemfd)
			require.Len(t, mfd, 1)
			require.Equal(t, forensics.SeverityCritical, mfd[0].Severity)
			require.Equal(t, tt.main, mfd[0].Location.PID)
			require.Contains(t, mfd[0].Reason, "payload")
			require.Contains(t, mfd[0].Reason, "ELF header")

			kt := byRule(fs, findings.RuleFakeKernelThr)
			require.Len(t, kt, 1)
			require.Equal(t, tt.child, kt[0].Location.PID)

			am := byRule(fs, findings.RuleArgv0Mismatch)
			require.Len(t, am, 1)
			require.Equal(t, tt.child, am[0].Location.PID)

			del := byRule(fs, findings.RuleOpenDeleted)
			require.Len(t, del, 1)
			require.Equal(t, 5, del[0].Location.FD)
			require.Contains(t, del[0].Location.Path, "deleted-evidence.bin")

			require.Empty(t, byRule(fs, findings.RuleAnonExec), "no R-X anonymous mapping was planted")
			require.Empty(t, byRule(fs, findings.RuleDeletedExe))
			require.Empty(t, byRule(fs, findings.RuleOutbound), "every connection is on loopback")

			if tt.tcp {
				require.Len(t, byRule(fs, findings.RuleListener), 3) // 47777, udp 47778, [::1]:47779
				require.Len(t, byRule(fs, findings.RuleLoopbackConnect), 4)
			} else {
				require.Empty(t, byRule(fs, findings.RuleListener))
			}
			nx := byRule(fs, findings.RuleRootfsNewExec)
			if tt.rootfs {
				require.Len(t, nx, 1)
				require.Equal(t, "/tmp/.x/miner", nx[0].Location.Path)
				require.Equal(t, forensics.SeverityCritical, nx[0].Severity)
			} else {
				require.Empty(t, nx)
			}
		})
	}
}

type noMemory struct{}

func (noMemory) ReadAt(int, uint64, []byte) (int, error) { return 0, errors.New("no") }

func TestRules(t *testing.T) {
	cp := &forensics.Checkpoint{
		Processes: []forensics.Process{
			{PID: 1, Comm: "python3", Exe: "/usr/bin/python3.11", Cmdline: []string{"python3", "app.py"}, Maps: []forensics.VMA{
				{Start: 0x1000, End: 0x2000, Prot: "r-xp", Kind: "anon"},
				{Start: 0x3000, End: 0x4000, Prot: "r-xp", Kind: "file", Path: "/tmp/libevil.so", Deleted: true},
				{Start: 0x5000, End: 0x6000, Prot: "r-xp", Kind: "file", Path: "/usr/lib/libc.so.6"},
				{Start: 0x7000, End: 0x8000, Prot: "r-xp", Kind: "vdso"},
			}},
			{PID: 2, Comm: "sh", Exe: "/bin/busybox", Cmdline: []string{"sh"}},
			{PID: 3, Comm: "ksoftirqd/0", Exe: "/tmp/x (deleted)", ExeDeleted: true, Cmdline: []string{"ksoftirqd/0"}},
		},
		Sockets: []forensics.Socket{
			{Ino: 5, Family: "inet", Protocol: "tcp", State: "ESTABLISHED", LocalAddr: "10.1.2.3", LocalPort: 51000, RemoteAddr: "203.0.113.9", RemotePort: 4444, Owners: []int{3}},
			{Ino: 6, Family: "inet", Protocol: "tcp", State: "LISTEN", LocalAddr: "0.0.0.0", LocalPort: 31337, Owners: []int{3}},
			{Ino: 7, Family: "unix", Type: "stream", State: "LISTEN", Path: "/run/x.sock"},
		},
		Rootfs: []forensics.RootfsChange{
			{Path: "/usr/local/bin/tool", Kind: forensics.RootfsModified, Type: "file", Executable: true, Size: 12345},
			{Path: "/etc/hosts", Kind: forensics.RootfsAdded, Type: "file", Executable: true, Size: 0},
			{Path: "/etc/motd", Kind: forensics.RootfsAdded, Type: "file"},
			{Path: "/usr/bin/gone", Kind: forensics.RootfsDeleted, Type: "file", Executable: true},
		},
	}
	fs := findings.Analyze(cp, findings.WithMemory(noMemory{}))
	tests := []struct {
		rule string
		n    int
		sev  forensics.Severity
		pid  int
	}{
		{findings.RuleAnonExec, 1, forensics.SeverityHigh, 1},
		{findings.RuleExecDeleted, 1, forensics.SeverityHigh, 1},
		{findings.RuleDeletedExe, 1, forensics.SeverityHigh, 3},
		{findings.RuleFakeKernelThr, 1, forensics.SeverityHigh, 3},
		{findings.RuleOutbound, 1, forensics.SeverityMedium, 3},
		{findings.RuleListener, 1, forensics.SeverityMedium, 3}, // unix listeners are not network listeners
		{findings.RuleRootfsNewExec, 1, forensics.SeverityHigh, 0},
		{findings.RuleArgv0Mismatch, 1, forensics.SeverityMedium, 3}, // not python3 vs python3.11, not busybox applets
		{findings.RuleAnonRWX, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			got := byRule(fs, tt.rule)
			require.Len(t, got, tt.n)
			if tt.n > 0 {
				require.Equal(t, tt.sev, got[0].Severity)
				require.Equal(t, tt.pid, got[0].Location.PID)
				require.NotEmpty(t, got[0].Reason)
				require.NotEmpty(t, got[0].Title)
			}
		})
	}
	require.Contains(t, byRule(fs, findings.RuleOutbound)[0].Location.Socket, "203.0.113.9:4444")
	require.Contains(t, byRule(fs, findings.RuleAnonExec)[0].Reason, "not in the checkpoint")
	require.Equal(t, fs, findings.Analyze(cp, findings.WithMemory(noMemory{})), "deterministic")
}

func TestIndexWarningsBecomeFindings(t *testing.T) {
	fs := findings.Analyze(&forensics.Checkpoint{}, findings.WithIndexWarnings([]string{"pid 1: pagemap has pages at 0x10000-0x12000 that no VMA maps"}))
	require.Len(t, fs, 1)
	require.Equal(t, findings.RuleMemoryIndex, fs[0].Rule)
	require.Contains(t, fs[0].Reason, "0x10000-0x12000")
}

func TestContainerdArchiveFindings(t *testing.T) {
	ctx := context.Background()
	a, err := archive.Open(ctx, filepath.Join(fixtures.Dir(), "archives", "containerd-busybox.tar"), archive.DefaultLimits(), t.TempDir())
	require.NoError(t, err)
	defer a.Close()
	cp, err := criu.Decode(ctx, a)
	require.NoError(t, err)
	fs := findings.Analyze(cp)
	nx := byRule(fs, findings.RuleRootfsNewExec)
	require.Len(t, nx, 1, "not the engine's empty /etc/hosts, /etc/hostname, /etc/resolv.conf")
	require.Equal(t, "/tmp/.cache/httpd", nx[0].Location.Path)
	l := byRule(fs, findings.RuleListener)
	require.Len(t, l, 1)
	require.Equal(t, forensics.SeverityMedium, l[0].Severity, "listens on all addresses")
	require.Contains(t, l[0].Location.Socket, ":9090")
}

func TestRootfsTraversalFinding(t *testing.T) {
	cp := &forensics.Checkpoint{Rootfs: []forensics.RootfsChange{
		{Path: "/etc/cron.d/evil", Kind: forensics.RootfsAdded, Type: "file", Traversal: true},
		{Path: "/etc/ok", Kind: forensics.RootfsAdded, Type: "file"},
	}}
	var got []forensics.Finding
	for _, f := range findings.Analyze(cp) {
		if f.Rule == findings.RuleRootfsTraversal {
			got = append(got, f)
		}
	}
	require.Len(t, got, 1)
	require.Equal(t, "/etc/cron.d/evil", got[0].Location.Path)
	require.Equal(t, forensics.SeverityHigh, got[0].Severity)
}

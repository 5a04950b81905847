package diff_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/criu"
	"github.com/podsleuth/podsleuth/forensics/diff"
	"github.com/podsleuth/podsleuth/forensics/findings"
	"github.com/podsleuth/podsleuth/forensics/ioc"
	"github.com/podsleuth/podsleuth/forensics/memory"
)

// update rewrites testdata/ (`make golden` runs go test -update here).
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const fixtureDir = "../../test/fixtures"

var (
	decoded    = map[string]*forensics.Checkpoint{}
	indicators = map[string][]forensics.IOC{}
)

// decode decodes a real fixture as `podsleuth diff` does: decoder, memory index, indicators
// and findings.
func decode(t *testing.T, rel string) *forensics.Checkpoint {
	t.Helper()
	if cp, ok := decoded[rel]; ok {
		return cp
	}
	p := filepath.Join(fixtureDir, rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("fixture %s is missing (run `make fixtures`): %v", p, err)
	}
	ctx := context.Background()
	a, err := archive.Open(ctx, p, archive.DefaultLimits(), t.TempDir())
	require.NoError(t, err)
	defer a.Close()
	cp, err := criu.Decode(ctx, a)
	require.NoError(t, err)
	mem, err := memory.Open(ctx, a, cp)
	require.NoError(t, err)
	iocs, err := ioc.Extract(ctx, cp, mem, ioc.Options{})
	require.NoError(t, err)
	cp.Findings = findings.Analyze(cp, findings.WithMemory(mem))
	decoded[rel], indicators[rel] = cp, iocs
	return cp
}

// TestFullVersusT2 compares the two real dumps of the fixture process, before and after
// SIGUSR1. In between the process opened one TCP connection to its own listener from port
// 47791 (both ends are its sockets, fds 10 and 19 in full-t2.proc.txt) and spawned
// "late-child"; nothing else changed, so nothing else may be reported: the only new findings
// are the two ends of that connection, and no indicator appears or vanishes.
func TestFullVersusT2(t *testing.T) {
	a, b := decode(t, "images/full"), decode(t, "images/full-t2")
	r, err := diff.Compare(diff.Input{Checkpoint: a, IOCs: indicators["images/full"]}, diff.Input{Checkpoint: b, IOCs: indicators["images/full-t2"]})
	require.NoError(t, err)

	main := a.Roots()[0]
	require.Len(t, r.ProcessesAdded, 1)
	late := r.ProcessesAdded[0]
	require.Equal(t, "late-child", late.Comm)
	require.Equal(t, main, late.PPID)
	require.Equal(t, "alive", late.State)
	require.Contains(t, late.Cmdline, "late-child")
	require.Empty(t, r.ProcessesRemoved)
	require.Empty(t, r.ProcessesChanged, "the main process's cmdline, env, threads and creds did not change")

	require.Len(t, r.SocketsOpened, 2, "one connection: its client and its accepted end")
	ends := map[uint32]diff.SocketRef{}
	for _, s := range r.SocketsOpened {
		require.Equal(t, "inet", s.Family)
		require.Equal(t, "tcp", s.Protocol)
		require.Equal(t, "ESTABLISHED", s.State)
		require.Equal(t, "127.0.0.1", s.LocalAddr)
		require.Equal(t, "127.0.0.1", s.RemoteAddr)
		require.Equal(t, []int{main}, s.Owners)
		ends[s.LocalPort] = s
	}
	require.Contains(t, ends, uint32(47791), "client end from PORT_LATE")
	require.Equal(t, uint32(47777), ends[47791].RemotePort)
	require.Equal(t, uint32(47791), ends[47777].RemotePort, "the accepted end on the listener's port")
	require.Empty(t, r.SocketsClosed)

	require.Len(t, r.FDsAdded, 2)
	fds := []int{r.FDsAdded[0].FD, r.FDsAdded[1].FD}
	require.ElementsMatch(t, []int{10, 19}, fds, "the new connection's fds as /proc showed them")
	for _, f := range r.FDsAdded {
		require.Equal(t, main, f.PID)
		require.Equal(t, forensics.FDInet, f.Type)
	}
	require.Empty(t, r.FDsRemoved)
	require.Empty(t, r.MountsAdded)
	require.Empty(t, r.MountsRemoved)
	require.Empty(t, r.RootfsAdded)
	require.Empty(t, r.RootfsRemoved)
	require.Empty(t, r.RootfsChanged)
	// the new connection (both ends) and the late child, which renamed itself (prctl) to
	// "late-child" while running the target binary
	require.Len(t, r.FindingsNew, 3, "%+v", r.FindingsNew)
	for _, f := range r.FindingsNew {
		if f.Rule == findings.RuleCommMismatch {
			require.Equal(t, 15916, f.Location.PID)
			continue
		}
		require.Equal(t, findings.RuleLoopbackConnect, f.Rule)
		require.Equal(t, main, f.Location.PID)
		require.Contains(t, f.Location.Socket, "47791", "the finding is about the new connection")
	}
	require.Empty(t, r.FindingsResolved)
	require.Empty(t, r.IOCsNew)
	require.Empty(t, r.IOCsGone)
	require.Equal(t, 8, r.Count())

	// the other way round, the same changes are removals
	back, err := diff.Compare(diff.Input{Checkpoint: b}, diff.Input{Checkpoint: a})
	require.NoError(t, err)
	require.Len(t, back.ProcessesRemoved, 1)
	require.Len(t, back.SocketsClosed, 2)
	require.Len(t, back.FDsRemoved, 2)
	require.Len(t, back.FindingsResolved, 3)
	require.Equal(t, 8, back.Count())

	// text and JSON goldens
	var txt bytes.Buffer
	require.NoError(t, diff.WriteText(&txt, r))
	js, err := json.MarshalIndent(r, "", "  ")
	require.NoError(t, err)
	golden(t, "full-vs-t2.txt", txt.Bytes())
	golden(t, "full-vs-t2.json", append(js, '\n'))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(p, got, 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err, "missing golden: run `make golden`")
	require.Equal(t, string(want), string(got), "%s differs; review and run `make golden`", p)
}

// TestSameCheckpointHasNoChanges: every fixture compared with itself, decoded twice.
func TestSameCheckpointHasNoChanges(t *testing.T) {
	for _, rel := range []string{"images/full", "images/full-t2", "images/criu41", "images/fds", "archives/podman-crun.tar"} {
		t.Run(rel, func(t *testing.T) {
			a := decode(t, rel)
			delete(decoded, rel)
			b := decode(t, rel)
			r, err := diff.Compare(diff.Input{Checkpoint: a}, diff.Input{Checkpoint: b})
			require.NoError(t, err)
			require.True(t, r.Empty(), "%+v", r)
			var txt bytes.Buffer
			require.NoError(t, diff.WriteText(&txt, r))
			require.Contains(t, txt.String(), "no changes")
		})
	}
}

// TestSocketsMatchByIdentityNotInode: a restored or re-dumped tree gets new inodes; the same
// connection must not be reported as closed and reopened.
func TestSocketsMatchByIdentityNotInode(t *testing.T) {
	a := decode(t, "images/full")
	b := *a
	b.Sockets = make([]forensics.Socket, len(a.Sockets))
	copy(b.Sockets, a.Sockets)
	b.Processes = make([]forensics.Process, len(a.Processes))
	for i, p := range a.Processes {
		p.FDs = append([]forensics.FD(nil), p.FDs...)
		for j := range p.FDs {
			if p.FDs[j].SocketIno != 0 {
				p.FDs[j].SocketIno += 100000
				p.FDs[j].FileID += 500
			}
		}
		b.Processes[i] = p
	}
	for i := range b.Sockets {
		b.Sockets[i].Ino += 100000
		b.Sockets[i].FileID += 500
	}
	// findings name sockets by inode too ("socket:[88440] tcp ...")
	b.Findings = make([]forensics.Finding, len(a.Findings))
	renumbered := 0
	for i, f := range a.Findings {
		if strings.HasPrefix(f.Location.Socket, "socket:[") {
			f.Location.Socket = strings.Replace(f.Location.Socket, "socket:[", "socket:[9", 1)
			renumbered++
		}
		b.Findings[i] = f
	}
	require.Positive(t, renumbered, "the fixture has socket findings")
	r, err := diff.Compare(diff.Input{Checkpoint: a}, diff.Input{Checkpoint: &b})
	require.NoError(t, err)
	require.True(t, r.Empty(), "renumbered inodes are not changes: %+v", r)
}

// TestAttributeChanges covers what the fixtures do not exercise: changed environment, state
// and threads, closed fds, mounts, rootfs entries, findings and indicators.
func TestAttributeChanges(t *testing.T) {
	base := decode(t, "images/full")
	main := base.Roots()[0]
	tests := []struct {
		name  string
		edit  func(c *forensics.Checkpoint, iocs *[]forensics.IOC)
		check func(t *testing.T, r *diff.Result)
	}{
		{"environment", func(c *forensics.Checkpoint, _ *[]forensics.IOC) {
			p := c.Process(main)
			p.Environ = append(append([]string{}, p.Environ...), "LD_PRELOAD=/tmp/x.so")
		}, func(t *testing.T, r *diff.Result) {
			require.Len(t, r.ProcessesChanged, 1)
			ch := r.ProcessesChanged[0].Changes
			require.Len(t, ch, 1)
			require.Equal(t, "environ", ch[0].Field)
			require.Equal(t, []string{"LD_PRELOAD=/tmp/x.so"}, ch[0].Added)
			require.Empty(t, ch[0].Removed)
		}},
		{"state and threads", func(c *forensics.Checkpoint, _ *[]forensics.IOC) {
			p := c.Process(main)
			p.State = "stopped"
			p.Threads = p.Threads[:1]
		}, func(t *testing.T, r *diff.Result) {
			require.Len(t, r.ProcessesChanged, 1)
			fields := []string{}
			for _, c := range r.ProcessesChanged[0].Changes {
				fields = append(fields, c.Field)
			}
			require.Equal(t, []string{"state", "threads"}, fields)
		}},
		{"fd closed", func(c *forensics.Checkpoint, _ *[]forensics.IOC) {
			p := c.Process(main)
			p.FDs = p.FDs[1:]
		}, func(t *testing.T, r *diff.Result) {
			require.Len(t, r.FDsRemoved, 1)
			require.Equal(t, 0, r.FDsRemoved[0].FD)
			require.Empty(t, r.FDsAdded)
		}},
		{"mount and rootfs", func(c *forensics.Checkpoint, _ *[]forensics.IOC) {
			c.Mounts = append(append([]forensics.Mount{}, c.Mounts...), forensics.Mount{ID: 999, Mountpoint: "/mnt/host", FSType: "ext4", Source: "/dev/vda1", Root: "/"})
			c.Rootfs = []forensics.RootfsChange{{Path: "/tmp/.x/miner", Kind: forensics.RootfsAdded, Type: "file", Size: 10, Executable: true}}
		}, func(t *testing.T, r *diff.Result) {
			require.Len(t, r.MountsAdded, 1)
			require.Equal(t, "/mnt/host", r.MountsAdded[0].Mountpoint)
			require.Len(t, r.RootfsAdded, 1)
		}},
		{"finding and indicator", func(c *forensics.Checkpoint, iocs *[]forensics.IOC) {
			c.Findings = append(append([]forensics.Finding{}, c.Findings...),
				forensics.Finding{Rule: "deleted-exe", Severity: forensics.SeverityHigh, Title: "t", Location: forensics.Location{Kind: "process", PID: main}})
			*iocs = []forensics.IOC{{Type: "ipv4", Value: "203.0.113.66", SHA256: "x", Count: 1}}
		}, func(t *testing.T, r *diff.Result) {
			require.Len(t, r.FindingsNew, 1)
			require.Len(t, r.IOCsNew, 1)
			require.Empty(t, r.FindingsResolved)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := *base
			b.Processes = make([]forensics.Process, len(base.Processes))
			copy(b.Processes, base.Processes)
			var iocs []forensics.IOC
			tt.edit(&b, &iocs)
			r, err := diff.Compare(diff.Input{Checkpoint: base}, diff.Input{Checkpoint: &b, IOCs: iocs})
			require.NoError(t, err)
			tt.check(t, r)
		})
	}
}

func TestCompareNeedsTwoCheckpoints(t *testing.T) {
	_, err := diff.Compare(diff.Input{}, diff.Input{Checkpoint: &forensics.Checkpoint{}})
	require.ErrorIs(t, err, diff.ErrNoCheckpoint)
}

// TestDifferentContainersWarn: the Podman crun and runc checkpoints are two containers (two IDs,
// names fx-crun and fx-runc) of the same image; a diff of them says so first, in the result and
// the text. The same container's two dumps (full, full-t2) and the same archive twice say nothing.
func TestDifferentContainersWarn(t *testing.T) {
	crun, runc := decode(t, "archives/podman-crun.tar"), decode(t, "archives/podman-runc.tar")
	require.NotEqual(t, crun.Container.ID, runc.Container.ID)
	r, err := diff.Compare(diff.Input{Checkpoint: crun}, diff.Input{Checkpoint: runc})
	require.NoError(t, err)
	require.Len(t, r.Warnings, 1, "%v: the image is the same", r.Warnings)
	require.Contains(t, r.Warnings[0], "different containers: a is fx-crun ("+crun.Container.ID[:12]+"), b is fx-runc")
	var txt bytes.Buffer
	require.NoError(t, diff.WriteText(&txt, r))
	lines := strings.SplitN(txt.String(), "\n", 4)
	require.True(t, strings.HasPrefix(lines[2], "WARNING: different containers"), lines[2])

	r, err = diff.Compare(diff.Input{Checkpoint: decode(t, "images/full")}, diff.Input{Checkpoint: decode(t, "images/full-t2")})
	require.NoError(t, err)
	require.Empty(t, r.Warnings)
	r, err = diff.Compare(diff.Input{Checkpoint: crun}, diff.Input{Checkpoint: decode(t, "images/full")})
	require.NoError(t, err)
	require.Equal(t, []string{"only one of the two is a container checkpoint (the other is a bare CRIU image directory): they may not be of the same container"}, r.Warnings)
	r, err = diff.Compare(diff.Input{Checkpoint: decode(t, "images/full")}, diff.Input{Checkpoint: decode(t, "images/triage-miner")})
	require.NoError(t, err)
	require.Len(t, r.Warnings, 1)
	require.Contains(t, r.Warnings[0], "run different programs")
}

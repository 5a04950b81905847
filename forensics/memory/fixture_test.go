package memory_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/memory"
	fx "github.com/podsleuth/podsleuth/test/fixture"
	"github.com/podsleuth/podsleuth/test/fixtures"
	"github.com/podsleuth/podsleuth/test/testenv"
)

// fixture describes a real checkpoint of test/fixtures (facts from test/fixtures/README.md).
type fixture struct {
	path                    string
	main, child, grandchild int
	format                  string
	tcp                     bool // INET sockets were dumped (not with criu 4.1.1)
	archive                 bool // a container checkpoint archive checkpointctl can read
}

var allFixtures = []fixture{
	{path: "images/full", main: 15728, child: 15732, grandchild: 15733, format: "nr_pages", tcp: true},
	{path: "images/criu41", main: 27741, child: 27745, grandchild: 27746, format: "compat_nr_pages"},
	{path: "archives/podman-crun.tar", main: 1, child: 8, grandchild: 9, format: "nr_pages", tcp: true, archive: true},
	{path: "archives/podman-crun.tar.zst", main: 1, child: 8, grandchild: 9, format: "nr_pages", tcp: true},
	{path: "archives/podman-runc.tar", main: 1, child: 16, grandchild: 17, format: "nr_pages", tcp: true, archive: true},
}

type opened struct {
	arc *archive.Archive
	cp  *forensics.Checkpoint
	mem *memory.Memory
}

func open(t *testing.T, path string) opened {
	t.Helper()
	a, cp, m := fx.Open(t, path)
	return opened{arc: a, cp: cp, mem: m}
}

func search(t *testing.T, m *memory.Memory, s string, f memory.Filter) []memory.Hit {
	t.Helper()
	p, err := memory.Literal(s, false)
	require.NoError(t, err)
	var hits []memory.Hit
	require.NoError(t, m.Search(context.Background(), p, memory.SearchOptions{Filter: f, Chunk: 64 << 10}, func(h memory.Hit) error {
		hits = append(hits, h)
		return nil
	}))
	return hits
}

// TestPlantedMarkers: every planted string is found in the right process, region and object,
// with the README's exact count.
func TestPlantedMarkers(t *testing.T) {
	type marker struct {
		s      string
		who    string // main, child
		kind   string // memory, shmem, memfd, pipe, socket
		region string // for memory hits: VMA kind; for objects: name prefix
		perm   string
		count  int
		tcp    bool
	}
	markers := []marker{
		{s: "CRIU-FORENSIC-MARKER-7f3a9c", who: "main", kind: memory.KindMemory, region: "heap", perm: "rw-p", count: 17},
		{s: "MAIN-STACK-MARKER-a11c", who: "main", kind: memory.KindMemory, region: "stack", perm: "rw-p", count: 1},
		{s: "THREAD-STACK-MARKER-3d4e", who: "main", kind: memory.KindMemory, region: "anon", perm: "rw-p", count: 1},
		{s: "RWX-SHELLCODE-MARKER", who: "main", kind: memory.KindMemory, region: "anon", perm: "rwxp", count: 1},
		{s: "http://c2.evil.example:8443/beacon", who: "main", kind: memory.KindMemory, region: "heap", perm: "rw-p", count: 1},
		{s: "AKIAIOSFODNN7EXAMPLE", who: "main", kind: memory.KindMemory, region: "heap", perm: "rw-p", count: 1},
		{s: "CHILD-HEAP-MARKER-kw01", who: "child", kind: memory.KindMemory, region: "heap", perm: "rw-p", count: 1},
		{s: "SHMEM-MARKER-5e1f", who: "main", kind: memory.KindShmem, region: "shmem:", count: 1},
		{s: "MEMFD-PAYLOAD-MARKER-9b2e", who: "main", kind: memory.KindMemfd, region: "memfd:payload", count: 1},
		{s: "pipe-data-marker", who: "main", kind: memory.KindPipe, region: "pipe:[", count: 1},
		{s: "unix-pair-data-from-child", who: "main", kind: memory.KindSocket, region: "socket:[", count: 1},
		{s: "unix-pair-data-from-parent", who: "child", kind: memory.KindSocket, region: "socket:[", count: 1},
		{s: "unix-dgram-queued", who: "main", kind: memory.KindSocket, region: "socket:[", count: 1},
		{s: "tcp-client-to-server", who: "main", kind: memory.KindSocket, region: "socket:[", count: 1, tcp: true},
		{s: "tcp-server-to-client", who: "main", kind: memory.KindSocket, region: "socket:[", count: 1, tcp: true},
		{s: "TCP-SENDQ-DATA--", who: "main", kind: memory.KindSocket, region: "socket:[", count: 128 + 768, tcp: true},
	}
	for _, fx := range allFixtures {
		t.Run(fx.path, func(t *testing.T) {
			o := open(t, fx.path)
			for _, p := range o.mem.Procs {
				require.NoError(t, p.Err, "pid %d", p.PID)
				require.Equal(t, fx.format, p.Format, "pid %d pagemap encoding", p.PID)
			}
			for _, mk := range markers {
				if mk.tcp && !fx.tcp {
					continue
				}
				t.Run(mk.s, func(t *testing.T) {
					pid := fx.main
					if mk.who == "child" {
						pid = fx.child
					}
					hits := search(t, o.mem, mk.s, memory.Filter{})
					require.Len(t, hits, mk.count)
					for _, h := range hits {
						require.Equal(t, mk.kind, h.Kind)
						require.Equal(t, []byte(mk.s), h.Match)
						if mk.kind == memory.KindMemory {
							require.Equal(t, pid, h.PID)
							require.NotNil(t, h.VMA)
							require.Equal(t, mk.region, h.VMA.Kind)
							require.Equal(t, mk.perm, h.VMA.Prot)
							// the bytes at the reported address are the marker
							b := make([]byte, len(mk.s))
							_, err := o.mem.ReadAt(pid, h.Addr, b)
							require.NoError(t, err)
							require.Equal(t, mk.s, string(b))
						} else {
							require.True(t, strings.HasPrefix(h.Object, mk.region), h.Object)
							require.True(t, slicesContainsPID(h.Holders, pid), "holders %+v", h.Holders)
						}
					}
				})
			}
			t.Run("straddling marker found once", func(t *testing.T) {
				hits := search(t, o.mem, "CRIU-FORENSIC-MARKER-7f3a9c", memory.Filter{PIDs: []int{fx.main}, Regions: []string{"heap"}})
				n := 0
				for _, h := range hits {
					if h.Addr%memory.PageSize > memory.PageSize-uint64(len(h.Match)) {
						n++
						require.Equal(t, uint64(0xff5), h.Addr%memory.PageSize)
					}
				}
				require.Equal(t, 1, n)
			})
			t.Run("shared objects have process addresses", func(t *testing.T) {
				sh := search(t, o.mem, "SHMEM-MARKER-5e1f", memory.Filter{})[0]
				require.Equal(t, uint64(256), sh.Offset)
				mf := search(t, o.mem, "MEMFD-PAYLOAD-MARKER-9b2e", memory.Filter{})[0]
				require.Equal(t, uint64(64), mf.Offset)
				for _, h := range []memory.Hit{sh, mf} {
					require.Equal(t, fx.main, h.PID)
					require.NotZero(t, h.Addr)
					b := make([]byte, len(h.Match))
					_, err := o.mem.ReadAt(fx.main, h.Addr, b)
					require.NoError(t, err, "read the object through the process's mapping")
					require.Equal(t, h.Match, b)
				}
				elf := make([]byte, 7)
				_, err := o.mem.ReadAt(fx.main, mf.Addr-64, elf)
				require.NoError(t, err)
				require.Equal(t, []byte("\x7fELF\x02\x01\x01"), elf)
			})
			t.Run("env in every process's stack", func(t *testing.T) {
				for _, s := range []string{"FORENSIC_CASE=IR-2024-0042", "FORENSIC_SECRET=hunter2-env-marker", "DB_PASSWORD=s3cr3t-db-pass"} {
					hits := search(t, o.mem, s, memory.Filter{Regions: []string{"stack"}})
					var pids []int
					for _, h := range hits {
						pids = append(pids, h.PID)
					}
					require.ElementsMatch(t, []int{fx.main, fx.child, fx.grandchild}, pids, s)
				}
			})
			t.Run("filters", func(t *testing.T) {
				require.Len(t, search(t, o.mem, "RWX-SHELLCODE-MARKER", memory.Filter{Perm: "rwx"}), 1)
				require.Empty(t, search(t, o.mem, "CRIU-FORENSIC-MARKER-7f3a9c", memory.Filter{Perm: "x"}))
				require.Empty(t, search(t, o.mem, "CHILD-HEAP-MARKER-kw01", memory.Filter{PIDs: []int{fx.main}}))
				require.Len(t, search(t, o.mem, "pipe-data-marker", memory.Filter{Regions: []string{"pipe"}}), 1)
				require.Empty(t, search(t, o.mem, "pipe-data-marker", memory.Filter{Regions: []string{"heap"}}))
				heap := search(t, o.mem, "CRIU-FORENSIC-MARKER-7f3a9c", memory.Filter{})
				// the range bounds the bytes searched: a match must lie wholly inside it
				r := memory.Filter{AddrStart: heap[0].Addr, AddrEnd: heap[2].Addr + uint64(len(heap[2].Match))}
				require.Len(t, search(t, o.mem, "CRIU-FORENSIC-MARKER-7f3a9c", r), 3)
				r.AddrEnd--
				require.Len(t, search(t, o.mem, "CRIU-FORENSIC-MARKER-7f3a9c", r), 2)
			})
		})
	}
}

func slicesContainsPID(hs []memory.Holder, pid int) bool {
	for _, h := range hs {
		if h.PID == pid {
			return true
		}
	}
	return false
}

// TestEnvCmdlineReadBack: the environment and argument areas read through the page index are
// exactly what the processes had (README: the 5 or 10 variables, the cmdlines).
func TestEnvCmdlineReadBack(t *testing.T) {
	env := []string{"PATH=/usr/bin:/bin", "FORENSIC_CASE=IR-2024-0042", "FORENSIC_SECRET=hunter2-env-marker",
		"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "DB_PASSWORD=s3cr3t-db-pass"}
	tests := []struct {
		fx       fixture
		env      []string
		mainArgv []string
	}{
		{allFixtures[0], env, []string{"/root/.cache/podsleuth-dev/fixtures/target", "--workdir", "/tmp/podsleuth-fx", "--mode", "full"}},
		{allFixtures[1], env, []string{"/root/.cache/podsleuth-dev/fixtures/target", "--workdir", "/tmp/podsleuth-fx41", "--mode", "notcp"}},
		{allFixtures[2], nil, []string{"/target", "--workdir", "/work", "--mode", "full"}},
	}
	for _, tt := range tests {
		t.Run(tt.fx.path, func(t *testing.T) {
			o := open(t, tt.fx.path)
			for _, pid := range []int{tt.fx.main, tt.fx.child, tt.fx.grandchild} {
				p := o.cp.Process(pid)
				require.NotNil(t, p)
				// the whole environment block, NUL-separated, is in the process's stack exactly once
				block := strings.Join(p.Environ, "\x00") + "\x00"
				hits := search(t, o.mem, block, memory.Filter{PIDs: []int{pid}})
				require.Len(t, hits, 1, "pid %d env block", pid)
				require.Equal(t, "stack", hits[0].VMA.Kind)
				if tt.env != nil {
					require.Equal(t, tt.env, p.Environ)
				} else {
					require.Subset(t, p.Environ, env)
					require.Len(t, p.Environ, 10)
				}
			}
			main := o.cp.Process(tt.fx.main)
			require.Equal(t, tt.mainArgv, main.Cmdline)
			args := strings.Join(main.Cmdline, "\x00") + "\x00"
			require.Len(t, search(t, o.mem, args, memory.Filter{PIDs: []int{tt.fx.main}, Regions: []string{"stack"}}), 1)
			child := o.cp.Process(tt.fx.child)
			require.Equal(t, "[kworker/0:1]", child.Cmdline[0])
		})
	}
}

// TestSameCountsAsCheckpointctl: for the main process's private memory, podsleuth finds what
// `checkpointctl memparse --search` v1.6.0 finds on the same archive: same count, same addresses.
func TestSameCountsAsCheckpointctl(t *testing.T) {
	cc := testenv.Checkpointctl(t)
	for _, fx := range allFixtures {
		if !fx.archive {
			continue
		}
		t.Run(fx.path, func(t *testing.T) {
			o := open(t, fx.path)
			for _, s := range []string{"CRIU-FORENSIC-MARKER-7f3a9c", "MAIN-STACK-MARKER-a11c", "THREAD-STACK-MARKER-3d4e",
				"RWX-SHELLCODE-MARKER", "AKIAIOSFODNN7EXAMPLE", "FORENSIC_SECRET=hunter2-env-marker", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"} {
				out, err := exec.Command(cc, "memparse", "--search", s, "--pid", "1", filepath.Join(fixtures.Dir(), fx.path)).CombinedOutput()
				require.NoError(t, err, string(out))
				var want []string
				if lines := bytes.Split(bytes.TrimSpace(out), []byte("\n")); bytes.HasPrefix(lines[0], []byte("ADDRESS")) {
					for _, l := range lines[2:] {
						want = append(want, string(bytes.Fields(l)[0]))
					}
				}
				var got []string
				for _, h := range search(t, o.mem, s, memory.Filter{PIDs: []int{1}}) {
					if h.Kind == memory.KindMemory {
						got = append(got, fmt.Sprintf("%016x", h.Addr))
					}
				}
				require.NotEmpty(t, got, s)
				require.Equal(t, want, got, "%s: checkpointctl's hits (addresses)", s)
			}
		})
	}
}

// TestMissingPagesAreNotInvented: addresses the checkpoint does not hold are unreadable with a
// reason, and --maps-style resident counts add up to what the index holds.
func TestMissingPagesAreNotInvented(t *testing.T) {
	o := open(t, "archives/podman-crun.tar")
	p := o.mem.Proc(1)
	require.NotNil(t, p)
	var guard *forensics.VMA
	for i := range p.Maps {
		if p.Maps[i].Prot == "---p" {
			guard = &p.Maps[i]
		}
	}
	require.NotNil(t, guard, "the thread stack guard page")
	b := make([]byte, 16)
	n, err := p.ReadAt(b, guard.Start)
	require.Zero(t, n)
	require.ErrorIs(t, err, memory.ErrNotResident)
	require.Equal(t, memory.ReasonNotDumped, p.Why(guard.Start))
	o.mem.FillResident(o.cp)
	var total uint64
	for _, v := range o.cp.Process(1).Maps {
		require.LessOrEqual(t, v.ResidentBytes, v.Size())
		if !v.Shared {
			total += v.ResidentBytes
		}
	}
	lo, hi := p.Private.Bounds()
	require.Equal(t, p.Private.Resident(lo, hi), total)
}

// TestLaterCheckpoint: full-t2 is the same process after SIGUSR1 (README): a new heap marker, a
// new connection with queued data and a fourth process with the same environment.
func TestLaterCheckpoint(t *testing.T) {
	o := open(t, "images/full-t2")
	late := search(t, o.mem, "LATE-HEAP-MARKER-after-usr1", memory.Filter{})
	require.Len(t, late, 1)
	require.Equal(t, 15728, late[0].PID)
	require.Equal(t, "heap", late[0].VMA.Kind)
	tcp := search(t, o.mem, "tcp-late-connection", memory.Filter{})
	require.Len(t, tcp, 1)
	require.Equal(t, memory.KindSocket, tcp[0].Kind)
	env := search(t, o.mem, "FORENSIC_CASE=IR-2024-0042", memory.Filter{Regions: []string{"stack"}})
	require.Len(t, env, 4)
	require.Len(t, search(t, o.mem, "CRIU-FORENSIC-MARKER-7f3a9c", memory.Filter{}), 17)
	require.Empty(t, search(t, open(t, "images/full").mem, "LATE-HEAP-MARKER-after-usr1", memory.Filter{}))
}

// TestSameAddressesAsCheckpointctlContainerd: on the kubelet/containerd archive, every hit in
// PID 1's memory is at the address checkpointctl memparse --search reports.
func TestSameAddressesAsCheckpointctlContainerd(t *testing.T) {
	cc := testenv.Checkpointctl(t)
	const path = "archives/containerd-busybox.tar"
	o := open(t, path)
	for _, s := range []string{"exfil", "API_TOKEN", "10.0.0.1", "httpd"} {
		out, err := exec.Command(cc, "memparse", "--search", s, "--pid", "1", filepath.Join(fixtures.Dir(), path)).CombinedOutput()
		require.NoError(t, err, string(out))
		var want []string
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) == 3 && len(f[0]) == 16 && f[0] != "ADDRESS" {
				want = append(want, f[0])
			}
		}
		var got []string
		for _, h := range search(t, o.mem, s, memory.Filter{PIDs: []int{1}}) {
			if h.Kind == memory.KindMemory {
				got = append(got, fmt.Sprintf("%016x", h.Addr))
			}
		}
		require.NotEmpty(t, got, s)
		require.Equal(t, want, got, s)
	}
}

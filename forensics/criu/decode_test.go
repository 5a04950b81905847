package criu

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

// `make golden` runs this package's tests with -update.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixtureNames are the committed fixtures, relative to test/fixtures.
var fixtureNames = []string{
	"images/full", "images/full-t2", "images/criu41", "images/fds",
	"archives/podman-crun.tar", "archives/podman-crun.tar.gz", "archives/podman-crun.tar.zst",
	"archives/podman-runc.tar", "archives/containerd-busybox.tar",
}

func decodeFixture(t testing.TB, name string) *forensics.Checkpoint {
	t.Helper()
	p := filepath.Join(fixtures.Dir(), name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("fixture %s missing: %v (run `make fixtures`)", name, err)
	}
	a, err := archive.Open(context.Background(), p, archive.DefaultLimits(), t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	cp, err := Decode(context.Background(), a)
	require.NoError(t, err)
	return cp
}

func TestDecodeGolden(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			cp := decodeFixture(t, name)
			require.Empty(t, cp.Warnings, "a real fixture decodes without warnings")
			cp.Source.Path = name // machine independent
			got, err := json.MarshalIndent(cp, "", "  ")
			require.NoError(t, err)
			golden := filepath.Join("testdata", strings.NewReplacer("/", "_").Replace(name)+".json")
			if *update {
				require.NoError(t, os.WriteFile(golden, append(got, '\n'), 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run `make golden` to create it")
			require.Equal(t, string(bytes.TrimSpace(want)), string(got))
		})
	}
}

// env returns the value of an environment variable in a decoded environment.
func env(p *forensics.Process, key string) (string, bool) {
	for _, e := range p.Environ {
		if k, v, ok := strings.Cut(e, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

func fdByNum(p *forensics.Process, n int) *forensics.FD {
	for i := range p.FDs {
		if p.FDs[i].FD == n {
			return &p.FDs[i]
		}
	}
	return nil
}

// TestDecodeFacts checks the decoded model against the facts measured on the live processes
// (test/fixtures/README.md and <fixture>.proc.txt).
func TestDecodeFacts(t *testing.T) {
	tests := []struct {
		name           string
		main, child    int
		grand          int
		thread         int
		exe, workdir   string
		pagemap        string
		inet           bool
		container      string
		nEnv           int
		pipeDataOnFD67 bool
	}{
		{"images/full", 15728, 15732, 15733, 15731, "/root/.cache/podsleuth-dev/fixtures/target", "/tmp/podsleuth-fx", FormatNrPages, true, "", 5, true},
		{"images/criu41", 27741, 27745, 27746, 27744, "/root/.cache/podsleuth-dev/fixtures/target", "/tmp/podsleuth-fx41", FormatCompatNrPages, false, "", 5, true},
		{"archives/podman-crun.tar", 1, 8, 9, 7, "/target", "/work", FormatNrPages, true, "fx-crun", 10, true},
		{"archives/podman-crun.tar.gz", 1, 8, 9, 7, "/target", "/work", FormatNrPages, true, "fx-crun", 10, true},
		{"archives/podman-crun.tar.zst", 1, 8, 9, 7, "/target", "/work", FormatNrPages, true, "fx-crun", 10, true},
		{"archives/podman-runc.tar", 1, 16, 17, 15, "/target", "/work", FormatNrPages, true, "fx-runc", 10, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := decodeFixture(t, tt.name)
			require.Equal(t, forensics.SchemaVersion, cp.SchemaVersion)
			require.Equal(t, tt.pagemap, cp.CRIU.PagemapFormat)

			// process tree: main -> child (masquerading kworker) -> grandchild
			require.Len(t, cp.Processes, 3)
			require.Equal(t, []int{tt.main}, cp.Roots())
			main, child, grand := cp.Process(tt.main), cp.Process(tt.child), cp.Process(tt.grand)
			require.NotNil(t, main)
			require.NotNil(t, child)
			require.NotNil(t, grand)
			require.Equal(t, "target", main.Comm)
			require.Equal(t, []int{tt.main, tt.thread}, main.Threads)
			require.Equal(t, []int{tt.child}, main.Children)
			require.Equal(t, "kworker/0:1", child.Comm)
			require.Equal(t, tt.main, child.PPID)
			require.Equal(t, "grandchild", grand.Comm)
			require.Equal(t, tt.child, grand.PPID)
			for _, p := range cp.Processes {
				require.Equal(t, "alive", p.State)
				require.Equal(t, tt.exe, p.Exe)
			}

			// command lines and environment come from the argument pages
			mode := "full"
			if !tt.inet {
				mode = "notcp"
			}
			require.Equal(t, []string{tt.exe, "--workdir", tt.workdir, "--mode", mode}, main.Cmdline)
			require.Equal(t, []string{"[kworker/0:1]"}, child.Cmdline, "the child rewrote its argv")
			require.Equal(t, []string{tt.exe, "--workdir", tt.workdir, "--role", "grandchild"}, grand.Cmdline)
			for _, p := range cp.Processes {
				require.Len(t, p.Environ, tt.nEnv, "pid %d", p.PID)
				v, ok := env(&p, "FORENSIC_SECRET")
				require.True(t, ok)
				require.Equal(t, "hunter2-env-marker", v)
			}

			// files
			require.Equal(t, "memfd:payload", fdByNum(main, 3).Path)
			require.Equal(t, forensics.FDMemfd, fdByNum(main, 3).Type)
			require.EqualValues(t, 8192, fdByNum(main, 3).Size)
			data := fdByNum(main, 4)
			require.Equal(t, tt.workdir+"/target-data.txt", data.Path)
			require.EqualValues(t, 19, data.Pos)
			require.False(t, data.Deleted)
			del := fdByNum(main, 5)
			require.Equal(t, tt.workdir+"/deleted-evidence.bin", del.Path)
			require.True(t, del.Deleted, "the unlinked file is reported deleted")
			require.EqualValues(t, 25, del.Pos)
			require.Equal(t, forensics.FDPipe, fdByNum(main, 6).Type)
			require.Equal(t, fdByNum(main, 6).PipeID, fdByNum(main, 7).PipeID)
			require.Equal(t, "O_WRONLY", fdByNum(main, 7).Flags)

			// the pipe's unread data
			var pipe *forensics.Pipe
			for i := range cp.Pipes {
				if cp.Pipes[i].ID == fdByNum(main, 6).PipeID {
					pipe = &cp.Pipes[i]
				}
			}
			require.NotNil(t, pipe)
			require.NotNil(t, pipe.Buffer)
			require.Equal(t, "pipe-data-marker", pipe.Buffer.Preview)
			require.Equal(t, []int{tt.main}, pipe.Owners)

			// unix sockets
			listen := cp.Socket(fdByNum(main, 8).SocketIno)
			require.Equal(t, "unix", listen.Family)
			require.Equal(t, "LISTEN", listen.State)
			require.Equal(t, tt.workdir+"/target.sock", listen.Path)
			pair := cp.Socket(fdByNum(main, 9).SocketIno)
			peer := cp.Socket(fdByNum(child, 3).SocketIno)
			require.Equal(t, peer.Ino, pair.PeerIno)
			require.Equal(t, pair.Ino, peer.PeerIno)
			require.Equal(t, "unix-pair-data-from-child", pair.RecvQueue.Preview)
			require.Equal(t, "unix-pair-data-from-parent", peer.RecvQueue.Preview)
			require.Equal(t, []int{tt.child}, peer.Owners)
			dgram := cp.Socket(fdByNum(main, 11).SocketIno)
			require.Equal(t, "@podsleuth-dgram", dgram.Path)
			require.Equal(t, "dgram", dgram.Type)
			require.Equal(t, "unix-dgram-queued", dgram.RecvQueue.Preview)

			// memory maps: heap, stack, the RWX page, the memfd and shmem mappings
			kinds := map[string]int{}
			var rwx, memfdMap, shm bool
			for _, m := range main.Maps {
				kinds[m.Kind]++
				if m.Kind == "anon" && m.Prot == "rwxp" {
					rwx = true
					require.EqualValues(t, 4096, m.ResidentBytes)
				}
				if m.Kind == "memfd" && m.Path == "memfd:payload" && m.Prot == "r-xs" {
					memfdMap = true
					require.EqualValues(t, 4096, m.ResidentBytes, "only page 0 of the memfd is dumped")
				}
				if m.Kind == "shmem" && m.Prot == "rw-s" {
					shm = true
				}
			}
			require.Equal(t, 1, kinds["heap"])
			require.Equal(t, 1, kinds["stack"])
			require.True(t, rwx, "anonymous RWX mapping")
			require.True(t, memfdMap, "memfd mapping with its name")
			require.True(t, shm, "shared anonymous mapping")

			if tt.inet {
				want := []struct {
					fd         int
					state      string
					local      string
					lport      uint32
					rport      uint32
					recv, send int64
					family     string
					protocol   string
				}{
					{12, "LISTEN", "127.0.0.1", 47777, 0, 0, 0, "inet", "tcp"},
					{13, "ESTABLISHED", "127.0.0.1", 47790, 47777, 20, 0, "inet", "tcp"},
					{14, "ESTABLISHED", "127.0.0.1", 47777, 47790, 20, 0, "inet", "tcp"},
					{15, "ESTABLISHED", "127.0.0.1", 47792, 47777, 2048, 0, "inet", "tcp"},
					{16, "ESTABLISHED", "127.0.0.1", 47777, 47792, 0, 12288, "inet", "tcp"},
					{17, "UNCONNECTED", "127.0.0.1", 47778, 0, 0, 0, "inet", "udp"},
					{18, "LISTEN", "::1", 47779, 0, 0, 0, "inet6", "tcp"},
				}
				for _, w := range want {
					f := fdByNum(main, w.fd)
					require.NotNil(t, f, "fd %d", w.fd)
					s := cp.Socket(f.SocketIno)
					require.NotNil(t, s, "fd %d", w.fd)
					require.Equal(t, w.state, s.State, "fd %d", w.fd)
					require.Equal(t, w.family, s.Family)
					require.Equal(t, w.protocol, s.Protocol)
					require.Equal(t, w.local, s.LocalAddr)
					require.Equal(t, w.lport, s.LocalPort)
					require.Equal(t, w.rport, s.RemotePort)
					if w.recv > 0 {
						require.Equal(t, w.recv, s.RecvQueue.Size, "fd %d", w.fd)
					} else {
						require.Nil(t, s.RecvQueue, "fd %d", w.fd)
					}
					if w.send > 0 {
						require.Equal(t, w.send, s.SendQueue.Size)
						require.True(t, strings.HasPrefix(s.SendQueue.Preview, "TCP-SENDQ-DATA--"))
					}
				}
				require.Equal(t, "tcp-server-to-client", cp.Socket(fdByNum(main, 13).SocketIno).RecvQueue.Preview)
				require.Equal(t, "tcp-client-to-server", cp.Socket(fdByNum(main, 14).SocketIno).RecvQueue.Preview)
				require.EqualValues(t, 16, cp.Socket(fdByNum(main, 12).SocketIno).Backlog)
			}

			if tt.container == "" {
				require.Nil(t, cp.Container)
				require.Empty(t, cp.Rootfs)
				return
			}
			c := cp.Container
			require.Equal(t, tt.container, c.Name)
			require.Equal(t, "Podman", c.Engine)
			require.Equal(t, "localhost/podsleuth-fixture:latest", c.Image)
			require.Equal(t, "fixture-host", c.Hostname)
			require.Equal(t, strings.TrimPrefix(tt.container, "fx-"), c.Runtime)
			require.False(t, c.Created.IsZero())
			require.Positive(t, c.RootfsDiffSz)
			require.NotNil(t, cp.CRIU.Dump)
			require.Positive(t, cp.CRIU.Dump.PagesWritten)
			require.NotEmpty(t, cp.Mounts)
			var uts *forensics.Namespace
			for i := range cp.Namespaces {
				if cp.Namespaces[i].Type == "uts" {
					uts = &cp.Namespaces[i]
				}
			}
			require.NotNil(t, uts)
			require.Equal(t, "fixture-host", uts.Hostname)

			var miner, authlog *forensics.RootfsChange
			for i, r := range cp.Rootfs {
				switch r.Path {
				case "/tmp/.x/miner":
					miner = &cp.Rootfs[i]
				case "/var/log/auth.log":
					authlog = &cp.Rootfs[i]
				}
			}
			require.NotNil(t, miner)
			require.True(t, miner.Executable)
			require.Equal(t, "file", miner.Type)
			require.EqualValues(t, 785800, miner.Size)
			require.Equal(t, "-rwxr-xr-x", miner.Mode)
			require.NotNil(t, authlog)
			require.Equal(t, forensics.RootfsDeleted, authlog.Kind)
			require.True(t, slices.IsSortedFunc(cp.Rootfs, func(a, b forensics.RootfsChange) int { return strings.Compare(a.Path, b.Path) }))
		})
	}
}

func TestDecodeFullT2HasLateChild(t *testing.T) {
	cp := decodeFixture(t, "images/full-t2")
	late := cp.Process(15916)
	require.NotNil(t, late)
	require.Equal(t, "late-child", late.Comm)
	require.Equal(t, 15728, late.PPID)
	var found bool
	for _, s := range cp.Sockets {
		if s.LocalPort == 47777 && s.RemotePort == 47791 {
			found = true
			require.Equal(t, "tcp-late-connection", s.RecvQueue.Preview)
		}
	}
	require.True(t, found, "the late TCP connection")
}

func TestDecodeContainerd(t *testing.T) {
	// A real kubelet/containerd checkpoint (see test/fixtures/archives/containerd-busybox.ps.txt):
	// a busybox shell that copies busybox to /tmp/.cache/httpd and serves port 9090 with it.
	cp := decodeFixture(t, "archives/containerd-busybox.tar")
	require.NotNil(t, cp.Container)
	require.Equal(t, "containerd", cp.Container.Engine)
	require.Equal(t, "docker.io/library/busybox:1.36", cp.Container.Image)
	require.NotNil(t, cp.Container.Pod, "pod metadata from the io.kubernetes.cri.* annotations")
	require.Equal(t, "busybox", cp.Container.Pod.Name)
	require.Equal(t, "app", cp.Container.Pod.ContainerName)
	require.True(t, strings.HasPrefix(cp.Container.Pod.Namespace, "fixture-"))
	require.NotEmpty(t, cp.Container.Pod.UID)
	var httpd *forensics.Process
	for i := range cp.Processes {
		if cp.Processes[i].Comm == "httpd" {
			httpd = &cp.Processes[i]
		}
	}
	require.NotNil(t, httpd)
	require.Equal(t, 1, httpd.PPID)
	require.Equal(t, "/tmp/.cache/httpd", httpd.Exe)
	require.Equal(t, []string{"/tmp/.cache/httpd", "-f", "-p", "9090", "-h", "/tmp"}, httpd.Cmdline)
	var listen bool
	for _, s := range cp.Sockets {
		if s.LocalPort == 9090 && s.State == "LISTEN" {
			listen = true
			require.Equal(t, []int{httpd.PID}, s.Owners)
		}
	}
	require.True(t, listen, "httpd listens on 9090")
	// containerd's rootfs-diff.tar is gzip inside despite its name.
	var httpdFile bool
	for _, r := range cp.Rootfs {
		if r.Path == "/tmp/.cache/httpd" {
			httpdFile = r.Executable
		}
	}
	require.True(t, httpdFile)
}

// TestExtractedDirMatchesArchive: a container checkpoint extracted to a directory (as the
// kubelet's checkpoint dir or `tar x` leaves it) decodes to the same model as the archive.
func TestExtractedDirMatchesArchive(t *testing.T) {
	src := filepath.Join(fixtures.Dir(), "archives/podman-runc.tar")
	dir := t.TempDir()
	out, err := exec.Command("tar", "-xf", src, "-C", dir).CombinedOutput()
	require.NoError(t, err, string(out))
	fromTar := decodeFixture(t, "archives/podman-runc.tar")
	a, err := archive.Open(context.Background(), dir, archive.DefaultLimits(), t.TempDir())
	require.NoError(t, err)
	defer a.Close()
	fromDir, err := Decode(context.Background(), a)
	require.NoError(t, err)
	require.Equal(t, "dir", fromDir.Source.Format)
	fromDir.Source, fromTar.Source = forensics.Source{}, forensics.Source{}
	// A directory's file times are not evidence (any copy or checkout changes them), so only
	// the tar says when CRIU wrote the images; everything else must be identical.
	require.False(t, fromTar.CRIU.DumpedAt.IsZero(), "the tar member's mtime is the dump time")
	require.True(t, fromDir.CRIU.DumpedAt.IsZero(), "a directory has no trustworthy dump time")
	fromTar.CRIU.DumpedAt = fromDir.CRIU.DumpedAt
	fromTar.Container.Checkpointed = fromDir.Container.Checkpointed
	require.Equal(t, fromTar, fromDir)
}

// TestConcurrentDecode: one opened archive decoded from several goroutines gives the same
// model each time (the archive's readers are safe for concurrent use; go-criu's crit package,
// with its package-level caches, is not used).
func TestConcurrentDecode(t *testing.T) {
	for _, name := range []string{"archives/podman-crun.tar.zst", "images/full"} {
		t.Run(name, func(t *testing.T) {
			a, err := archive.Open(context.Background(), filepath.Join(fixtures.Dir(), name), archive.DefaultLimits(), t.TempDir())
			require.NoError(t, err)
			defer a.Close()
			want, err := Decode(context.Background(), a)
			require.NoError(t, err)
			results := make(chan *forensics.Checkpoint, 4)
			errs := make(chan error, 4)
			for range 4 {
				go func() {
					cp, err := Decode(context.Background(), a)
					errs <- err
					results <- cp
				}()
			}
			for range 4 {
				require.NoError(t, <-errs)
				require.Equal(t, want, <-results)
			}
		})
	}
}

// rchar returns the bytes this process has read through read(2)/pread(2) so far.
func rchar(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/io")
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "rchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no rchar in /proc/self/io")
	return 0
}

// TestDecodeReadsMetadataOnly: decoding reads the metadata images and the argument pages, not
// the memory. The main process's pages file of a copy of images/full is extended to a 4 GiB
// sparse file; decoding must read only a few hundred KiB all the same.
func TestDecodeReadsMetadataOnly(t *testing.T) {
	src := filepath.Join(fixtures.Dir(), "images/full")
	dir := t.TempDir()
	ents, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600))
	}
	for _, p := range []string{"pages-3.img", "pages-4.img"} {
		require.NoError(t, os.Truncate(filepath.Join(dir, p), 4<<30))
	}
	a, err := archive.Open(context.Background(), dir, archive.DefaultLimits(), t.TempDir())
	require.NoError(t, err)
	defer a.Close()
	before := rchar(t)
	cp, err := Decode(context.Background(), a)
	read := rchar(t) - before
	require.NoError(t, err)
	require.Len(t, cp.Processes, 3)
	require.Equal(t, "hunter2-env-marker", func() string { v, _ := env(&cp.Processes[0], "FORENSIC_SECRET"); return v }())
	require.Positive(t, read, "rchar counts this process's reads")
	require.Less(t, read, int64(1<<20), "bytes read while decoding 8 GiB of page files")
}

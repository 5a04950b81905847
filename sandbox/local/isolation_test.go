package local

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/sandbox"
	"github.com/podsleuth/podsleuth/test/fixtures"
	"github.com/podsleuth/podsleuth/test/fixtures/hostilespec"
	"github.com/podsleuth/podsleuth/test/testenv"
)

// statusField returns one field of /proc/PID/status.
func statusField(t *testing.T, pid int, key string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in /proc/%d/status", key, pid)
	return ""
}

// requireAllowListCreds checks, in /proc of every restored task, what SandboxImages promises:
// capabilities (effective, permitted, bounding, ambient) within AllowedCaps, no_new_privs and
// a seccomp filter.
func requireAllowListCreds(t *testing.T, pids []int) {
	t.Helper()
	require.NotEmpty(t, pids)
	allowed := allowedMask()
	for _, pid := range pids {
		for _, k := range []string{"CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh"} {
			v, err := strconv.ParseUint(statusField(t, pid, k), 16, 64)
			require.NoError(t, err)
			require.Zero(t, v&^allowed, "pid %d %s %x has capabilities beyond the allow-list %x", pid, k, v, allowed)
		}
		bnd, _ := strconv.ParseUint(statusField(t, pid, "CapBnd"), 16, 64)
		require.Zero(t, bnd&(1<<21|1<<16), "pid %d: no SYS_ADMIN, no SYS_MODULE in the bounding set", pid)
		require.Equal(t, "1", statusField(t, pid, "NoNewPrivs"), "pid %d", pid)
		require.Equal(t, "2", statusField(t, pid, "Seccomp"), "pid %d: seccomp filter mode", pid)
	}
}

// mountInfo is one line of /proc/PID/mountinfo.
type mountInfo struct{ root, point, opts, fstype, source, super string }

func mountsOf(t *testing.T, pid int) []mountInfo {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	require.NoError(t, err)
	var out []mountInfo
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		require.True(t, ok, l)
		f, g := strings.Fields(pre), strings.Fields(post)
		require.GreaterOrEqual(t, len(f), 6)
		require.GreaterOrEqual(t, len(g), 3)
		out = append(out, mountInfo{root: f[3], point: f[4], opts: f[5], fstype: g[0], source: g[1], super: g[2]})
	}
	return out
}

// requireNoHostWrite checks that writes from inside the sandbox reach nothing of the host: a
// file written (as root, through nsenter) into every directory of the sandbox's view is not in
// the host's.
func requireNoHostWrite(t *testing.T, l *Local, id string, dirs ...string) {
	t.Helper()
	name := "podsleuth-isolation-probe-" + id
	var script strings.Builder
	for _, d := range dirs {
		fmt.Fprintf(&script, "echo x > %s 2>/dev/null; ", shq(filepath.Join(d, name)))
	}
	argv, err := l.EnterCommand(context.Background(), id, []string{"/bin/sh", "-c", script.String() + "true"})
	require.NoError(t, err)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, d := range dirs {
		_, err := os.Lstat(filepath.Join(d, name))
		require.ErrorIs(t, err, os.ErrNotExist, "a write inside the sandbox reached the host's %s", d)
	}
}

// requireOwnProcesses checks that the sandbox's /proc shows only the sandbox's processes.
func requireOwnProcesses(t *testing.T, pid int, pidns string) {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/root/proc", pid))
	require.NoError(t, err)
	n := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			n++
		}
	}
	require.Equal(t, len(pidsInNS(pidns)), n, "the sandbox's /proc lists exactly its own processes")
	host := 0
	hents, _ := os.ReadDir("/proc")
	for _, e := range hents {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			host++
		}
	}
	require.Less(t, n, host, "host processes are not visible")
}

// TestRestoreImagesIsolation restores the bare fixture (a root process dumped on the host:
// every capability, no seccomp) and checks the allow-list in /proc of the restored tasks, the
// private root and that nothing written inside reaches the host.
func TestRestoreImagesIsolation(t *testing.T) {
	l := newTestLocal(t)
	img, files, _ := fixtureImages(t)
	ctx := context.Background()
	info, err := l.Restore(ctx, sandbox.Request{Source: img, Images: img, Files: files})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Destroy(ctx, info.ID) })
	ls, err := loadLocal(info.Dir)
	require.NoError(t, err)
	requireAllowListCreds(t, l.restored(info, ls))
	t.Run("private root, host file systems read-only", func(t *testing.T) {
		ms := mountsOf(t, info.RootPID)
		require.Equal(t, "/", ms[0].point)
		require.Equal(t, "tmpfs", ms[0].fstype)
		require.Equal(t, "podsleuth-root-"+info.ID, ms[0].source)
		for _, m := range ms {
			switch m.fstype {
			case "tmpfs", "proc", "sysfs", "devpts", "overlay", "devtmpfs":
				if m.fstype == "overlay" {
					require.Contains(t, m.super, "upperdir=", m.point)
				}
			default: // the host's own file systems: bound read-only on purpose only
				require.True(t, strings.HasPrefix(m.opts, "ro"), "%s (%s %s) is writable", m.point, m.fstype, m.source)
			}
			require.False(t, strings.HasPrefix(m.point, stagingDir), "restore-only mount %s left", m.point)
		}
		_, err := os.Stat(fmt.Sprintf("/proc/%d/root/etc/shadow", info.RootPID))
		require.ErrorIs(t, err, os.ErrNotExist, "the host's /etc is not visible")
	})
	t.Run("host processes invisible", func(t *testing.T) { requireOwnProcesses(t, info.RootPID, ls.PIDNS) })
	t.Run("writes stay inside", func(t *testing.T) {
		requireNoHostWrite(t, l, info.ID, "/", "/tmp", "/etc", "/root", "/usr", "/usr/bin", "/var/tmp")
	})
}

// TestRestoreHostileSpecLocal restores the real Podman archive whose spec.dump asks for every
// privilege (test/fixtures/hostilespec): none of it reaches the restored container.
func TestRestoreHostileSpecLocal(t *testing.T) {
	l := newTestLocal(t)
	l.cfg.Runtime = testenv.ClusterTool(t, "runc")
	rootfs := fixtureRootfs(t)
	tarPath := filepath.Join(t.TempDir(), "podman-runc-hostile-spec.tar")
	require.NoError(t, hostilespec.Make(filepath.Join(fixtures.Dir(), "archives", "podman-runc.tar"), tarPath))
	bundle := unpackPath(t, tarPath)
	ctx := context.Background()
	corePattern, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
	info, err := l.Restore(ctx, sandbox.Request{Source: tarPath, Bundle: bundle, Images: filepath.Join(bundle, "checkpoint"), Rootfs: rootfs})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Destroy(ctx, info.ID) })
	t.Logf("warnings: %v", info.Warnings)
	ls, err := loadLocal(info.Dir)
	require.NoError(t, err)
	requireAllowListCreds(t, l.restored(info, ls))
	for _, ns := range []string{"pid", "mnt", "net", "ipc", "uts"} {
		require.NotEqual(t, nsInode(1, ns), nsInode(info.RootPID, ns), "not the host's %s namespace", ns)
	}
	for _, m := range mountsOf(t, info.RootPID) {
		require.NotContains(t, []string{"/host", "/hostroot", "/hostetc"}, m.point, "the spec's host mount %s (%s %s) was made", m.point, m.fstype, m.source)
		require.NotEqual(t, "ext4", m.fstype, "a host block device is mounted at %s", m.point)
		switch m.fstype {
		case "tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2", "devtmpfs":
			continue
		}
		// anything of the host's disks: only the rebuilt rootfs and the private stand-ins,
		// all in the sandbox's state directory
		require.True(t, strings.HasPrefix(m.root, info.Dir), "%s (%s %s) comes from the host's %s", m.point, m.fstype, m.source, m.root)
	}
	for _, dev := range []string{"vda", "mem"} {
		_, err := os.Stat(fmt.Sprintf("/proc/%d/root/dev/%s", info.RootPID, dev))
		require.ErrorIs(t, err, os.ErrNotExist, "/dev/%s in the container", dev)
	}
	for _, p := range []string{"/podsleuth-hook-ran", filepath.Join(info.Dir, "rootfs", "podsleuth-hook-ran")} {
		_, err := os.Stat(p)
		require.ErrorIs(t, err, os.ErrNotExist, "the spec's hook ran")
	}
	after, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
	require.Equal(t, string(corePattern), string(after), "the spec's sysctl was not applied")
	// the masked paths of the restored container (from the checkpoint's mount tree)
	masked := map[string]bool{}
	for _, m := range mountsOf(t, info.RootPID) {
		masked[m.point] = true
	}
	require.True(t, masked["/proc/sys"] || masked["/proc/kcore"] || masked["/proc/keys"], "masked/read-only /proc paths present")
	requireOwnProcesses(t, info.RootPID, nsInode(info.RootPID, "pid"))
}

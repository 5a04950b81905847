package local

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	criucore "github.com/checkpoint-restore/go-criu/v8/crit/images/criu-core"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/seccomp"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

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
	for _, k := range []string{"CapEff", "CapBnd", "NoNewPrivs", "Seccomp", "Seccomp_filters"} {
		t.Logf("restored container pid %d %s: %s", info.RootPID, k, statusField(t, info.RootPID, k))
	}
	for _, ns := range []string{"pid", "mnt", "net", "ipc", "uts"} {
		require.NotEqual(t, nsInode(1, ns), nsInode(info.RootPID, ns), "not the host's %s namespace", ns)
	}
	for _, m := range mountsOf(t, info.RootPID) {
		// /hostetc (a bind of /etc in the spec) may exist: as an empty private stand-in
		require.NotContains(t, []string{"/host", "/hostroot"}, m.point, "the spec's host mount %s (%s %s) was made", m.point, m.fstype, m.source)
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

// TestRewriteSpecHostile checks config.json built from the hostile spec.dump: nothing the
// archive asked for is in it.
func TestRewriteSpecHostile(t *testing.T) {
	tarPath := filepath.Join(t.TempDir(), "hostile.tar")
	require.NoError(t, hostilespec.Make(filepath.Join(fixtures.Dir(), "archives", "podman-runc.tar"), tarPath))
	bundle := unpackPath(t, tarPath)
	dir := t.TempDir()
	info := &sandbox.Info{ID: "0123456789", InitPID: 4242}
	b, err := rewriteSpec(bundle, dir, info, &localState{}, true)
	require.NoError(t, err)
	var s struct {
		Process struct {
			Capabilities    map[string][]string
			NoNewPrivileges bool
			ApparmorProfile *string
			SelinuxLabel    *string
			OomScoreAdj     *int
		}
		Hooks  map[string]any
		Mounts []struct {
			Destination, Type, Source string
			Options                   []string
		}
		Linux struct {
			Devices       []any
			Namespaces    []struct{ Type, Path string }
			UIDMappings   []any `json:"uidMappings"`
			Sysctl        map[string]string
			MaskedPaths   []string
			ReadonlyPaths []string
			Seccomp       struct {
				DefaultAction string
				Syscalls      []struct{ Names []string }
			}
			Resources struct{ Devices []map[string]any }
		}
	}
	require.NoError(t, json.Unmarshal(b, &s))
	var want []string
	for _, c := range sortedCaps() {
		want = append(want, capName[c])
	}
	for _, set := range []string{"bounding", "effective", "permitted"} {
		require.Equal(t, want, s.Process.Capabilities[set], set)
	}
	require.Empty(t, s.Process.Capabilities["inheritable"])
	require.Empty(t, s.Process.Capabilities["ambient"])
	require.True(t, s.Process.NoNewPrivileges)
	require.Nil(t, s.Process.ApparmorProfile)
	require.Nil(t, s.Process.SelinuxLabel)
	require.Nil(t, s.Process.OomScoreAdj)
	require.Nil(t, s.Hooks)
	require.Empty(t, s.Linux.Devices)
	require.Empty(t, s.Linux.UIDMappings)
	require.Empty(t, s.Linux.Sysctl)
	require.Equal(t, []map[string]any{{"allow": false, "access": "rwm"}}, s.Linux.Resources.Devices)
	require.Equal(t, defaultMaskedPaths, s.Linux.MaskedPaths)
	require.Equal(t, defaultReadonlyPaths, s.Linux.ReadonlyPaths)
	require.NotEmpty(t, s.Linux.Seccomp.Syscalls)
	require.Contains(t, s.Linux.Seccomp.Syscalls[0].Names, "mount")
	for _, n := range s.Linux.Namespaces {
		require.NotEqual(t, "user", n.Type)
		require.Empty(t, n.Path, "%s joined by path", n.Type)
	}
	for _, m := range s.Mounts {
		require.NotContains(t, []string{"ext4", "overlay"}, m.Type, m.Destination)
		if m.Type == "bind" {
			require.True(t, strings.HasPrefix(m.Source, filepath.Join(dir, "files")), "%s from %s", m.Destination, m.Source)
			require.Contains(t, m.Options, "nosuid")
		}
	}
	require.Len(t, info.Warnings, 3, "%v", info.Warnings) // the user namespace and the two host mounts
}

// TestSanitizeRootfs: setuid/setgid bits and foreign owners are cleared in the rootfs copy,
// except on the paths the process held (CRIU checks their recorded modes).
func TestSanitizeRootfs(t *testing.T) {
	testenv.RequireRoot(t)
	r := t.TempDir()
	for _, f := range []string{"bin/su", "bin/held", "home/app/data"} {
		require.NoError(t, os.MkdirAll(filepath.Join(r, filepath.Dir(f)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(r, f), []byte("x"), 0o755))
	}
	require.NoError(t, os.Chmod(filepath.Join(r, "bin/su"), os.FileMode(0o755)|os.ModeSetuid|os.ModeSetgid))
	require.NoError(t, os.Chmod(filepath.Join(r, "bin/held"), os.FileMode(0o755)|os.ModeSetuid))
	require.NoError(t, os.Lchown(filepath.Join(r, "home/app/data"), 1000, 1000))
	require.NoError(t, os.Lchown(filepath.Join(r, "home/app"), 1000, 1000))
	require.NoError(t, os.Symlink("/etc/shadow", filepath.Join(r, "home/app/link")))
	require.NoError(t, os.Lchown(filepath.Join(r, "home/app/link"), 1000, 1000))
	n, err := sanitizeRootfs(r, []HeldPath{{Path: "/bin/held"}})
	require.NoError(t, err)
	require.Equal(t, sanitized{setid: 1, owners: 3}, n)
	st, err := os.Stat(filepath.Join(r, "bin/su"))
	require.NoError(t, err)
	require.Zero(t, st.Mode()&(os.ModeSetuid|os.ModeSetgid))
	st, err = os.Stat(filepath.Join(r, "bin/held"))
	require.NoError(t, err)
	require.NotZero(t, st.Mode()&os.ModeSetuid, "held path keeps its recorded mode")
	for _, f := range []string{"home/app", "home/app/data", "home/app/link"} {
		fi, err := os.Lstat(filepath.Join(r, f))
		require.NoError(t, err)
		require.Zero(t, fi.Sys().(*syscall.Stat_t).Uid, f)
	}
	_, err = os.Stat("/etc/shadow")
	require.NoError(t, err, "the symlink was not followed")
}

// TestSandboxImages checks the rewritten images of both real dumps: the host root process
// (every capability, no filter) and the Podman container (Podman's capabilities and seccomp
// filter): capabilities clamped, no_new_privs, the sandbox's filter on top of the task's own,
// and every other image the original's bytes.
func TestSandboxImages(t *testing.T) {
	for _, src := range []string{filepath.Join(fixtures.Dir(), "images", "full"), filepath.Join(unpackFixture(t, "podman-runc.tar"), "checkpoint")} {
		t.Run(filepath.Base(filepath.Dir(src))+"/"+filepath.Base(src), func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "images")
			require.NoError(t, SandboxImages(src, dst, ""))
			orig, err := readImage(filepath.Join(src, "seccomp.img"), &seccomp.SeccompEntry{})
			require.NoError(t, err)
			nOrig := 0
			if len(orig.Entries) > 0 {
				nOrig = len(orig.Entries[0].Message.(*seccomp.SeccompEntry).GetSeccompFilters())
			}
			sc, err := readImage(filepath.Join(dst, "seccomp.img"), &seccomp.SeccompEntry{})
			require.NoError(t, err)
			filters := sc.Entries[0].Message.(*seccomp.SeccompEntry).GetSeccompFilters()
			ours, err := seccompFilter()
			require.NoError(t, err)
			cores, _ := filepath.Glob(filepath.Join(src, "core-*.img"))
			require.NotEmpty(t, cores)
			for _, c := range cores {
				before, err := readImage(c, &criucore.CoreEntry{})
				require.NoError(t, err)
				after, err := readImage(filepath.Join(dst, filepath.Base(c)), &criucore.CoreEntry{})
				require.NoError(t, err)
				bt := before.Entries[0].Message.(*criucore.CoreEntry).GetThreadCore()
				tc := after.Entries[0].Message.(*criucore.CoreEntry).GetThreadCore()
				cr := tc.GetCreds()
				for _, set := range [][]uint32{cr.CapEff, cr.CapPrm, cr.CapBnd, cr.CapInh, cr.CapAmb} {
					for i, w := range set {
						require.Zero(t, uint64(w)<<(32*i)&^allowedMask(), "%s: capability beyond the allow-list", c)
					}
				}
				require.Equal(t, uint32(1), cr.GetNoNewPrivs())
				require.Equal(t, bt.GetCreds().GetUid(), cr.GetUid(), "identity kept")
				require.Equal(t, criucore.SeccompMode_filter, tc.GetSeccompMode())
				f := filters[tc.GetSeccompFilter()]
				require.Equal(t, ours, f.GetFilter(), "the task's last filter is the sandbox's")
				if bt.GetSeccompMode() == criucore.SeccompMode_filter {
					require.Equal(t, bt.GetSeccompFilter(), f.GetPrev(), "stacked on the task's own filter")
				} else {
					require.Nil(t, f.Prev)
				}
			}
			require.Greater(t, len(filters), nOrig)
			for i := 0; i < nOrig; i++ {
				require.True(t, proto.Equal(orig.Entries[0].Message.(*seccomp.SeccompEntry).GetSeccompFilters()[i], filters[i]), "the dump's filter %d kept", i)
			}
			ents, err := os.ReadDir(src)
			require.NoError(t, err)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), "core-") || e.Name() == "seccomp.img" {
					continue
				}
				a, err := os.ReadFile(filepath.Join(src, e.Name()))
				require.NoError(t, err)
				b, err := os.ReadFile(filepath.Join(dst, e.Name()))
				require.NoError(t, err)
				require.Equal(t, a, b, e.Name())
			}
		})
	}
}

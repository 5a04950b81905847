package local

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/sandbox"
	"github.com/podsleuth/podsleuth/test/fixtures"
	"github.com/podsleuth/podsleuth/test/testenv"
)

// fixtureRootfs is the base rootfs the Podman fixtures ran on (testenv.PodmanFixtureRootfs).
func fixtureRootfs(t *testing.T) string {
	t.Helper()
	return testenv.PodmanFixtureRootfs(t, testenv.ClusterTool(t, "busybox"))
}

func unpackFixture(t *testing.T, name string) string {
	t.Helper()
	return unpackPath(t, filepath.Join(fixtures.Dir(), "archives", name))
}

func unpackPath(t *testing.T, path string) string {
	t.Helper()
	ctx := context.Background()
	a, err := archive.Open(ctx, path, archive.DefaultLimits(), t.TempDir())
	require.NoError(t, err)
	defer a.Close()
	dir := t.TempDir()
	require.NoError(t, sandbox.Unpack(ctx, a, dir))
	return dir
}

func TestRestoreContainerArchiveLocal(t *testing.T) {
	l := newTestLocal(t)
	testenv.Tool(t, "nft")
	l.cfg.Runtime = testenv.ClusterTool(t, "runc")
	rootfs := fixtureRootfs(t)
	for _, name := range []string{"podman-runc.tar"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			bundle := unpackFixture(t, name)
			info, err := l.Restore(ctx, sandbox.Request{Source: name, Bundle: bundle, Images: filepath.Join(bundle, "checkpoint"), Rootfs: rootfs, Sinkhole: true})
			require.NoError(t, err)
			t.Cleanup(func() { _ = l.Destroy(ctx, info.ID) })
			t.Logf("restored %s in %.3f s, root pid %d, warnings %v", name, info.RestoreSeconds, info.RootPID, info.Warnings)
			require.Equal(t, "stopped", info.State)
			for _, ns := range []string{"net", "pid", "mnt", "uts", "ipc"} {
				require.NotEqual(t, nsInode(os.Getpid(), ns), nsInode(info.RootPID, ns), ns)
			}
			st, err := readStatus(info.RootPID)
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(st.State, "T"), st.State)
			require.Equal(t, 1, st.NSpid[len(st.NSpid)-1], "the container's PID 1")
			env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", info.RootPID))
			require.NoError(t, err)
			require.Contains(t, string(env), "FORENSIC_SECRET=hunter2-env-marker")
			require.True(t, memContains(t, info.RootPID, "CRIU-FORENSIC-MARKER-7f3a9c"))
			require.True(t, tcpListeners(t, fmt.Sprintf("/proc/%d/net/tcp", info.RootPID))[47777])
			// rootfs rebuilt: the dropped binary from rootfs-diff.tar is there, the deleted log is not
			_, err = os.Stat(fmt.Sprintf("/proc/%d/root/tmp/.x/miner", info.RootPID))
			require.NoError(t, err)
			_, err = os.Stat(fmt.Sprintf("/proc/%d/root/var/log/auth.log", info.RootPID))
			require.ErrorIs(t, err, os.ErrNotExist)
			links, err := netLinks(ctx, info.RootPID)
			require.NoError(t, err)
			require.ElementsMatch(t, []string{"lo", sandboxIf}, links)

			ls, err := loadLocal(info.Dir)
			require.NoError(t, err)
			require.NoError(t, l.Destroy(ctx, info.ID))
			require.Eventually(t, func() bool { return gone(info.RootPID) }, 5*time.Second, 20*time.Millisecond)
			_, err = os.Stat(info.Dir)
			require.ErrorIs(t, err, os.ErrNotExist)
			out, _ := exec.Command(l.cfg.Runtime, "--root", ls.RuncRoot, "list").CombinedOutput()
			require.NotContains(t, string(out), ls.ContainerID)
			left, _ := filepath.Glob("/sys/fs/cgroup/*" + ls.CgroupPath)
			require.Empty(t, left, "cgroups removed")
		})
	}
}

// gone reports whether pid has exited (a zombie waiting for its reaper counts as gone).
func gone(pid int) bool {
	st, err := readStatus(pid)
	return err != nil || strings.HasPrefix(st.State, "Z")
}

// TestRestoreKubeletArchiveIntoQuarantinedNetns restores the real kubelet/containerd archive
// (its spec joined the pod's netns by path) into another process's network namespace, as the
// cluster backend's node helper does: the netns gets the quarantine rules first.
func TestRestoreKubeletArchiveIntoQuarantinedNetns(t *testing.T) {
	l := newTestLocal(t)
	testenv.Tool(t, "nft")
	l.cfg.Runtime = testenv.ClusterTool(t, "runc")
	// the exact busybox the fixture ran: Debian bookworm's busybox-static 1.35 (test/setup/k8s.sh)
	bb := filepath.Join(os.Getenv("PODSLEUTH_K8S_BIN"), "busybox-bookworm")
	if _, err := os.Stat(bb); err != nil {
		testenv.Missing(t, "the fixture's busybox "+bb, "run test/setup/k8s.sh (make setup)")
	}
	// the busybox image the fixture was taken with: busybox-static and a symlink per applet
	rootfs := testenv.BusyboxRootfs(t, bb)
	// the placeholder: a process in a network namespace of its own, loopback up
	ph := exec.Command("unshare", "--net", "--", "sh", "-c", "ip link set lo up; exec sleep infinity")
	require.NoError(t, ph.Start())
	t.Cleanup(func() { _ = ph.Process.Kill(); _ = ph.Wait() })
	require.Eventually(t, func() bool { return nsInode(ph.Process.Pid, "net") != nsInode(os.Getpid(), "net") }, 5*time.Second, 10*time.Millisecond)

	ctx := context.Background()
	bundle := unpackFixture(t, "containerd-busybox.tar")
	info, err := l.Restore(ctx, sandbox.Request{Source: "containerd-busybox.tar", Bundle: bundle, Images: filepath.Join(bundle, "checkpoint"),
		Rootfs: rootfs, JoinNetPID: ph.Process.Pid, Run: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Destroy(ctx, info.ID) })
	require.Equal(t, nsInode(ph.Process.Pid, "net"), nsInode(info.RootPID, "net"), "restored into the placeholder's netns")
	require.True(t, tcpListeners(t, fmt.Sprintf("/proc/%d/net/tcp6", info.RootPID))[9090] || tcpListeners(t, fmt.Sprintf("/proc/%d/net/tcp", info.RootPID))[9090], "httpd listener restored")
	out, err := exec.Command("nsenter", "-t", strconv.Itoa(ph.Process.Pid), "-n", "nft", "list", "table", "inet", "podsleuth_quarantine").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "policy drop")
	// the dropped file came back from rootfs-diff.tar (gzip despite its name)
	_, err = os.Stat(fmt.Sprintf("/proc/%d/root/tmp/.cache/httpd", info.RootPID))
	require.NoError(t, err)
	require.NoError(t, l.Destroy(ctx, info.ID))
	require.True(t, alive(ph.Process.Pid, 0), "the placeholder is not podsleuth's to kill")
	require.Eventually(t, func() bool { return gone(info.RootPID) }, 5*time.Second, 20*time.Millisecond)
}

// TestFailedRestoreLeavesNothing: a restore that fails after the namespace holder and
// part of the rootfs were made (the base rootfs lacks the executable the process had mapped)
// unwinds all of it.
func TestFailedRestoreLeavesNothing(t *testing.T) {
	l := newTestLocal(t)
	testenv.Tool(t, "nft")
	l.cfg.Runtime = testenv.ClusterTool(t, "runc")
	ctx := context.Background()
	bundle := unpackFixture(t, "podman-runc.tar")
	empty := t.TempDir()
	before := childrenNamed(t, "unshare")
	_, err := l.Restore(ctx, sandbox.Request{Source: "x", Bundle: bundle, Images: filepath.Join(bundle, "checkpoint"), Rootfs: empty, Sinkhole: true})
	require.ErrorIs(t, err, sandbox.ErrPreflight)
	require.ErrorContains(t, err, "/target")
	ents, _ := os.ReadDir(l.cfg.StateDir)
	require.Empty(t, ents, "no sandbox directory left")
	require.Eventually(t, func() bool { return len(childrenNamed(t, "unshare")) == len(before) }, 5*time.Second, 20*time.Millisecond, "holder gone")
}

// childrenNamed lists the live (non-zombie) children of this process with comm name.
func childrenNamed(t *testing.T, name string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStatus(pid)
		if err == nil && st.PPid == os.Getpid() && st.Name == name && !strings.HasPrefix(st.State, "Z") {
			out = append(out, pid)
		}
	}
	return out
}

// TestRewriteSpec checks the OCI spec given to runc for both real archives: no host path
// reaches the copy, no hooks or devices, the network joined only when it was a pod's.
func TestRewriteSpec(t *testing.T) {
	tests := []struct {
		archive string
		netPath bool
	}{
		{"podman-runc.tar", false},       // Podman: --empty-ns network, CRIU creates it
		{"containerd-busybox.tar", true}, // kubelet: the pod's netns, joined by path
	}
	for _, tt := range tests {
		t.Run(tt.archive, func(t *testing.T) {
			bundle := unpackFixture(t, tt.archive)
			dir := t.TempDir()
			info := &sandbox.Info{ID: "0123456789", InitPID: 4242}
			b, err := rewriteSpec(bundle, dir, info, &localState{}, true)
			require.NoError(t, err)
			var s struct {
				Root   struct{ Path string }
				Hooks  map[string]any
				Mounts []struct {
					Destination, Type, Source string
					Options                   []string
				}
				Annotations map[string]string
				Linux       struct {
					CgroupsPath string
					Devices     []any
					Namespaces  []struct{ Type, Path string }
					Resources   struct{ Devices []map[string]any }
				}
			}
			require.NoError(t, json.Unmarshal(b, &s))
			require.Equal(t, filepath.Join(dir, "rootfs"), s.Root.Path)
			require.Nil(t, s.Hooks)
			require.Empty(t, s.Linux.Devices)
			require.Equal(t, []map[string]any{{"allow": false, "access": "rwm"}}, s.Linux.Resources.Devices)
			require.Equal(t, "/podsleuth-sandbox/0123456789", s.Linux.CgroupsPath)
			for _, m := range s.Mounts {
				if m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind") {
					require.True(t, strings.HasPrefix(m.Source, filepath.Join(dir, "files")), "%s from %s", m.Destination, m.Source)
				}
			}
			for _, n := range s.Linux.Namespaces {
				if n.Type == "network" && tt.netPath {
					require.Equal(t, "/proc/4242/ns/net", n.Path)
				} else {
					require.Empty(t, n.Path, n.Type)
				}
			}
			conf, err := os.ReadFile(s.Annotations["org.criu.config"])
			require.NoError(t, err)
			require.Contains(t, string(conf), "leave-stopped")
			require.Contains(t, string(conf), "network-lock skip")
		})
	}
}

package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/podsleuth/podsleuth/sandbox"
)

// Container checkpoint archives (CRI-O, Podman, containerd via the kubelet) are restored with
// the OCI runtime's `runc restore`: it rebuilds the container's mount namespace from spec.dump
// (CRIU needs every external mount mapped) and drives CRIU through its RPC. podsleuth rewrites
// spec.dump first so that nothing of the host reaches the copy.

func (l *Local) runtime() (string, error) {
	name := l.cfg.Runtime
	if name == "" {
		name = "runc"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: the OCI runtime %s (runc) was not found: install runc or set sandbox.runtime (PODSLEUTH_SANDBOX_RUNTIME)", sandbox.ErrPreflight, name)
	}
	return p, nil
}

func (l *Local) preflightContainer(ctx context.Context, r sandbox.Request, p *prepared) error {
	var err error
	if p.runtime, err = l.runtime(); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(r.Bundle, "spec.dump")); err != nil {
		return fmt.Errorf("%w: the archive has no spec.dump (the container's OCI spec): it cannot be restored as a container", sandbox.ErrPreflight)
	}
	if r.Rootfs == "" {
		return fmt.Errorf("%w: a container checkpoint holds only the changes to the container's root filesystem (rootfs-diff.tar); pass the base image's root filesystem with --rootfs DIR|TAR (e.g. from `ctr image export`/`podman image save`, or the image layer tar)", sandbox.ErrPreflight)
	}
	if _, err := os.Stat(r.Rootfs); err != nil {
		return fmt.Errorf("%w: --rootfs %s: %v", sandbox.ErrPreflight, r.Rootfs, err)
	}
	if p.held, err = HeldPaths(r.Images); err != nil {
		return fmt.Errorf("%w: %v", sandbox.ErrPreflight, err)
	}
	return nil
}

// restoreContainer rebuilds the root filesystem, rewrites the spec and runs `runc restore`.
func (l *Local) restoreContainer(ctx context.Context, r sandbox.Request, p *prepared, info *sandbox.Info, ls *localState, undo *sandbox.Cleanup) error {
	dir := info.Dir
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return err
	}
	if err := baseRootfs(ctx, r.Rootfs, rootfs); err != nil {
		return fmt.Errorf("%w: base rootfs %s: %v", sandbox.ErrRestore, r.Rootfs, err)
	}
	if err := applyRootfsDiff(r.Bundle, rootfs); err != nil {
		return fmt.Errorf("%w: %v", sandbox.ErrRestore, err)
	}
	// setuid/setgid bits and foreign owners from the archive do not reach the copy
	if n, err := sanitizeRootfs(rootfs, p.held); err != nil {
		return fmt.Errorf("%w: %v", sandbox.ErrRestore, err)
	} else if n.setid+n.owners > 0 {
		info.Warnings = append(info.Warnings, fmt.Sprintf("rootfs: setuid/setgid cleared on %d files, %d foreign owners reset to root (held paths keep theirs: CRIU checks them)", n.setid, n.owners))
	}
	// CRIU checks the mode of every path it reopens (criu/files-reg.c): give the held paths of
	// the private rootfs the modes they had (e.g. an image's 0555 root directory)
	if err := fixModes(rootfs, p.held); err != nil {
		return fmt.Errorf("%w: %v", sandbox.ErrRestore, err)
	}
	// every file the tree had mapped must be in the rebuilt rootfs, the same build
	for _, h := range p.held {
		if !h.Mapped {
			continue
		}
		in := filepath.Join(rootfs, h.Path)
		if _, err := os.Stat(in); err != nil {
			return fmt.Errorf("%w: %s: the process had %s mapped, but the rebuilt root filesystem (--rootfs + rootfs-diff.tar) lacks it: use the container's real base image", sandbox.ErrPreflight, r.Rootfs, h.Path)
		}
		if h.BuildID != "" {
			if got, err := elfBuildID(in); err == nil && got != "" && got != h.BuildID {
				return fmt.Errorf("%w: %s in the rebuilt root filesystem is a different build (ELF build-id %s, the process had %s): use the container's real base image", sandbox.ErrPreflight, h.Path, got, h.BuildID)
			}
		}
	}
	spec, err := rewriteSpec(r.Bundle, dir, info, ls, !r.Run)
	if err != nil {
		return fmt.Errorf("%w: spec.dump: %v", sandbox.ErrRestore, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), spec, 0o600); err != nil {
		return err
	}
	// runc runs "criu" from PATH: give it ours
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o700); err != nil {
		return err
	}
	if err := os.Symlink(p.criu, filepath.Join(bin, "criu")); err != nil {
		return err
	}
	// options runc has no flag for go through a CRIU configuration file (runc passes the
	// org.criu.config annotation to CRIU's RPC as config_file)
	ls.RuncRoot = filepath.Join(dir, "runc")
	ls.ContainerID = "podsleuth-" + info.ID
	work := filepath.Join(dir, "criu")
	if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}
	undo.Push(func() error { return l.destroyContainer(context.Background(), info, ls) })
	pidfile := filepath.Join(dir, "restored.pid")
	images := filepath.Join(dir, "images")
	if err := SandboxImages(r.Images, images, ""); err != nil {
		return fmt.Errorf("%w: %v", sandbox.ErrRestore, err)
	}
	info.Isolation = append(info.Isolation, credsIsolation)
	args := []string{"--root", ls.RuncRoot, "restore", "-d", "--image-path", images, "--work-path", work,
		"--bundle", dir, "--pid-file", pidfile, "--tcp-established", "--ext-unix-sk", "--file-locks", ls.ContainerID}
	if m, _ := filepath.Glob(filepath.Join(r.Images, "netns-*.img")); len(m) == 0 {
		// the engine dumped with --empty-ns network (Podman, the kubelet: the netns is the
		// pod's/engine's): CRIU must not create one; runc joins the sandbox's netns instead
		args = append(args[:len(args)-1], "--empty-ns", "network", ls.ContainerID)
	}
	cmd := exec.CommandContext(ctx, p.runtime, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	// the restored tree's stdout/stderr are restored onto runc's (CRIU inherit fds): a file,
	// so nothing waits on a pipe the copy holds forever, and the analyst can read it
	outPath := filepath.Join(dir, "container.log")
	outf, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = outf, outf
	err = cmd.Run()
	outf.Close()
	if err != nil {
		out, _ := os.ReadFile(outPath)
		return fmt.Errorf("%w: runc restore: %v: %s%s", sandbox.ErrRestore, err, lastLines(string(out), 3), logErrors(filepath.Join(work, "restore.log")))
	}
	b, err := os.ReadFile(pidfile)
	if err != nil {
		return fmt.Errorf("%w: runc wrote no pid file: %v", sandbox.ErrRestore, err)
	}
	if info.RootPID, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
		return fmt.Errorf("%w: pid file: %v", sandbox.ErrRestore, err)
	}
	for _, t := range []string{"net", "pid", "mnt", "uts", "ipc"} {
		info.Namespaces[t] = nsInode(info.RootPID, t)
		if info.Namespaces[t] == nsInode(os.Getpid(), t) {
			return fmt.Errorf("%w: the restored container shares the host's %s namespace", sandbox.ErrRestore, t)
		}
	}
	// verify, not assume: the restored netns must hold only loopback (and our sinkhole veth)
	links, err := netLinks(ctx, info.RootPID)
	if err != nil {
		return err
	}
	for _, lk := range links {
		if lk != "lo" && lk != sandboxIf {
			return fmt.Errorf("%w: the restored container's network namespace has interface %q besides loopback; refusing (isolation not guaranteed)", sandbox.ErrRestore, lk)
		}
	}
	if info.Namespaces["net"] != nsInode(info.InitPID, "net") {
		info.Warnings = append(info.Warnings, "the container's network namespace was restored by CRIU from the checkpoint (not the sandbox's); verified: loopback only")
	}
	if !r.Run {
		// CRIU left the tree stopped (leave-stopped in its config file); make sure of it
		for _, pid := range l.restored(info, ls) {
			if st, err := readStatus(pid); err == nil && !strings.HasPrefix(st.State, "T") && !strings.HasPrefix(st.State, "Z") {
				return fmt.Errorf("%w: restored process %d is %s, not stopped", sandbox.ErrRestore, pid, st.State)
			}
		}
	}
	return nil
}

// netLinks lists the interface names of pid's network namespace.
func netLinks(ctx context.Context, pid int) ([]string, error) {
	out, err := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(pid), "-n", "--", "ip", "-o", "link", "show").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("list interfaces of the sandbox: %w: %s", err, out)
	}
	var names []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 1 {
			n := strings.TrimSuffix(f[1], ":")
			if i := strings.IndexByte(n, '@'); i >= 0 {
				n = n[:i]
			}
			names = append(names, n)
		}
	}
	return names, nil
}

// destroyContainer kills and deletes the restored container (runc removes its cgroups).
func (l *Local) destroyContainer(ctx context.Context, info *sandbox.Info, ls *localState) error {
	if ls.RuncRoot == "" || ls.ContainerID == "" {
		return nil
	}
	rt, err := l.runtime()
	if err != nil {
		return err
	}
	_ = exec.CommandContext(ctx, rt, "--root", ls.RuncRoot, "kill", ls.ContainerID, "KILL").Run()
	out, err := exec.CommandContext(ctx, rt, "--root", ls.RuncRoot, "delete", "-f", ls.ContainerID).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "does not exist") && !strings.Contains(string(out), "not found") {
		return fmt.Errorf("runc delete %s: %w: %s", ls.ContainerID, err, strings.TrimSpace(string(out)))
	}
	defer removeCgroups(ls.CgroupPath)
	if info.RootPID > 0 {
		deadline := time.Now().Add(5 * time.Second)
		for alive(info.RootPID, 0) {
			if st, err := readStatus(info.RootPID); err == nil && strings.HasPrefix(st.State, "Z") {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("restored container process %d did not exit", info.RootPID)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// lastLines returns the last n non-empty lines of s, joined by "; ".
func lastLines(s string, n int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.Contains(l, "Failed to remove cgroup (will retry)") {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return strings.Join(out, "; ")
}

// removeCgroups removes the sandbox's cgroup in every hierarchy, children first (CRIU
// recreates the checkpointed sub-cgroups under it, which runc delete leaves), and the
// podsleuth-sandbox parent when it is empty.
func removeCgroups(cg string) {
	if cg == "" || !strings.HasPrefix(cg, "/podsleuth-sandbox/") {
		return
	}
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	for _, r := range roots {
		base := filepath.Join(r, cg)
		var dirs []string
		_ = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			for try := 0; try < 50; try++ { // a just-killed task leaves its cgroup a moment later
				if err := os.Remove(dirs[i]); err == nil || errors.Is(err, fs.ErrNotExist) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		_ = os.Remove(filepath.Dir(base))
	}
}

package local

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
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

// baseRootfs copies a base root filesystem (a directory, or a tar that may be gzip-compressed)
// into dst.
func baseRootfs(ctx context.Context, src, dst string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if st.IsDir() {
		out, err := exec.CommandContext(ctx, "cp", "-a", "--", src+"/.", dst).CombinedOutput()
		if err != nil {
			return fmt.Errorf("cp -a: %w: %s", err, out)
		}
		return nil
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return extractTar(f, dst, src)
}

// applyRootfsDiff extracts rootfs-diff.tar (gzip despite its name when containerd wrote it)
// over the rootfs and removes the paths listed in deleted.files.
func applyRootfsDiff(bundle, rootfs string) error {
	if f, err := os.Open(filepath.Join(bundle, "rootfs-diff.tar")); err == nil {
		defer f.Close()
		if err := extractTar(f, rootfs, "rootfs-diff.tar"); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	b, err := os.ReadFile(filepath.Join(bundle, "deleted.files"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var deleted []string
	if err := json.Unmarshal(b, &deleted); err != nil {
		return fmt.Errorf("deleted.files: %w", err)
	}
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, d := range deleted {
		name := strings.TrimPrefix(path.Clean("/"+d), "/")
		if name == "" {
			continue
		}
		if err := root.RemoveAll(name); err != nil {
			return fmt.Errorf("deleted.files: %s: %w", d, err)
		}
	}
	return nil
}

// extractTar extracts a (possibly gzip-compressed) tar into dst through os.Root: no member
// can be written outside dst, symlinks are created as links but never followed.
func extractTar(r io.Reader, dst, what string) error {
	br := bufio.NewReader(r)
	var in io.Reader = br
	if m, _ := br.Peek(2); len(m) == 2 && m[0] == 0x1f && m[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		defer gz.Close()
		in = gz
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(in)
	type dirTime struct {
		name string
		t    time.Time
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if name == "" {
			continue
		}
		if d := path.Dir(name); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("%s: %s: %w", what, h.Name, err)
			}
		}
		mode := fs.FileMode(h.Mode).Perm() | fs.FileMode(h.Mode)&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.Mkdir(name, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s: %s: %w", what, h.Name, err)
			}
			_ = root.Chmod(name, tarMode(h))
		case tar.TypeReg:
			_ = root.Remove(name)
			f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", what, h.Name, err)
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%s: %s: %w", what, h.Name, err)
			}
			_ = root.Chmod(name, tarMode(h))
		case tar.TypeSymlink:
			_ = root.Remove(name)
			if err := root.Symlink(h.Linkname, name); err != nil {
				return fmt.Errorf("%s: %s: %w", what, h.Name, err)
			}
		case tar.TypeLink:
			_ = root.Remove(name)
			target := strings.TrimPrefix(path.Clean("/"+h.Linkname), "/")
			if err := root.Link(target, name); err != nil {
				return fmt.Errorf("%s: %s: %w", what, h.Name, err)
			}
		default:
			continue // devices and FIFOs: the runtime creates /dev itself
		}
		_ = root.Lchown(name, h.Uid, h.Gid)
		if h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeDir {
			_ = root.Chmod(name, mode)
			_ = root.Chtimes(name, h.ModTime, h.ModTime)
		}
	}
}

func tarMode(h *tar.Header) fs.FileMode {
	m := fs.FileMode(h.Mode).Perm()
	if h.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if h.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if h.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// actionScript runs at CRIU's setup-namespaces step, after CRIU created the restored tree's
// namespaces: a network namespace CRIU created empty (--empty-ns network) gets its loopback up,
// so loopback TCP connections can be repaired. Nothing else is configured: no route exists.
const actionScript = `#!/bin/sh
[ "$CRTOOLS_SCRIPT_ACTION" = setup-namespaces ] || exit 0
exec nsenter -t "$CRTOOLS_INIT_PID" -n ip link set lo up
`

// rewriteSpec builds the sandbox's config.json from an allow-list; spec.dump gives only what
// the restore cannot do without (the process's argv, env, cwd and numeric user, the hostname,
// the namespace types, the mount destinations CRIU will ask for) and never a privilege:
//
//   - process: no terminal; capabilities AllowedCaps in every set; noNewPrivileges; no
//     AppArmor profile, SELinux label, rlimits or OOM score from the archive;
//   - root: the rebuilt rootfs;
//   - mounts: every bind mount's source replaced by a private stand-in in the sandbox
//     (privateMountSource), nosuid and nodev; kernel file systems only of the types in
//     allowedMountTypes with sandbox options; anything else (a block device, an overlay of
//     the host, a network file system) is dropped and recorded as a warning;
//   - linux: namespaces of the known types, none joined by path except the sandbox's own
//     netns (for containers that had an external one, a pod's); no user-namespace mappings
//     from the archive; no devices and a deny-all device cgroup; a pids limit; runc's default
//     masked and read-only paths; the sandbox's seccomp profile; no sysctls, no Intel RDT,
//     no personality, no mount label; private root propagation; its own cgroup;
//   - no hooks; the only annotation is CRIU's configuration file.
//
// CRIU restores the tasks' own credentials, no_new_privs bit and seccomp filters from the
// images, which SandboxImages rewrites from the same allow-list.
func rewriteSpec(bundle, dir string, info *sandbox.Info, ls *localState, leaveStopped bool) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "spec.dump"))
	if err != nil {
		return nil, err
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	dl, _ := d["linux"].(map[string]any)
	if dl == nil {
		return nil, errors.New("no linux section")
	}
	s := map[string]any{"ociVersion": "1.0.2"}
	if v, ok := d["ociVersion"].(string); ok {
		s["ociVersion"] = v
	}
	if h, ok := d["hostname"].(string); ok {
		s["hostname"] = h
	}
	s["root"] = map[string]any{"path": filepath.Join(dir, "rootfs"), "readonly": false}
	proc := map[string]any{"terminal": false, "cwd": "/", "noNewPrivileges": true}
	var capNames []any
	for _, c := range sortedCaps() {
		capNames = append(capNames, capName[c])
	}
	proc["capabilities"] = map[string]any{"bounding": capNames, "effective": capNames, "permitted": capNames, "inheritable": []any{}, "ambient": []any{}}
	if dp, ok := d["process"].(map[string]any); ok {
		for _, k := range []string{"args", "env"} {
			if v, ok := dp[k].([]any); ok {
				proc[k] = v
			}
		}
		if v, ok := dp["cwd"].(string); ok && strings.HasPrefix(v, "/") {
			proc["cwd"] = v
		}
		u := map[string]any{"uid": 0, "gid": 0}
		if du, ok := dp["user"].(map[string]any); ok {
			for _, k := range []string{"uid", "gid"} {
				if v, ok := du[k].(float64); ok {
					u[k] = v
				}
			}
		}
		proc["user"] = u
	}
	s["process"] = proc
	lx := map[string]any{}
	var nss []any
	hasNet := false
	for _, n := range asSlice(dl["namespaces"]) {
		m, ok := n.(map[string]any)
		if !ok {
			continue
		}
		typ, _ := m["type"].(string)
		if !allowedNamespaces[typ] {
			if typ != "" {
				info.Warnings = append(info.Warnings, "spec.dump: namespace "+strconv.Quote(typ)+" dropped")
			}
			continue
		}
		_, hadPath := m["path"]
		ns := map[string]any{"type": typ}
		if typ == "network" {
			hasNet = true
			if hadPath {
				// a pod's netns (CRI): runc dumped it as external, and now hands CRIU the
				// sandbox's (loopback up, nothing else) as extRootNetNS
				ns["path"] = fmt.Sprintf("/proc/%d/ns/net", info.InitPID)
			}
			// else CRIU creates a fresh one (Podman dumps with --empty-ns network); the
			// setup-namespaces action script brings its loopback up
		}
		nss = append(nss, ns)
	}
	if !hasNet {
		// host networking in the original: give it the sandbox's netns
		nss = append(nss, map[string]any{"type": "network", "path": fmt.Sprintf("/proc/%d/ns/net", info.InitPID)})
	}
	lx["namespaces"] = nss
	lx["resources"] = map[string]any{
		"devices": []any{map[string]any{"allow": false, "access": "rwm"}},
		"pids":    map[string]any{"limit": 4096},
	}
	lx["maskedPaths"] = toAny(defaultMaskedPaths)
	lx["readonlyPaths"] = toAny(defaultReadonlyPaths)
	lx["rootfsPropagation"] = "private"
	lx["seccomp"] = ociSeccomp()
	ls.CgroupPath = "/podsleuth-sandbox/" + info.ID
	lx["cgroupsPath"] = ls.CgroupPath
	s["linux"] = lx
	// CRIU options runc has no flag for, through CRIU's configuration file (runc passes the
	// org.criu.config annotation as the RPC config_file, instead of /etc/criu/runc.conf)
	script := filepath.Join(dir, "criu-action.sh")
	if err := os.WriteFile(script, []byte(actionScript), 0o700); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "criu.conf")
	opts := "network-lock skip\naction-script " + script + "\n"
	if leaveStopped {
		// every restored task gets SIGSTOP from CRIU before it runs an instruction
		opts += "leave-stopped\n"
	}
	if err := os.WriteFile(conf, []byte(opts), 0o600); err != nil {
		return nil, err
	}
	s["annotations"] = map[string]any{"org.criu.config": conf}
	files := filepath.Join(dir, "files")
	if err := os.MkdirAll(files, 0o700); err != nil {
		return nil, err
	}
	var mounts []any
	for i, mm := range asSlice(d["mounts"]) {
		m, ok := mm.(map[string]any)
		if !ok {
			continue
		}
		typ, _ := m["type"].(string)
		src, _ := m["source"].(string)
		dst, _ := m["destination"].(string)
		var opts []string
		for _, o := range asSlice(m["options"]) {
			if o, ok := o.(string); ok {
				opts = append(opts, o)
			}
		}
		if !strings.HasPrefix(dst, "/") || strings.Contains(dst, "/../") || strings.HasSuffix(dst, "/..") {
			info.Warnings = append(info.Warnings, fmt.Sprintf("spec.dump: mount at %q dropped (not an absolute clean path)", dst))
			continue
		}
		if typ == "bind" || slices.Contains(opts, "bind") || slices.Contains(opts, "rbind") {
			p, err := privateMountSource(bundle, files, i, dst, info.ID)
			if err != nil {
				return nil, err
			}
			keep := []string{"rbind", "nosuid", "nodev"}
			if slices.Contains(opts, "ro") {
				keep = append(keep, "ro")
			}
			mounts = append(mounts, map[string]any{"destination": dst, "type": "bind", "source": p, "options": toAny(keep)})
			continue
		}
		safe, ok := allowedMountTypes[typ]
		if !ok {
			info.Warnings = append(info.Warnings, fmt.Sprintf("spec.dump: mount %s %s at %s dropped (only the sandbox's own kernel file systems and private binds are mounted)", typ, src, dst))
			continue
		}
		mounts = append(mounts, map[string]any{"destination": dst, "type": typ, "source": typ, "options": toAny(safe)})
	}
	s["mounts"] = mounts
	return json.MarshalIndent(s, "", " ")
}

// allowedNamespaces are the namespace types a restored container gets (always new ones).
var allowedNamespaces = map[string]bool{"pid": true, "network": true, "ipc": true, "uts": true, "mount": true, "cgroup": true}

// allowedMountTypes are the kernel file systems a restored container may have, each with the
// options the sandbox gives it (whatever spec.dump said).
var allowedMountTypes = map[string][]string{
	"proc":    {"nosuid", "noexec", "nodev"},
	"sysfs":   {"nosuid", "noexec", "nodev", "ro"},
	"tmpfs":   {"nosuid", "nodev", "mode=755", "size=65536k"},
	"devpts":  {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"},
	"mqueue":  {"nosuid", "noexec", "nodev"},
	"cgroup":  {"nosuid", "noexec", "nodev", "relatime", "ro"},
	"cgroup2": {"nosuid", "noexec", "nodev", "relatime", "ro"},
	"shm":     {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"},
}

// defaultMaskedPaths and defaultReadonlyPaths are runc's (and Podman's, containerd's) defaults.
var (
	defaultMaskedPaths = []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"}
	defaultReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// ociSeccomp is the sandbox's seccomp filter as an OCI profile (for anything runc starts in
// the container later; the restored tasks get the same filter through the images).
func ociSeccomp() map[string]any {
	var names []any
	for _, n := range sortedSyscallNames() {
		names = append(names, n)
	}
	p := map[string]any{
		"defaultAction": "SCMP_ACT_ALLOW",
		"architectures": []any{"SCMP_ARCH_X86_64"},
		"syscalls": []any{
			map[string]any{"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": errnoEPERM},
			map[string]any{"names": []any{"clone3"}, "action": "SCMP_ACT_ERRNO", "errnoRet": errnoENOSYS},
		},
	}
	rules := p["syscalls"].([]any)
	// clone with any CLONE_NEW* flag: one rule per flag (rules are OR'ed)
	for bit := uint32(1); bit != 0; bit <<= 1 {
		if cloneNewMask&bit != 0 {
			rules = append(rules, map[string]any{"names": []any{"clone"}, "action": "SCMP_ACT_ERRNO", "errnoRet": errnoEPERM,
				"args": []any{map[string]any{"index": 0, "value": bit, "valueTwo": bit, "op": "SCMP_CMP_MASKED_EQ"}}})
		}
	}
	p["syscalls"] = rules
	return p
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// privateMountSource makes the private stand-in for a bind mount: /dev/shm gets the archive's
// devshm-checkpoint.tar contents; well-known files get sandbox values; anything else an empty
// file or directory of the kind the mount point is in the checkpoint.
func privateMountSource(bundle, files string, i int, dst, id string) (string, error) {
	p := filepath.Join(files, strconv.Itoa(i))
	switch dst {
	case "/dev/shm":
		if err := os.Mkdir(p, 0o1777); err != nil {
			return "", err
		}
		if f, err := os.Open(filepath.Join(bundle, "devshm-checkpoint.tar")); err == nil {
			defer f.Close()
			if err := extractTar(f, p, "devshm-checkpoint.tar"); err != nil {
				return "", err
			}
		}
		return p, nil
	case "/etc/hostname":
		return p, os.WriteFile(p, []byte("podsleuth-"+id+"\n"), 0o644)
	case "/etc/hosts":
		return p, os.WriteFile(p, []byte("127.0.0.1 localhost\n::1 localhost\n"), 0o644)
	case "/etc/resolv.conf":
		// the sinkhole (if any) is the gateway and answers DNS; without one nothing answers
		return p, os.WriteFile(p, []byte("nameserver "+sinkAddr+"\n"), 0o644)
	}
	if looksLikeFile(dst) {
		return p, os.WriteFile(p, nil, 0o644)
	}
	return p, os.Mkdir(p, 0o755)
}

// looksLikeFile guesses whether a bind mount's destination was a file (the archive does not
// say; CRIU needs the same kind at restore).
func looksLikeFile(dst string) bool {
	switch dst {
	case "/dev/termination-log", "/run/.containerenv", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf":
		return true
	}
	base := path.Base(dst)
	return strings.Contains(base, ".") && !strings.HasPrefix(base, ".")
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
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

type sanitized struct{ setid, owners int }

// sanitizeRootfs clears setuid and setgid bits and resets owners other than root to root on
// every file of the rebuilt rootfs, except the paths the process held (CRIU compares their
// modes with the recorded ones; fixModes gives them those). With no_new_privs on every restored
// task a setuid bit would be inert anyway; this keeps the copy from holding one at all.
func sanitizeRootfs(rootfs string, held []HeldPath) (sanitized, error) {
	var n sanitized
	keep := map[string]bool{}
	for _, h := range held {
		keep[filepath.Join(rootfs, filepath.Clean("/"+h.Path))] = true
	}
	err := filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if keep[p] {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && (st.Uid != 0 || st.Gid != 0) {
			if err := os.Lchown(p, 0, 0); err != nil {
				return err
			}
			n.owners++
		}
		if d.Type()&fs.ModeSymlink == 0 && info.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			if err := os.Chmod(p, info.Mode()&^(fs.ModeSetuid|fs.ModeSetgid)); err != nil {
				return err
			}
			n.setid++
		}
		return nil
	})
	return n, err
}

// fixModes sets the permission bits of the held paths present in rootfs to the recorded ones.
func fixModes(rootfs string, held []HeldPath) error {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, h := range held {
		if h.Mode == 0 || h.Kind == "ghost" || h.Kind == "socket" || isSystemDir(h.Path) {
			continue
		}
		name := strings.TrimPrefix(path.Clean(h.Path), "/")
		if name == "" {
			name = "."
		}
		st, err := root.Lstat(name)
		if err != nil || st.Mode()&fs.ModeSymlink != 0 {
			continue // missing ones are CRIU's to report (with the path)
		}
		want := fs.FileMode(h.Mode & 0o777)
		if h.Mode&0o4000 != 0 {
			want |= fs.ModeSetuid
		}
		if h.Mode&0o2000 != 0 {
			want |= fs.ModeSetgid
		}
		if h.Mode&0o1000 != 0 {
			want |= fs.ModeSticky
		}
		if st.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != want {
			if err := root.Chmod(name, want); err != nil {
				return fmt.Errorf("chmod %s: %w", h.Path, err)
			}
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

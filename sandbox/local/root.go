package local

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// A bare-image sandbox runs in a private root file system, built inside the sandbox's mount
// namespace only and entered with pivot_root, so that nothing of the host file system is
// visible or writable beyond what is bound read-only on purpose:
//
//	/                 tmpfs (rootSize, nosuid, nodev), private
//	/usr /bin /sbin /lib* (SystemDirs) the host's, bound read-only, nosuid, nodev
//	/dev              tmpfs: null zero full random urandom tty (the host's nodes, bound),
//	                  a new devpts instance, /dev/shm tmpfs
//	/proc             procfs of the sandbox's PID namespace, with runc's default masked
//	                  (maskedProc) and read-only (readonlyProc) paths
//	/sys              sysfs, read-only
//	/etc              private: hostname, hosts, resolv.conf, passwd, group
//	/tmp /var/tmp /run private (on the root tmpfs)
//	held directories  overlays: lower the host directory, upper on the sandbox's storage
//	                  tmpfs (storageSize), so writes stay private and the host's files are
//	                  untouched
//	held files        recreated privately when missing; mapped files outside SystemDirs and
//	                  --file copies bound read-only
//
// The CRIU binary's prefix, the images (read-only) and CRIU's work directory are bound under
// /.podsleuth for the restore only, and unmounted before anything restored runs.

const (
	rootSize    = "64m"
	storageSize = "1g"
	// stagingDir holds what only the restore needs (criu's images and work directory).
	stagingDir = "/.podsleuth"
)

// maskedProc and readonlyProc are runc's defaults (the OCI runtime spec's usual
// linux.maskedPaths / readonlyPaths under /proc).
var (
	maskedProc   = []string{"kcore", "keys", "latency_stats", "timer_list", "timer_stats", "sched_debug"}
	maskedDirs   = []string{"/proc/acpi", "/proc/scsi", "/sys/firmware"}
	readonlyProc = []string{"asound", "bus", "fs", "irq", "sys", "sysrq-trigger"}
	devNodes     = []string{"null", "zero", "full", "random", "urandom", "tty"}
)

// rootBuild is what the private root is made of.
type rootBuild struct {
	ID       string
	Root     string // mount point of the root tmpfs (host path, in the sandbox's mount ns)
	Storage  string // mount point of the overlay storage tmpfs
	Plan     *Plan
	CRIU     string // resolved criu binary
	Images   string // the sandbox's copy of the images (SandboxImages), linking to Orig
	Orig     string // the images as given
	Work     string
	Hostname string
	Sinkhole bool
}

// criuPrefix is the directory bound into the sandbox for criu to run: nothing when criu is in a
// system directory, else the parent of its bin directory (PREFIX/bin/criu), which holds the
// libraries a relocated criu (like `make setup`'s) runs with.
func criuPrefix(criu string) string {
	if inSystemDir(criu) {
		return ""
	}
	return filepath.Dir(filepath.Dir(criu))
}

// script returns the sh script that builds the root at b.Root and pivots into it. It runs as
// root in the sandbox's mount and PID namespaces (nsenter -m -p).
func (b *rootBuild) script() (string, error) {
	var s strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&s, format+"\n", a...) }
	R := func(p string) string { return shq(filepath.Join(b.Root, p)) }
	w("set -e")
	w("mount -t tmpfs -o size=%s,mode=0755,nosuid,nodev podsleuth-root-%s %s", rootSize, b.ID, shq(b.Root))
	w("mount -t tmpfs -o size=%s,mode=0700,nosuid,nodev podsleuth-fs-%s %s", storageSize, b.ID, shq(b.Storage))
	for _, d := range SystemDirs {
		st, err := os.Lstat(d)
		switch {
		case err != nil:
			continue
		case st.Mode()&os.ModeSymlink != 0:
			t, err := os.Readlink(d)
			if err != nil {
				return "", err
			}
			w("ln -s %s %s", shq(t), R(d))
		case st.IsDir():
			w("mkdir %[1]s && mount --bind %[2]s %[1]s && mount -o remount,bind,ro,nosuid,nodev %[1]s", R(d), shq(d))
		}
	}
	// /dev
	w("mkdir %[1]s && mount -t tmpfs -o size=64k,mode=0755,nosuid,noexec podsleuth-dev-%[2]s %[1]s", R("/dev"), b.ID)
	for _, n := range devNodes {
		w("[ ! -e /dev/%[1]s ] || { : > %[2]s && mount --bind /dev/%[1]s %[2]s; }", n, R("/dev/"+n))
	}
	w("mkdir %[1]s && mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,nosuid,noexec devpts %[1]s && ln -s pts/ptmx %[2]s", R("/dev/pts"), R("/dev/ptmx"))
	w("mkdir %[1]s && mount -t tmpfs -o size=64m,mode=1777,nosuid,nodev,noexec shm %[1]s", R("/dev/shm"))
	w("ln -s /proc/self/fd %s && ln -s /proc/self/fd/0 %s && ln -s /proc/self/fd/1 %s && ln -s /proc/self/fd/2 %s",
		R("/dev/fd"), R("/dev/stdin"), R("/dev/stdout"), R("/dev/stderr"))
	// /proc of the sandbox's PID namespace, /sys read-only
	w("mkdir %[1]s && mount -t proc -o nosuid,nodev,noexec proc %[1]s", R("/proc"))
	for _, f := range maskedProc {
		w("[ ! -f %[1]s ] || mount --bind /dev/null %[1]s", R("/proc/"+f))
	}
	for _, f := range readonlyProc {
		w("[ ! -e %[1]s ] || { mount --bind %[1]s %[1]s && mount -o remount,bind,ro,nosuid,nodev,noexec %[1]s; }", R("/proc/"+f))
	}
	w("mkdir %[1]s && mount -t sysfs -o ro,nosuid,nodev,noexec sysfs %[1]s", R("/sys"))
	for _, d := range maskedDirs {
		w("[ ! -d %[1]s ] || mount -t tmpfs -o ro,size=0,nosuid,nodev,noexec masked %[1]s", R(d))
	}
	// private /etc and scratch directories
	w("mkdir -p %s %s %s %s", R("/etc"), R("/var"), R("/run"), R("/root"))
	w("chmod 0700 %s", R("/root"))
	w("mkdir -m 1777 %s %s", R("/tmp"), R("/var/tmp"))
	resolv := "# podsleuth sandbox: no resolver outside the sandbox\n"
	if b.Sinkhole {
		resolv = "nameserver " + sinkAddr + "\n"
	}
	etc := map[string]string{
		"hostname":    b.Hostname + "\n",
		"hosts":       "127.0.0.1\tlocalhost " + b.Hostname + "\n::1\tlocalhost ip6-localhost\n",
		"resolv.conf": resolv,
		"passwd":      "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"group":       "root:x:0:\nnogroup:x:65534:\n",
	}
	for _, n := range []string{"hostname", "hosts", "resolv.conf", "passwd", "group"} {
		w("printf '%%s' %s > %s", shq(etc[n]), R("/etc/"+n))
	}
	// held paths
	for i, d := range b.Plan.Overlays {
		up := filepath.Join(b.Storage, strconv.Itoa(i), "upper")
		wk := filepath.Join(b.Storage, strconv.Itoa(i), "work")
		w("mkdir -p %s %s %s", shq(up), shq(wk), R(d))
		w("mount -t overlay podsleuth-%s -o %s %s", b.ID,
			shq("lowerdir="+escOverlay(d)+",upperdir="+escOverlay(up)+",workdir="+escOverlay(wk)), R(d))
	}
	for _, d := range b.Plan.Dirs {
		w("mkdir -p %s", R(d))
	}
	for _, h := range b.Plan.Create {
		if h.Kind == "dir" {
			w("mkdir -p %s", R(h.Path))
			continue
		}
		w("mkdir -p %s && truncate -s %d %s && chmod %o %s", R(filepath.Dir(h.Path)), h.Size, R(h.Path), h.Mode&0o777, R(h.Path))
	}
	bindRO := func(dst, src string) {
		w("[ -e %[1]s ] || { mkdir -p %[2]s && : > %[1]s; }", R(dst), R(filepath.Dir(dst)))
		w("mount --bind %[2]s %[1]s && mount -o remount,bind,ro,nosuid,nodev %[1]s", R(dst), shq(src))
	}
	for _, f := range b.Plan.ReadOnly {
		bindRO(f, f)
	}
	for _, dst := range sortedKeys(b.Plan.Binds) {
		bindRO(dst, b.Plan.Binds[dst])
	}
	// what only the restore needs, unmounted by unstage
	w("mkdir -p %[1]s/images %[1]s/orig %[1]s/work", R(stagingDir))
	w("mount --bind %[2]s %[1]s && mount -o remount,bind,ro,nosuid,nodev %[1]s", R(stagingDir+"/images"), shq(b.Images))
	w("mount --bind %[2]s %[1]s && mount -o remount,bind,ro,nosuid,nodev %[1]s", R(stagingDir+"/orig"), shq(b.Orig))
	w("mount --bind %s %s", shq(b.Work), R(stagingDir+"/work"))
	if p := criuPrefix(b.CRIU); p != "" {
		w("mkdir -p %[1]s && mount --bind %[2]s %[1]s && mount -o remount,bind,ro,nodev %[1]s", R(p), shq(p))
	}
	// enter it: the holder (and everything that enters the mount namespace later) sees only it
	w("cd %s && mkdir .oldroot && pivot_root . .oldroot && cd / && umount -l /.oldroot && rmdir /.oldroot", shq(b.Root))
	return s.String(), nil
}

// unstage returns the sh script that removes the restore-only mounts from the pivoted root.
func (b *rootBuild) unstage() string {
	s := fmt.Sprintf("set -e\numount %[1]s/images %[1]s/orig %[1]s/work\nrmdir %[1]s/images %[1]s/orig %[1]s/work %[1]s\n", stagingDir)
	if p := criuPrefix(b.CRIU); p != "" {
		s += fmt.Sprintf("umount %[1]s\nrmdir -p %[1]s 2>/dev/null || true\n", shq(p))
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/podsleuth/podsleuth/sandbox"
)

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

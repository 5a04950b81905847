package local

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/checkpoint-restore/go-criu/v8/crit"
	criucore "github.com/checkpoint-restore/go-criu/v8/crit/images/criu-core"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/seccomp"
	"google.golang.org/protobuf/proto"
)

// CRIU restores every task's credentials, capabilities, no_new_privs bit and seccomp filters
// from the images (core-*.img, seccomp.img), for bare images and for `runc restore` alike: the
// OCI spec's process.capabilities, noNewPrivileges and seccomp do not apply to a restored
// process. So podsleuth restores from a private copy of the images whose credentials are
// rewritten from an allow-list, never taken from the archive:
//
//   - capabilities (effective, permitted, inheritable, ambient and the bounding set) are
//     intersected with AllowedCaps;
//   - no_new_privs is set (a setuid binary cannot give anything back);
//   - the sandbox's seccomp filter (seccompFilter) is added on top of whatever filters the
//     task had (so a dumped filter still applies too).
//
// Only core-*.img and seccomp.img are rewritten; every other image is a symlink to the
// original, or (for runc, whose CRIU opens images after it entered the container's root, where
// an absolute symlink would not resolve) a hard link, copied only across file systems.

// credsIsolation is what sandbox show lists for the restored tasks' credentials.
const credsIsolation = "restored tasks' credentials from an allow-list (images rewritten): capabilities CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE only (bounding set too), no_new_privs, seccomp filter denying mount/namespace/module/kexec/bpf/keyring/clock calls"

// Capability numbers (linux/capability.h).
const (
	capChown          = 0
	capDacOverride    = 1
	capFowner         = 3
	capFsetid         = 4
	capKill           = 5
	capSetgid         = 6
	capSetuid         = 7
	capSetpcap        = 8
	capNetBindService = 10
)

// AllowedCaps is the documented minimal set a restored task keeps (docs/sandbox.md): what a
// root workload needs to keep working on its own files and processes. Everything else is
// dropped, among them SYS_ADMIN, SYS_MODULE, SYS_PTRACE, SYS_RAWIO, SYS_CHROOT, NET_ADMIN,
// NET_RAW, MKNOD, DAC_READ_SEARCH, SETFCAP, AUDIT_*, BPF, PERFMON, CHECKPOINT_RESTORE.
var AllowedCaps = map[int]string{
	capChown:          "CHOWN: change owners of its own (private) files",
	capDacOverride:    "DAC_OVERRIDE: a root workload reopens files regardless of mode",
	capFowner:         "FOWNER: chmod/utime on files it does not own",
	capFsetid:         "FSETID: keep set-group-ID on files it writes (nosuid mounts make it inert)",
	capKill:           "KILL: signal the sandbox's other processes (its PID namespace only)",
	capSetgid:         "SETGID: a daemon dropping to another group",
	capSetuid:         "SETUID: a daemon dropping to another user",
	capSetpcap:        "SETPCAP: dropping its own capabilities further",
	capNetBindService: "NET_BIND_SERVICE: listening on ports < 1024 in its own network namespace",
}

// capName are the OCI names of AllowedCaps.
var capName = map[int]string{
	capChown: "CAP_CHOWN", capDacOverride: "CAP_DAC_OVERRIDE", capFowner: "CAP_FOWNER", capFsetid: "CAP_FSETID",
	capKill: "CAP_KILL", capSetgid: "CAP_SETGID", capSetuid: "CAP_SETUID", capSetpcap: "CAP_SETPCAP",
	capNetBindService: "CAP_NET_BIND_SERVICE",
}

func sortedCaps() []int {
	out := make([]int, 0, len(AllowedCaps))
	for c := range AllowedCaps {
		out = append(out, c)
	}
	sort.Ints(out)
	return out
}

func allowedMask() uint64 {
	var m uint64
	for c := range AllowedCaps {
		m |= 1 << c
	}
	return m
}

// clampCaps intersects a CRIU capability set (32-bit words, low first) with the allow-list.
func clampCaps(words []uint32) []uint32 {
	m := allowedMask()
	out := make([]uint32, len(words))
	for i, w := range words {
		if i < 2 {
			out[i] = w & uint32(m>>(32*i))
		}
	}
	return out
}

// ErrSandboxImages is wrapped when the private copy of the images cannot be made.
var ErrSandboxImages = errors.New("cannot prepare the images for a sandboxed restore")

// SandboxImages makes dst a copy of the CRIU image directory src for restoring: every file a
// symlink to linkBase/<name> (where criu sees src inside the sandbox), or a hard link (a copy
// across file systems) when linkBase is empty, except core-*.img and seccomp.img, rewritten as
// described above.
func SandboxImages(src, dst, linkBase string) error {
	ents, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSandboxImages, err)
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	var filters []*seccomp.SeccompFilter
	var sc *crit.CriuImage
	if img, err := readImage(filepath.Join(src, "seccomp.img"), &seccomp.SeccompEntry{}); err == nil {
		sc = img
		if len(img.Entries) > 0 {
			filters = img.Entries[0].Message.(*seccomp.SeccompEntry).GetSeccompFilters()
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %v", ErrSandboxImages, err)
	}
	ours, err := seccompFilter()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSandboxImages, err)
	}
	// one copy of our filter per chain it is put on top of (prev index, or none)
	top := map[int64]uint32{}
	stack := func(mode criucore.SeccompMode, prev uint32) uint32 {
		key := int64(-1)
		if mode == criucore.SeccompMode_filter {
			key = int64(prev)
		}
		if i, ok := top[key]; ok {
			return i
		}
		f := &seccomp.SeccompFilter{Filter: ours}
		if key >= 0 {
			f.Prev = proto.Uint32(prev)
		}
		filters = append(filters, f)
		top[key] = uint32(len(filters) - 1)
		return top[key]
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "core-") && strings.HasSuffix(name, ".img"):
			img, err := readImage(filepath.Join(src, name), &criucore.CoreEntry{})
			if err != nil {
				return fmt.Errorf("%w: %v", ErrSandboxImages, err)
			}
			for _, en := range img.Entries {
				tc := en.Message.(*criucore.CoreEntry).GetThreadCore()
				if tc == nil || tc.GetCreds() == nil {
					return fmt.Errorf("%w: %s has no thread credentials", ErrSandboxImages, name)
				}
				c := tc.Creds
				c.CapEff, c.CapPrm, c.CapInh = clampCaps(c.CapEff), clampCaps(c.CapPrm), clampCaps(c.CapInh)
				c.CapAmb, c.CapBnd = clampCaps(c.CapAmb), clampCaps(c.CapBnd)
				c.NoNewPrivs = proto.Uint32(1)
				idx := stack(tc.GetSeccompMode(), tc.GetSeccompFilter())
				tc.SeccompMode = criucore.SeccompMode_filter.Enum()
				tc.SeccompFilter = proto.Uint32(idx)
			}
			if err := writeImage(filepath.Join(dst, name), img); err != nil {
				return fmt.Errorf("%w: %v", ErrSandboxImages, err)
			}
		case name == "seccomp.img":
			// written below
		case e.IsDir():
			// none in CRIU image directories; nothing to restore from
		case linkBase == "":
			if err := linkOrCopy(filepath.Join(src, name), filepath.Join(dst, name)); err != nil {
				return fmt.Errorf("%w: %v", ErrSandboxImages, err)
			}
		default:
			if err := os.Symlink(filepath.Join(linkBase, name), filepath.Join(dst, name)); err != nil {
				return err
			}
		}
	}
	if sc == nil {
		sc = &crit.CriuImage{Magic: "SECCOMP"}
	}
	sc.Entries = []*crit.CriuEntry{{Message: &seccomp.SeccompEntry{SeccompFilters: filters}}}
	if err := writeImage(filepath.Join(dst, "seccomp.img"), sc); err != nil {
		return fmt.Errorf("%w: %v", ErrSandboxImages, err)
	}
	return nil
}

func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func readImage(path string, entry proto.Message) (*crit.CriuImage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := crit.New(f, nil, "", false, false).Decode(entry)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", filepath.Base(path), err)
	}
	return img, nil
}

func writeImage(path string, img *crit.CriuImage) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := crit.New(nil, f, "", false, false).Encode(img); err != nil {
		f.Close()
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	return f.Close()
}

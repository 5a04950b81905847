package huntimage

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Errors Inspect and Build name.
var (
	// ErrNotELF: the binary is not a Linux ELF executable.
	ErrNotELF = errors.New("not a Linux ELF executable")
	// ErrNotPodsleuth: the binary is a Go program but not podsleuth's command.
	ErrNotPodsleuth = errors.New("not a podsleuth binary")
	// ErrNoYARA: the binary was built without -tags yara, so a hunt would run no rules.
	ErrNoYARA = errors.New("built without -tags yara (the hunt's rules would not run on the nodes): build it with `make analyzer-image`")
	// ErrMissingLibrary: a shared library the binary needs was not found on this machine.
	ErrMissingLibrary = errors.New("shared library not found")
	// ErrArch: the binary is for a machine type images are not built for.
	ErrArch = errors.New("unsupported machine type")
)

// MainPackage is the import path of the command an analyzer image runs.
const MainPackage = "github.com/podsleuth/podsleuth/cmd/podsleuth"

// maxBinary bounds the binary read into memory (a podsleuth binary is ~80 MB).
const maxBinary = 1 << 30

// Binary is what Inspect learnt about a podsleuth executable.
type Binary struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Arch is the GOARCH of the ELF machine (amd64, arm64).
	Arch string `json:"arch"`
	// Static is true when the ELF has no program interpreter (nothing to load at run time).
	Static bool `json:"static"`
	// Interp is the ELF program interpreter (PT_INTERP) of a dynamic binary.
	Interp string `json:"interp,omitempty"`
	// Libs are the shared libraries a dynamic binary needs (DT_NEEDED, recursively), in the
	// order they were first needed.
	Libs []Lib `json:"libs,omitempty"`
	// From the Go build information embedded in the binary.
	Main      string    `json:"main"`
	GoVersion string    `json:"go_version"`
	Tags      []string  `json:"tags,omitempty"`
	Revision  string    `json:"revision,omitempty"`
	Modified  bool      `json:"modified,omitempty"`
	Time      time.Time `json:"time,omitzero"`
	// data is the binary's content, read once: what is hashed is what goes into the layer.
	data []byte
}

// Lib is one shared library: its DT_NEEDED name and the file found for it on this machine.
type Lib struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// YARA says whether the binary was built with the yara build tag.
func (b *Binary) YARA() bool { return slices.Contains(b.Tags, "yara") }

// goArch maps ELF machines to GOARCH and the Debian multiarch triplet of their library dirs.
var goArch = map[elf.Machine][2]string{
	elf.EM_X86_64:  {"amd64", "x86_64-linux-gnu"},
	elf.EM_AARCH64: {"arm64", "aarch64-linux-gnu"},
}

// defaultLibDirs are where shared libraries are looked for, in the order of glibc's system
// search path (`ld.so --help`), then the other usual places.
func defaultLibDirs(triplet string) []string {
	return []string{"/lib/" + triplet, "/usr/lib/" + triplet, "/lib64", "/usr/lib64", "/lib", "/usr/lib",
		"/usr/local/lib/" + triplet, "/usr/local/lib"}
}

// Inspect reads a podsleuth binary: its SHA-256, machine, linking (and, when dynamic, the
// interpreter and every shared library it needs, found in libDirs or the default search path),
// and the Go build information (main package, tags, VCS revision and time). It refuses what
// cannot be an analyzer: not an ELF (ErrNotELF), not podsleuth (ErrNotPodsleuth), a missing
// library (ErrMissingLibrary). Whether it has YARA is Binary.YARA; Build refuses without.
func Inspect(p string, libDirs []string) (*Binary, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxBinary+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if len(data) > maxBinary {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, maxBinary)
	}
	b, err := inspectBytes(data, libDirs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	b.Path = p
	return b, nil
}

// inspectBytes is Inspect on the binary's content (the fuzz target's entry).
func inspectBytes(data []byte, libDirs []string) (*Binary, error) {
	sum := sha256.Sum256(data)
	b := &Binary{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), data: data}
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotELF, err)
	}
	defer ef.Close()
	if ef.Type != elf.ET_EXEC && ef.Type != elf.ET_DYN {
		return nil, fmt.Errorf("%w: ELF type %v", ErrNotELF, ef.Type)
	}
	if ef.OSABI != elf.ELFOSABI_NONE && ef.OSABI != elf.ELFOSABI_LINUX {
		return nil, fmt.Errorf("%w: OS ABI %v", ErrNotELF, ef.OSABI)
	}
	arch, ok := goArch[ef.Machine]
	if !ok || ef.Class != elf.ELFCLASS64 {
		return nil, fmt.Errorf("%w: %v %v", ErrArch, ef.Class, ef.Machine)
	}
	b.Arch = arch[0]
	bi, err := buildinfo.Read(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: no Go build information (%v)", ErrNotPodsleuth, err)
	}
	if bi.Path != MainPackage {
		return nil, fmt.Errorf("%w: its main package is %q, want %s", ErrNotPodsleuth, bi.Path, MainPackage)
	}
	b.Main, b.GoVersion = bi.Path, bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "-tags":
			b.Tags = strings.Split(s.Value, ",")
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		case "vcs.time":
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				b.Time = t.UTC()
			}
		}
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			s, err := io.ReadAll(io.LimitReader(p.Open(), 4096))
			if err != nil {
				return nil, fmt.Errorf("%w: PT_INTERP: %v", ErrNotELF, err)
			}
			b.Interp = string(bytes.TrimRight(s, "\x00"))
			if !path.IsAbs(b.Interp) || path.Clean(b.Interp) != b.Interp {
				return nil, fmt.Errorf("%w: interpreter %q is not a clean absolute path", ErrNotELF, b.Interp)
			}
		}
	}
	b.Static = b.Interp == ""
	if b.Static {
		return b, nil
	}
	if len(libDirs) == 0 {
		libDirs = defaultLibDirs(arch[1])
	}
	b.Libs, err = needed(ef, libDirs)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// needed resolves the DT_NEEDED closure of ef the way the dynamic loader does: each name in the
// object's DT_RUNPATH (or DT_RPATH), then in dirs, taking the first file of the same class and
// machine. $ORIGIN and other dynamic string tokens are not expanded (a path holding one is
// skipped), and the loader itself is never a library here.
func needed(ef *elf.File, dirs []string) ([]Lib, error) {
	var out []Lib
	seen := map[string]bool{}
	type item struct {
		f    *elf.File
		name string // of the object, for errors
	}
	queue := []item{{ef, "the binary"}}
	var opened []*os.File
	defer func() {
		for _, f := range opened {
			f.Close()
		}
	}()
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		names, err := it.f.ImportedLibraries()
		if err != nil {
			return nil, fmt.Errorf("%w: DT_NEEDED of %s: %v", ErrNotELF, it.name, err)
		}
		search := append(runPath(it.f), dirs...)
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			if strings.HasPrefix(n, "ld-linux") || strings.HasPrefix(n, "ld64.so") {
				continue // the interpreter, added as such
			}
			p, lf, fh, err := find(n, search, ef)
			if err != nil {
				return nil, fmt.Errorf("%s (needed by %s): %w", n, it.name, err)
			}
			opened = append(opened, fh)
			out = append(out, Lib{Name: n, Path: p})
			queue = append(queue, item{lf, n})
		}
	}
	return out, nil
}

// runPath is an object's DT_RUNPATH, else its DT_RPATH.
func runPath(f *elf.File) []string {
	var out []string
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		v, _ := f.DynString(tag)
		for _, s := range v {
			for _, d := range strings.Split(s, ":") {
				if d != "" && !strings.Contains(d, "$") {
					out = append(out, d)
				}
			}
		}
		if len(out) > 0 {
			break
		}
	}
	return out
}

// find opens the first file named n in dirs that is an ELF shared object of the same class and
// machine as main (the loader skips the others too).
func find(n string, dirs []string, main *elf.File) (string, *elf.File, *os.File, error) {
	if strings.Contains(n, "/") {
		dirs, n = []string{filepath.Dir(n)}, filepath.Base(n)
	}
	for _, d := range dirs {
		p := filepath.Join(d, n)
		fh, err := os.Open(p)
		if err != nil {
			continue
		}
		lf, err := elf.NewFile(fh)
		if err != nil || lf.Class != main.Class || lf.Machine != main.Machine {
			fh.Close()
			continue
		}
		return p, lf, fh, nil
	}
	return "", nil, nil, fmt.Errorf("%w in %s", ErrMissingLibrary, strings.Join(dirs, ":"))
}

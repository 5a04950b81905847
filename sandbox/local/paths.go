package local

import (
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/checkpoint-restore/go-criu/v8/crit"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/fdinfo"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/mm"
	remap "github.com/checkpoint-restore/go-criu/v8/crit/images/remap-file-path"
	"google.golang.org/protobuf/proto"
)

// HeldPath is a file-system path the checkpointed tree held: an open file or directory, a
// mapped file, its executable, its cwd/root, or a bound unix socket. CRIU reopens (or re-binds)
// each of them by name at restore, so each must exist inside the sandbox.
type HeldPath struct {
	Path string
	// Kind is "file", "dir", "socket" (a bound unix socket: re-bound at restore) or "ghost"
	// (deleted; its contents are in the images, only its directory must exist).
	Kind string
	// Mapped is set for the executable and mmap'ed files: their contents are not in the
	// checkpoint, so they cannot be recreated when missing.
	Mapped bool
	Size   int64
	Mode   uint32
	// BuildID is the ELF build-id CRIU recorded for a mapped file (hex), empty when none.
	BuildID string
}

// VMA status bits (criu/include/image.h).
const (
	vmaFileShared  = 1 << 1
	vmaFilePrivate = 1 << 2
	vmaMemfd       = 1 << 14
)

// decodeImage reads one CRIU image file into its entries.
func decodeImage(path string, entry proto.Message) ([]proto.Message, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := crit.New(f, nil, "", false, false).Decode(entry)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", filepath.Base(path), err)
	}
	out := make([]proto.Message, 0, len(img.Entries))
	for _, e := range img.Entries {
		out = append(out, e.Message)
	}
	return out, nil
}

// HeldPaths lists what the CRIU images in dir will reopen by path, sorted by path. CRIU 4.x
// keeps every file description in files.img (older images in reg-files.img/unixsk.img are not
// supported here: restore needs criu >= 4.2 images anyway).
func HeldPaths(dir string) ([]HeldPath, error) {
	files, err := decodeImage(filepath.Join(dir, "files.img"), &fdinfo.FileEntry{})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrImages, err)
	}
	mapped := map[uint32]bool{}
	mms, _ := filepath.Glob(filepath.Join(dir, "mm-*.img"))
	for _, p := range mms {
		ents, err := decodeImage(p, &mm.MmEntry{})
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrImages, err)
		}
		for _, e := range ents {
			m := e.(*mm.MmEntry)
			mapped[m.GetExeFileId()] = true
			for _, v := range m.GetVmas() {
				if v.GetStatus()&(vmaFileShared|vmaFilePrivate) != 0 && v.GetStatus()&vmaMemfd == 0 {
					mapped[uint32(v.GetShmid())] = true
				}
			}
		}
	}
	ghosts := map[uint32]bool{}
	if ents, err := decodeImage(filepath.Join(dir, "remap-fpath.img"), &remap.RemapFilePathEntry{}); err == nil {
		for _, e := range ents {
			r := e.(*remap.RemapFilePathEntry)
			if r.GetRemapType() != remap.RemapType_PROCFS {
				ghosts[r.GetOrigId()] = true
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %v", ErrImages, err)
	}
	byPath := map[string]HeldPath{}
	add := func(h HeldPath) {
		h.Path = filepath.Clean(h.Path)
		if old, ok := byPath[h.Path]; ok {
			h.Mapped = h.Mapped || old.Mapped
			if old.Kind == "socket" {
				h.Kind = old.Kind
			}
		}
		byPath[h.Path] = h
	}
	for _, e := range files {
		fe := e.(*fdinfo.FileEntry)
		switch {
		case fe.GetReg() != nil:
			r := fe.GetReg()
			name := r.GetName()
			if !strings.HasPrefix(name, "/") {
				continue // relative to a mount CRIU resolves itself
			}
			kind := "file"
			if fs.FileMode(r.GetMode()).IsDir() || r.GetMode()&0o170000 == 0o040000 {
				kind = "dir"
			}
			if ghosts[r.GetId()] {
				kind = "ghost"
				name = strings.TrimSuffix(name, " (deleted)")
			}
			add(HeldPath{Path: name, Kind: kind, Mapped: mapped[r.GetId()], Size: int64(r.GetSize()), Mode: r.GetMode(),
				BuildID: buildIDHex(r.GetBuildId())})
		case fe.GetUsk() != nil:
			u := fe.GetUsk()
			name := string(u.GetName())
			if name == "" || name[0] == 0 { // unbound or abstract: nothing on disk
				continue
			}
			name = strings.TrimRight(name, "\x00")
			if !strings.HasPrefix(name, "/") {
				if u.GetNameDir() == "" {
					continue
				}
				name = filepath.Join(u.GetNameDir(), name)
			}
			kind := "socket"
			if u.GetDeleted() {
				kind = "ghost"
			}
			add(HeldPath{Path: name, Kind: kind})
		}
	}
	out := make([]HeldPath, 0, len(byPath))
	for _, h := range byPath {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// Plan is how a sandbox gives the restored tree its held paths inside its private root
// (RootLayout): each directory in Overlays is an overlay, inside the sandbox's mount namespace
// only, whose lower layer is the host directory and whose upper layer lives on the sandbox's
// own tmpfs; paths missing on the host are recreated there; ReadOnly files are bound read-only.
// Nothing else of the host file system is in the sandbox's root but the read-only system
// directories (SystemDirs).
type Plan struct {
	Overlays []string
	// Create are paths to recreate privately (missing on the host, not mapped), or whose host
	// file has another size or mode than recorded (given those in the private copy).
	Create []HeldPath
	// Binds are held files supplied from elsewhere (--file HELD=LOCAL), bound read-only over
	// the held path inside the sandbox.
	Binds map[string]string
	// Dirs are directories of held paths that do not exist on the host: made in the private
	// root (for sockets and deleted files, whose directory must exist).
	Dirs []string
	// ReadOnly are files the tree had mapped (its executable, libraries) that exist on the host
	// outside SystemDirs and outside every overlay: bound read-only at their path.
	ReadOnly []string
}

// ErrHeldPath is wrapped when a held path cannot be given to the restored tree.
var ErrHeldPath = errors.New("a path the process held cannot be recreated")

// ErrImages is wrapped when the CRIU images cannot be read.
var ErrImages = errors.New("unreadable CRIU images")

// SystemDirs are bound read-only (nosuid, nodev) into every bare-image sandbox's root so that
// the restored programs' libraries and the tools of `sandbox enter` are there; a symlink (a
// merged /usr) is recreated as the same symlink.
var SystemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

func inSystemDir(p string) bool {
	for _, d := range SystemDirs {
		if within(p, d) {
			return true
		}
	}
	return false
}

// MakePlan decides how the sandbox's private root gives the restored tree the paths it held.
// Where the state directory lives does not matter: the overlays' upper layers are on a tmpfs of
// the sandbox's own, never under a held directory.
func MakePlan(held []HeldPath, files map[string]string) (*Plan, error) {
	p := &Plan{Binds: map[string]string{}}
	dirs := map[string]bool{}
	var ro []string
	for _, h := range held {
		if isSystemDir(h.Path) {
			continue // devices, /proc and /sys: the sandbox's own (RootLayout)
		}
		if h.Path == "/" {
			continue // the cwd or root at dump time: the sandbox's private root
		}
		dir := filepath.Dir(h.Path)
		if src, ok := files[h.Path]; ok {
			st, err := os.Stat(src)
			if err != nil || !st.Mode().IsRegular() {
				return nil, fmt.Errorf("%w: --file %s=%s: not a regular file", ErrHeldPath, h.Path, src)
			}
			if h.BuildID != "" {
				if got, err := elfBuildID(src); err == nil && got != h.BuildID {
					return nil, fmt.Errorf("%w: --file %s=%s has ELF build-id %q, the process had %s mapped", ErrHeldPath, h.Path, src, got, h.BuildID)
				}
			}
			p.Binds[h.Path] = src
			continue
		}
		exists := false
		if st, err := os.Lstat(h.Path); err == nil {
			exists = true
			if h.Mapped && h.BuildID != "" {
				if got, err := elfBuildID(h.Path); err == nil && got != "" && got != h.BuildID {
					return nil, fmt.Errorf("%w: %s on this host is a different build (ELF build-id %s) from the one the process had mapped (%s); CRIU refuses to map it: supply the original with --file PATH=COPY", ErrHeldPath, h.Path, got, h.BuildID)
				}
			}
			if st.Mode()&(fs.ModeDevice|fs.ModeCharDevice) != 0 {
				continue // a device outside /dev: not given (only the sandbox's own /dev)
			}
			if h.Mapped {
				if !inSystemDir(h.Path) {
					ro = append(ro, h.Path) // only read: bound read-only
				}
				continue
			}
			if h.Kind == "dir" {
				dir = h.Path
			}
			if h.Kind == "file" && st.Mode().IsRegular() && (st.Size() != h.Size || h.Mode != 0 && uint32(st.Mode().Perm()) != h.Mode&0o777) {
				// CRIU refuses a file whose size or mode differs from the recorded ones: the
				// private copy gets them (the host's file is untouched)
				p.Create = append(p.Create, h)
			}
		}
		if !exists {
			switch {
			case h.Mapped:
				return nil, fmt.Errorf("%w: %s is mapped by the process (its executable or a library) and is not on this host; its contents are not in the checkpoint: supply the same build with --file PATH=COPY, or restore the container archive with --rootfs", ErrHeldPath, h.Path)
			case h.Kind == "file" || h.Kind == "dir":
				p.Create = append(p.Create, h)
			}
		}
		anc, err := existingAncestor(dir)
		if err != nil {
			return nil, err
		}
		if anc == dir {
			dirs[dir] = true // the host's directory, as a private copy
		} else {
			// missing on the host: made in the private root only, nothing of the host's
			// parent directories is shown
			p.Dirs = append(p.Dirs, dir)
		}
	}
	var all []string
	for d := range dirs {
		all = append(all, d)
	}
	sort.Strings(all)
	for _, d := range all {
		covered := false
		for _, o := range p.Overlays {
			if within(d, o) {
				covered = true
				break
			}
		}
		if !covered {
			p.Overlays = append(p.Overlays, d)
		}
	}
	sort.Strings(ro)
	p.ReadOnly = ro
	sort.Strings(p.Dirs)
	return p, nil
}

// within says whether p is d or below it.
func within(p, d string) bool {
	return p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/")
}

func existingAncestor(p string) (string, error) {
	for {
		st, err := os.Stat(p)
		if err == nil {
			if !st.IsDir() {
				return "", fmt.Errorf("%w: %s is not a directory on this host", ErrHeldPath, p)
			}
			return p, nil
		}
		if p == "/" {
			return "/", nil
		}
		p = filepath.Dir(p)
	}
}

// isSystemDir says whether p is a kernel file system the sandbox gets as it is (/proc, /sys,
// /dev): never overlaid.
func isSystemDir(p string) bool {
	return within(p, "/proc") || within(p, "/sys") || within(p, "/dev")
}

// buildIDHex renders CRIU's build-id words (the note's bytes packed little-endian into
// uint32s, criu/files-reg.c) as the usual hex string.
func buildIDHex(words []uint32) string {
	if len(words) == 0 {
		return ""
	}
	b := make([]byte, 0, 4*len(words))
	for _, w := range words {
		b = append(b, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	}
	return hex.EncodeToString(b)
}

// elfBuildID returns the GNU build-id of an ELF file (hex), empty when it has none.
func elfBuildID(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE {
			continue
		}
		data, err := s.Data()
		if err != nil {
			continue
		}
		for len(data) >= 12 {
			nsz := binary.LittleEndian.Uint32(data[0:4])
			dsz := binary.LittleEndian.Uint32(data[4:8])
			typ := binary.LittleEndian.Uint32(data[8:12])
			off := 12 + int(nsz+3)&^3
			end := off + int(dsz)
			if end > len(data) || off > len(data) {
				break
			}
			if typ == 3 && nsz == 4 && string(data[12:15]) == "GNU" { // NT_GNU_BUILD_ID
				return hex.EncodeToString(data[off:end]), nil
			}
			data = data[(end+3)&^3:]
		}
	}
	return "", nil
}

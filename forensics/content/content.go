// Package content lists, reads and attributes the contents of every object a checkpoint
// saved besides process memory: deleted files kept open (CRIU ghost files), memfd and shared
// memory contents, files of tmpfs mounts and of the container's /dev/shm, unread pipe and
// socket data, and the files of the container's rootfs changes. Each object says which
// processes and descriptors hold it. Files the processes held whose contents CRIU did not save
// (external bind mounts such as volumes or a runtime's /dev/shm, unchanged image files) are
// listed too, with the reason, so that nothing is silently missing.
//
// Contents are never loaded whole: every object is read through an io.ReaderAt on the archive
// (compressed tars are first decompressed into a bounded, unlinked spool file in the cache
// directory). Attach adds the file-like objects to a memory.Memory so that memory searches and
// string scans (memsearch, indicators, rules, YARA) cover them too.
//
// It imports the forensics model, forensics/archive, forensics/criu and forensics/memory; never
// k8s.io/..., charm.land/... or cmd/tui packages.
package content

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/memory"
)

// Object kinds (as memory names them, where it has them). KindFile is a file a process held whose contents are not in the checkpoint.
const (
	KindGhost  = memory.KindGhost
	KindMemfd  = memory.KindMemfd
	KindShmem  = memory.KindShmem
	KindTmpfs  = memory.KindTmpfs
	KindDevshm = memory.KindDevshm
	KindPipe   = memory.KindPipe
	KindSocket = memory.KindSocket
	KindRootfs = memory.KindRootfs
	KindFile   = "file"
	// KindMount is an external mount (a volume, the runtime's /dev/shm) whose files CRIU did
	// not save.
	KindMount = "mount"
)

// Kinds returns every object kind, in the order `files ls --kind` documents them.
func Kinds() []string {
	return []string{KindGhost, KindMemfd, KindShmem, KindDevshm, KindTmpfs, KindPipe, KindSocket, KindRootfs, KindFile, KindMount}
}

// Object is one saved (or not saved) content.
type Object struct {
	// ID identifies the object in this checkpoint: "KIND:NAME", such as
	// "ghost:/work/deleted-evidence.bin", "memfd:payload", "pipe:[1234]",
	// "socket:[5678]/recv", "rootfs:/tmp/.x/miner", "devshm:/dev/shm/x", "file:/data/db".
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Path is the object's path in the container (files) or its name (memfd, pipe, socket).
	Path string `json:"path"`
	// Size is the content's size in bytes; for memfd and shmem the extent of the saved pages.
	Size int64 `json:"size"`
	// Saved says the checkpoint holds the content; Note says why not, or what is partial.
	Saved bool   `json:"saved"`
	Note  string `json:"note,omitempty"`
	// Mode ("-rwxr-xr-x") and ModTime are known for files.
	Mode    string    `json:"mode,omitempty"`
	ModTime time.Time `json:"mtime,omitzero"`
	// Source is the checkpoint member that holds the content ("ghost-file-1.img",
	// "rootfs-diff.tar", "pages-1.img", ...).
	Source string `json:"source,omitempty"`
	// Holders are the processes that map the object or hold a descriptor for it.
	Holders []memory.Holder `json:"holders,omitempty"`

	r    io.ReaderAt
	mobj *memory.Object // the memory object for memfd, shmem, pipe and socket
}

// Reader returns a reader of the whole content, or nil when the content was not saved. Pages
// of a memfd or shmem object the checkpoint does not hold read as zeros.
func (o *Object) Reader() *io.SectionReader {
	if !o.Saved || o.r == nil {
		return nil
	}
	return io.NewSectionReader(o.r, 0, o.Size)
}

// Executable reports whether the content starts like something a process can run: an ELF
// header or a "#!" script line. It reads only the first bytes.
func (o *Object) Executable() (what string, ok bool) {
	r := o.Reader()
	if r == nil {
		return "", false
	}
	var b [4]byte
	n, _ := r.ReadAt(b[:], 0)
	return Magic(b[:n])
}

// Magic reports whether b (the first bytes of a content) starts an executable: "ELF" or
// "script".
func Magic(b []byte) (string, bool) {
	switch {
	case len(b) >= 4 && string(b[:4]) == "\x7fELF":
		return "ELF", true
	case len(b) >= 2 && string(b[:2]) == "#!":
		return "script", true
	}
	return "", false
}

// Set is every content object of one checkpoint.
type Set struct {
	// Objects are sorted by kind, then ID.
	Objects []*Object `json:"objects"`
	// Warnings name what could not be listed or read (damaged images, limits).
	Warnings []string `json:"warnings,omitempty"`
	spools   []*os.File
}

// Close releases the spool files of decompressed tars.
func (s *Set) Close() error {
	var errs []error
	for _, f := range s.spools {
		errs = append(errs, f.Close())
	}
	s.spools = nil
	return errors.Join(errs...)
}

// Saved returns the objects whose content is in the checkpoint.
func (s *Set) Saved() []*Object {
	var out []*Object
	for _, o := range s.Objects {
		if o.Saved {
			out = append(out, o)
		}
	}
	return out
}

// ErrNoObject is returned by Find for a reference that names no object (or several).
var ErrNoObject = errors.New("no such object")

// Find resolves a reference to one object: its ID, its 1-based number in Objects, or a path
// (or unique path suffix) of a file object.
func (s *Set) Find(ref string) (*Object, error) {
	for _, o := range s.Objects {
		if o.ID == ref {
			return o, nil
		}
	}
	if n, err := strconv.Atoi(ref); err == nil {
		if n >= 1 && n <= len(s.Objects) {
			return s.Objects[n-1], nil
		}
		return nil, fmt.Errorf("%w: number %d (there are %d)", ErrNoObject, n, len(s.Objects))
	}
	var hits []*Object
	for _, o := range s.Objects {
		if o.Path == ref || strings.HasSuffix(o.Path, "/"+strings.TrimPrefix(ref, "/")) {
			hits = append(hits, o)
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		return nil, fmt.Errorf("%w: %q (see 'files ls')", ErrNoObject, ref)
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	return nil, fmt.Errorf("%w: %q is ambiguous: %s", ErrNoObject, ref, strings.Join(ids, ", "))
}

// Attach adds the file-like objects (ghost, tmpfs, devshm and rootfs files) that are saved to
// mem, so that searches and string scans over mem cover them; memfd, shmem, pipe and socket
// objects are mem's own already. Attaching twice adds nothing.
func (s *Set) Attach(mem *memory.Memory) {
	if mem == nil {
		return
	}
	have := map[string]bool{}
	for _, o := range mem.Objects {
		have[o.Name] = true
	}
	var add []*memory.Object
	for i, o := range s.Objects {
		if !o.Saved || o.mobj != nil || o.r == nil || have[o.ID] {
			continue
		}
		add = append(add, &memory.Object{Kind: o.Kind, Name: o.ID, ID: uint64(i), Content: o.r, ContentSize: o.Size, Holders: o.Holders})
	}
	mem.AddObjects(add...)
}

func (s *Set) warnf(format string, args ...any) {
	s.Warnings = append(s.Warnings, fmt.Sprintf(format, args...))
}

func (s *Set) sort() {
	order := map[string]int{KindGhost: 0, KindMemfd: 1, KindShmem: 2, KindDevshm: 3, KindTmpfs: 4, KindPipe: 5, KindSocket: 6, KindRootfs: 7, KindFile: 8, KindMount: 9}
	slices.SortStableFunc(s.Objects, func(x, y *Object) int {
		return cmp.Or(cmp.Compare(order[x.Kind], order[y.Kind]), cmp.Compare(x.ID, y.ID))
	})
}

// holdersOf returns the processes that hold path open, map it, or run it.
func holdersOf(cp *forensics.Checkpoint, p string, deleted bool) []memory.Holder {
	var hs []memory.Holder
	for _, pr := range cp.Processes {
		for _, fd := range pr.FDs {
			if fd.Type == forensics.FDRegular && cleanPath(fd.Path) == p && (!deleted || fd.Deleted) {
				hs = append(hs, memory.Holder{PID: pr.PID, Comm: pr.Comm, FD: fd.FD})
			}
		}
		seen := false
		for i := range pr.Maps {
			v := pr.Maps[i]
			if v.Kind == "file" && cleanPath(v.Path) == p && !seen {
				hs = append(hs, memory.Holder{PID: pr.PID, Comm: pr.Comm, FD: -1, VMA: &v})
				seen = true
			}
		}
		if !seen && pr.Exe != "" && cleanPath(pr.Exe) == p {
			hs = append(hs, memory.Holder{PID: pr.PID, Comm: pr.Comm, FD: -1})
		}
	}
	return hs
}

// cleanPath drops a " (deleted)" suffix and cleans the path.
func cleanPath(p string) string {
	p = strings.TrimSuffix(p, " (deleted)")
	if p == "" {
		return ""
	}
	return path.Clean(p)
}

package memory

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
)

// Object kinds: contents that are evidence but not in a process's private pages.
const (
	KindMemory = "memory" // a process's private pages (pagemap-PID.img)
	KindShmem  = "shmem"  // shared anonymous memory (pagemap-shmem-ID.img)
	KindMemfd  = "memfd"  // memfd contents (also pagemap-shmem-ID.img, named by memfd.img)
	KindPipe   = "pipe"   // unread pipe buffer (pipes-data.img)
	KindSocket = "socket" // queued socket data (sk-queues.img, tcp-stream-*.img)
	// File-like contents added by forensics/content (AddObjects): read on demand through
	// Object.Content, never loaded whole.
	KindGhost  = "ghost"  // a deleted file kept open, saved by CRIU (ghost-file-ID.img)
	KindTmpfs  = "tmpfs"  // a file of a tmpfs mount CRIU saved (tmpfs-dev-ID.tar.gz.img)
	KindDevshm = "devshm" // a file of the container's /dev/shm (devshm-checkpoint.tar)
	KindRootfs = "rootfs" // a file of the container's rootfs changes (rootfs-diff.tar)
)

// Memory is the readable memory of one checkpoint: every process's address space and the
// shared objects (shmem, memfd, pipe buffers, socket queues) with the processes holding them.
type Memory struct {
	// Procs is every process with its page index, sorted by PID.
	Procs []*Proc
	// Objects are the shared memory objects and buffered data, sorted by kind and name.
	Objects []*Object
	// Warnings name what could not be indexed (bad pagemaps, missing images, VMAs that
	// contradict the pagemap). Memory with warnings is still usable for what was indexed.
	Warnings []string
}

// Index is the name the design uses for the per-checkpoint page index: the same type as Memory.
type Index = Memory

// Proc is one process's address space.
type Proc struct {
	PID  int
	Comm string
	// Maps are the process's VMAs, sorted by address.
	Maps []forensics.VMA
	// Private indexes pagemap-PID.img; nil when it could not be built (then Err says why).
	Private *Pages
	Err     error
	// Format is the pagemap encoding: "nr_pages" (criu >= 4.2) or "compat_nr_pages".
	Format string
	// shared are the VMAs that map a shared object (shmem, memfd).
	shared []mapping
}

// mapping is a VMA of a process that maps a shared object at the VMA's file offset.
type mapping struct {
	vma forensics.VMA
	obj *Object
}

// Object is a shared memory object or a data buffer.
type Object struct {
	// Kind is KindShmem, KindMemfd, KindPipe or KindSocket.
	Kind string
	// Name identifies it: "shmem:ID", "memfd:NAME", "pipe:[ID]", "socket:[INO] recv queue".
	Name string
	ID   uint64
	// Pages indexes shmem and memfd contents (addresses are offsets in the object); Data holds
	// pipe and socket buffers (small: bounded by the kernel's buffer sizes).
	Pages *Pages
	Data  []byte
	// Content and ContentSize give file-like contents (ghost, tmpfs, devshm, rootfs objects),
	// read on demand; Content is nil for the other kinds.
	Content     io.ReaderAt
	ContentSize int64
	// Holders are the processes that map it or hold a descriptor for it.
	Holders []Holder
}

// Holder is a process that maps an object or holds a descriptor for it.
type Holder struct {
	PID  int    `json:"pid"`
	Comm string `json:"comm,omitempty"`
	// FD is the descriptor, -1 when the object is only mapped.
	FD int `json:"fd"`
	// VMA is the mapping of the object, nil when it is not mapped.
	VMA *forensics.VMA `json:"vma,omitempty"`
}

// Size is the object's size in bytes (the extent of its indexed pages for shmem).
func (o *Object) Size() uint64 {
	if o.Pages != nil {
		_, e := o.Pages.Bounds()
		return e
	}
	if o.Content != nil {
		return uint64(o.ContentSize)
	}
	return uint64(len(o.Data))
}

// ReadAt reads the object's contents at offset off.
func (o *Object) ReadAt(b []byte, off uint64) (int, error) {
	if o.Pages != nil {
		return o.Pages.ReadAt(b, off)
	}
	if o.Content != nil {
		return o.readContent(b, off)
	}
	if off >= uint64(len(o.Data)) {
		if len(b) == 0 {
			return 0, nil
		}
		return 0, &UnreadableError{Addr: off, Reason: "past the end of the buffer"}
	}
	n := copy(b, o.Data[off:])
	if n < len(b) {
		return n, &UnreadableError{Addr: off + uint64(n), Reason: "past the end of the buffer"}
	}
	return n, nil
}

// present returns the object's extents with contents.
func (o *Object) present() []Extent {
	if o.Pages != nil {
		s, e := o.Pages.Bounds()
		return o.Pages.Present(s, e)
	}
	if o.Content != nil {
		if o.ContentSize <= 0 {
			return nil
		}
		return []Extent{{Start: 0, End: uint64(o.ContentSize)}}
	}
	if len(o.Data) == 0 {
		return nil
	}
	return []Extent{{Start: 0, End: uint64(len(o.Data))}}
}

func (o *Object) reader() io.ReaderAt {
	if o.Pages != nil {
		return o.Pages.Reader()
	}
	if o.Content != nil {
		return o.Content
	}
	return bytes.NewReader(o.Data)
}

func (o *Object) readContent(b []byte, off uint64) (int, error) {
	size := uint64(max(o.ContentSize, 0))
	if off >= size {
		if len(b) == 0 {
			return 0, nil
		}
		return 0, &UnreadableError{Addr: off, Reason: "past the end of the file"}
	}
	want := min(uint64(len(b)), size-off)
	n, err := o.Content.ReadAt(b[:want], int64(off))
	if n < int(want) {
		if err == nil || errors.Is(err, io.EOF) {
			err = &UnreadableError{Addr: off + uint64(n), Reason: "short read of the saved file"}
		}
		return n, err
	}
	if want < uint64(len(b)) {
		return n, &UnreadableError{Addr: off + want, Reason: "past the end of the file"}
	}
	return n, nil
}

// AddObjects adds file-like objects (ghost files, tmpfs, /dev/shm and rootfs files: see
// forensics/content) so that searches and string scans cover them too. Objects keep the
// order kind, id, name.
func (m *Memory) AddObjects(objs ...*Object) {
	m.Objects = append(m.Objects, objs...)
	slices.SortStableFunc(m.Objects, func(x, y *Object) int {
		return cmp.Or(cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.ID, y.ID), cmp.Compare(x.Name, y.Name))
	})
}

// Proc returns the process with the given PID, or nil.
func (m *Memory) Proc(pid int) *Proc {
	i := sort.Search(len(m.Procs), func(i int) bool { return m.Procs[i].PID >= pid })
	if i < len(m.Procs) && m.Procs[i].PID == pid {
		return m.Procs[i]
	}
	return nil
}

// ReadAt reads process pid's memory at addr; see Proc.ReadAt.
func (m *Memory) ReadAt(pid int, addr uint64, b []byte) (int, error) {
	p := m.Proc(pid)
	if p == nil {
		return 0, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
	}
	return p.ReadAt(b, addr)
}

// VMA returns the mapping containing addr, or nil.
func (p *Proc) VMA(addr uint64) *forensics.VMA {
	i := sort.Search(len(p.Maps), func(i int) bool { return p.Maps[i].End > addr })
	if i < len(p.Maps) && p.Maps[i].Start <= addr {
		return &p.Maps[i]
	}
	return nil
}

func (p *Proc) sharedAt(addr uint64) *mapping {
	for i := range p.shared {
		if p.shared[i].vma.Start <= addr && addr < p.shared[i].vma.End {
			return &p.shared[i]
		}
	}
	return nil
}

// nextShared returns the start of the first shared mapping above addr (or max uint64).
func (p *Proc) nextShared(addr uint64) uint64 {
	n := ^uint64(0)
	for _, s := range p.shared {
		if s.vma.Start > addr && s.vma.Start < n {
			n = s.vma.Start
		}
	}
	return n
}

// ReadAt reads len(b) bytes of the process's memory at addr: private pages from its pages
// image, shared mappings from the shmem/memfd object they map. It stops at the first byte the
// checkpoint does not hold, returning an *UnreadableError with the reason.
func (p *Proc) ReadAt(b []byte, addr uint64) (int, error) {
	n := 0
	for n < len(b) {
		a := addr + uint64(n)
		if sm := p.sharedAt(a); sm != nil {
			want := min(uint64(len(b)-n), sm.vma.End-a)
			m, err := sm.obj.ReadAt(b[n:n+int(want)], a-sm.vma.Start+sm.vma.Offset)
			n += m
			if err != nil {
				return n, fmt.Errorf("%s mapped at 0x%x: %w", sm.obj.Name, sm.vma.Start, err)
			}
			continue
		}
		if p.Private == nil {
			return n, fmt.Errorf("pid %d: no page index: %w", p.PID, p.Err)
		}
		want := min(uint64(len(b)-n), p.nextShared(a)-a)
		m, err := p.Private.ReadAt(b[n:n+int(want)], a)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Resident returns how many bytes of [start, end) of the process the checkpoint holds.
func (p *Proc) Resident(start, end uint64) uint64 {
	if sm := p.sharedAt(start); sm != nil && sm.obj.Pages != nil {
		off := start - sm.vma.Start + sm.vma.Offset
		return sm.obj.Pages.Resident(off, off+(min(end, sm.vma.End)-start))
	}
	if p.Private == nil {
		return 0
	}
	return p.Private.Resident(start, end)
}

// Region describes a VMA for output and filtering: "heap", "stack", "anon", "shmem",
// "memfd:NAME", "file:/path", with " (deleted)" for unlinked files.
func Region(v *forensics.VMA) string {
	if v == nil {
		return "unmapped"
	}
	s := v.Kind
	switch v.Kind {
	case "file":
		s = "file:" + v.Path
	case "memfd":
		s = "memfd"
		if v.Path != "" {
			s = v.Path
			if !strings.HasPrefix(s, "memfd:") {
				s = "memfd:" + s
			}
		}
	}
	if v.Deleted && !strings.HasSuffix(s, "(deleted)") {
		s += " (deleted)"
	}
	return s
}

// Range is a range of addresses.
type Range struct{ Start, End uint64 }

// Readable returns the ranges of [start, end) whose contents the checkpoint holds, merged and
// sorted: private pages and the resident parts of mapped shmem/memfd objects.
func (p *Proc) Readable(start, end uint64) []Range {
	var rs []Range
	add := func(s, e uint64) {
		if s >= e {
			return
		}
		if n := len(rs); n > 0 && rs[n-1].End == s {
			rs[n-1].End = e
			return
		}
		rs = append(rs, Range{s, e})
	}
	type piece struct{ s, e uint64 }
	var pieces []piece
	for _, sm := range p.shared {
		s, e := max(start, sm.vma.Start), min(end, sm.vma.End)
		if s >= e || sm.obj.Pages == nil {
			continue
		}
		for _, x := range sm.obj.Pages.Present(s-sm.vma.Start+sm.vma.Offset, e-sm.vma.Start+sm.vma.Offset) {
			pieces = append(pieces, piece{x.Start - sm.vma.Offset + sm.vma.Start, x.End - sm.vma.Offset + sm.vma.Start})
		}
	}
	if p.Private != nil {
		for _, x := range p.Private.Present(start, end) {
			if p.sharedAt(x.Start) == nil {
				pieces = append(pieces, piece{x.Start, x.End})
			}
		}
	}
	slices.SortFunc(pieces, func(a, b piece) int { return cmp.Compare(a.s, b.s) })
	for _, x := range pieces {
		add(x.s, x.e)
	}
	return rs
}

// Why says why addr cannot be read (empty when it can).
func (p *Proc) Why(addr uint64) string {
	var b [1]byte
	_, err := p.ReadAt(b[:], addr)
	var ue *UnreadableError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ue):
		return ue.Reason
	default:
		return err.Error()
	}
}

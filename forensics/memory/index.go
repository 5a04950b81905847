package memory

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
)

// PageSize is CRIU's page size on x86-64 and the unit of pagemap entries (criu/include/page.h).
const PageSize = 4096

// Pagemap entry flags (criu/include/pagemap.h, images/pagemap.proto). Pages are in the pages
// image only when PE_PRESENT is set: PE_LAZY alone means the lazy-pages daemon serves them at
// restore, PE_PARENT that they are in the parent image of an incremental dump.
const (
	FlagParent  uint32 = 1
	FlagLazy    uint32 = 2
	FlagPresent uint32 = 4
)

// Errors of the page index. Each is wrapped with the entry or address it is about.
var (
	// ErrPagemapUnsorted: an entry starts below the previous one.
	ErrPagemapUnsorted = errors.New("pagemap entries are not sorted by address")
	// ErrPagemapOverlap: an entry starts inside the previous one.
	ErrPagemapOverlap = errors.New("pagemap entries overlap")
	// ErrPagemapPastEOF: the present pages need more bytes than the pages image has.
	ErrPagemapPastEOF = errors.New("pagemap entry points past the end of the pages image")
	// ErrPagemapEntry: an entry that cannot be valid (unaligned, empty, wrapping around).
	ErrPagemapEntry = errors.New("invalid pagemap entry")
	// ErrNotResident: the address has no contents in this checkpoint (see UnreadableError).
	ErrNotResident = errors.New("not in this checkpoint")
)

// Entry is one pagemap entry: NrPages pages starting at Vaddr, with PE_* flags. It mirrors
// criu.PagemapEntry so the index can be built (and fuzzed) without an archive.
type Entry struct {
	Vaddr   uint64
	NrPages uint64
	Flags   uint32
}

// run is one validated pagemap entry; off is its offset in the pages image, or -1 when its
// pages are not in the image.
type run struct {
	start, end uint64
	off        int64
	flags      uint32
}

// Pages is the index of one pages image: a process's private memory (pagemap-PID.img) or a
// shared memory object (pagemap-shmem-ID.img, where addresses are offsets in the object).
// It is built once and is safe for concurrent use.
type Pages struct {
	runs []run
	r    io.ReaderAt
	size int64
	// Warnings are problems that do not make reads wrong, such as unused trailing bytes.
	Warnings []string
}

// NewPages validates the pagemap entries against the pages image of size bytes read through r
// and builds the index. Entries must be sorted and must not overlap; the present pages must
// fit in the image. Any violation is an error: a wrong index would return wrong bytes.
func NewPages(entries []Entry, r io.ReaderAt, size int64) (*Pages, error) {
	p := &Pages{r: r, size: size, runs: make([]run, 0, len(entries))}
	var off int64
	for i, e := range entries {
		if e.NrPages == 0 || e.Vaddr%PageSize != 0 {
			return nil, fmt.Errorf("entry %d (vaddr 0x%x, %d pages): %w", i, e.Vaddr, e.NrPages, ErrPagemapEntry)
		}
		if e.NrPages > (math.MaxUint64-e.Vaddr)/PageSize || e.NrPages > math.MaxInt64/PageSize {
			return nil, fmt.Errorf("entry %d (vaddr 0x%x, %d pages): wraps around the address space: %w", i, e.Vaddr, e.NrPages, ErrPagemapEntry)
		}
		ln := e.NrPages * PageSize
		if n := len(p.runs); n > 0 {
			prev := p.runs[n-1]
			if e.Vaddr < prev.start {
				return nil, fmt.Errorf("entry %d (vaddr 0x%x) after 0x%x: %w", i, e.Vaddr, prev.start, ErrPagemapUnsorted)
			}
			if e.Vaddr < prev.end {
				return nil, fmt.Errorf("entry %d (0x%x-0x%x) overlaps 0x%x-0x%x: %w", i, e.Vaddr, e.Vaddr+ln, prev.start, prev.end, ErrPagemapOverlap)
			}
		}
		ru := run{start: e.Vaddr, end: e.Vaddr + ln, off: -1, flags: e.Flags}
		if e.Flags&FlagPresent != 0 {
			if off > size || int64(ln) > size-off {
				return nil, fmt.Errorf("entry %d (0x%x, %d pages) needs bytes %d-%d of a %d-byte pages image: %w",
					i, e.Vaddr, e.NrPages, off, off+int64(ln), size, ErrPagemapPastEOF)
			}
			ru.off = off
			off += int64(ln)
		}
		p.runs = append(p.runs, ru)
	}
	if off < size {
		p.Warnings = append(p.Warnings, fmt.Sprintf("pages image has %d bytes the pagemap does not use", size-off))
	}
	return p, nil
}

// UnreadableError says why an address cannot be read from this checkpoint.
type UnreadableError struct {
	Addr   uint64
	Reason string
}

func (e *UnreadableError) Error() string {
	return fmt.Sprintf("0x%x: %s: %s", e.Addr, ErrNotResident, e.Reason)
}

// Unwrap makes errors.Is(err, ErrNotResident) true.
func (e *UnreadableError) Unwrap() error { return ErrNotResident }

// Reasons for unreadable pages.
const (
	ReasonParent     = "in the parent image (incremental dump)"
	ReasonLazy       = "lazy page, served by the lazy-pages daemon at restore"
	ReasonNotDumped  = "not dumped (never touched, or a clean file-backed page)"
	ReasonNotPresent = "pagemap entry without PE_PRESENT"
)

func (r run) reason() string {
	switch {
	case r.flags&FlagParent != 0:
		return ReasonParent
	case r.flags&FlagLazy != 0:
		return ReasonLazy
	default:
		return ReasonNotPresent
	}
}

// find returns the index of the run containing addr, or of the first run after it.
func (p *Pages) find(addr uint64) int {
	return sort.Search(len(p.runs), func(i int) bool { return p.runs[i].end > addr })
}

// ReadAt reads len(b) bytes at address addr. It stops at the first byte the checkpoint does not
// hold and returns how much it read with an *UnreadableError naming the reason.
func (p *Pages) ReadAt(b []byte, addr uint64) (int, error) {
	n := 0
	for n < len(b) {
		a := addr + uint64(n)
		if a < addr { // wrapped
			return n, &UnreadableError{Addr: a, Reason: ReasonNotDumped}
		}
		i := p.find(a)
		if i == len(p.runs) || p.runs[i].start > a {
			return n, &UnreadableError{Addr: a, Reason: ReasonNotDumped}
		}
		ru := p.runs[i]
		if ru.off < 0 {
			return n, &UnreadableError{Addr: a, Reason: ru.reason()}
		}
		want := min(uint64(len(b)-n), ru.end-a)
		m, err := p.r.ReadAt(b[n:n+int(want)], ru.off+int64(a-ru.start))
		n += m
		if m < int(want) {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return n, fmt.Errorf("read pages at 0x%x: %w", a+uint64(m), err)
		}
	}
	return n, nil
}

// Resident returns how many bytes of [start, end) the pages image holds.
func (p *Pages) Resident(start, end uint64) uint64 {
	var t uint64
	for i := p.find(start); i < len(p.runs) && p.runs[i].start < end; i++ {
		ru := p.runs[i]
		if ru.off < 0 {
			continue
		}
		t += min(end, ru.end) - max(start, ru.start)
	}
	return t
}

// Extent is a range of addresses with contents: Start..End is read at Off in the pages image.
type Extent struct {
	Start, End uint64
	Off        int64
}

// Present returns the present extents that intersect [start, end), clipped to it, with adjacent
// extents merged (they are contiguous in memory and, because CRIU writes the pages in address
// order, usually in the image too; merging is done on addresses only).
func (p *Pages) Present(start, end uint64) []Extent {
	var out []Extent
	for i := p.find(start); i < len(p.runs) && p.runs[i].start < end; i++ {
		ru := p.runs[i]
		if ru.off < 0 {
			continue
		}
		s, e := max(start, ru.start), min(end, ru.end)
		out = append(out, Extent{Start: s, End: e, Off: ru.off + int64(s-ru.start)})
	}
	return out
}

// Gap is a range of addresses the pagemap lists but whose pages are not in the image.
type Gap struct {
	Start, End uint64
	Reason     string
}

// Missing returns the pagemap ranges in [start, end) without contents in this image.
func (p *Pages) Missing(start, end uint64) []Gap {
	var out []Gap
	for i := p.find(start); i < len(p.runs) && p.runs[i].start < end; i++ {
		ru := p.runs[i]
		if ru.off >= 0 {
			continue
		}
		out = append(out, Gap{Start: max(start, ru.start), End: min(end, ru.end), Reason: ru.reason()})
	}
	return out
}

// Bounds returns the lowest and highest address the pagemap mentions (0, 0 when empty).
func (p *Pages) Bounds() (uint64, uint64) {
	if len(p.runs) == 0 {
		return 0, 0
	}
	return p.runs[0].start, p.runs[len(p.runs)-1].end
}

// Size is the size of the pages image in bytes.
func (p *Pages) Size() int64 { return p.size }

// Reader is the pages image itself.
func (p *Pages) Reader() io.ReaderAt { return p.r }

package criu

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/checkpoint-restore/go-criu/v8/crit/images/pagemap"

	"github.com/podsleuth/podsleuth/forensics/archive"
)

// Pagemap entry flags (criu/include/pagemap.h).
const (
	PE_PARENT  = 1 << 0 // the pages are in the parent (pre-dump) image
	PE_LAZY    = 1 << 1 // the pages are served lazily
	PE_PRESENT = 1 << 2 // the pages are in this image's pages file
)

// PageSize is the page size of the images (x86_64, arm64 4K kernels).
const PageSize = 4096

// Pagemap encodings.
const (
	FormatNrPages       = "nr_pages"        // criu >= 4.2: field 5, field 2 is 0
	FormatCompatNrPages = "compat_nr_pages" // older criu: field 2 only
)

// PagemapEntry is one run of pages of a pagemap image.
type PagemapEntry struct {
	Vaddr, NrPages uint64
	Flags          uint32
}

// End is the address after the run.
func (e PagemapEntry) End() uint64 { return e.Vaddr + e.NrPages*PageSize }

// Present says whether the run's pages are stored in this image's pages file.
func (e PagemapEntry) Present() bool { return e.Flags&PE_PRESENT != 0 }

// ReadPagemap decodes a pagemap-*.img (pagemap head, then entries), handling both encodings:
// criu >= 4.2 writes the page count to field 5 nr_pages and 0 to field 2 compat_nr_pages;
// older criu writes field 2 only. format is FormatNrPages or FormatCompatNrPages ("" when
// there are no entries). Images without flags (very old criu) get PE_PARENT or PE_PRESENT from
// in_parent, as criu itself does on restore.
func ReadPagemap(r io.ReaderAt, size int64) (pagesID uint32, entries []PagemapEntry, format string, err error) {
	return readPagemap("pagemap", r, size)
}

func readPagemap(name string, r io.ReaderAt, size int64) (pagesID uint32, entries []PagemapEntry, format string, err error) {
	ir, err := NewReader(name, r, size)
	if err != nil {
		return 0, nil, "", err
	}
	if ir.Magic != "PAGEMAP" && ir.Magic != "SHMEM_PAGEMAP" {
		return 0, nil, "", fmt.Errorf("%s: %w: magic %s, want PAGEMAP", name, ErrBadImage, ir.Magic)
	}
	var head pagemap.PagemapHead
	if err := ir.Next(&head); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, nil, "", fmt.Errorf("%s: %w: no pagemap head", name, ErrBadImage)
		}
		return 0, nil, "", err
	}
	pagesID = head.GetPagesId()
	var prevEnd uint64
	for {
		var pe pagemap.PagemapEntry
		err := ir.Next(&pe)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return pagesID, entries, format, err
		}
		e := PagemapEntry{Vaddr: pe.GetVaddr(), Flags: pe.GetFlags()}
		if pe.NrPages != nil {
			e.NrPages = pe.GetNrPages()
			if format == "" {
				format = FormatNrPages
			}
		} else {
			e.NrPages = uint64(pe.GetCompatNrPages())
			if format == "" {
				format = FormatCompatNrPages
			}
		}
		if pe.Flags == nil {
			if pe.GetInParent() {
				e.Flags = PE_PARENT
			} else {
				e.Flags = PE_PRESENT
			}
		}
		if e.Vaddr%PageSize != 0 || e.NrPages > (1<<52)/PageSize || e.Vaddr+e.NrPages*PageSize < e.Vaddr {
			return pagesID, entries, format, fmt.Errorf("%s: %w: entry %d: run 0x%x + %d pages is not a valid address range", name, ErrBadImage, len(entries), e.Vaddr, e.NrPages)
		}
		if len(entries) > 0 && e.Vaddr < prevEnd {
			return pagesID, entries, format, fmt.Errorf("%s: %w: entry %d: run at 0x%x overlaps or precedes the previous one", name, ErrBadImage, len(entries), e.Vaddr)
		}
		prevEnd = e.End()
		entries = append(entries, e)
	}
	return pagesID, entries, format, nil
}

// Memory reads a process's (or a shared memory object's) dumped pages by virtual address. It
// indexes the pagemap once; reads touch only the pages asked for.
type Memory struct {
	// PagesID names the pages file (pages-<PagesID>.img).
	PagesID uint32
	// Entries are the pagemap runs, sorted by address.
	Entries []PagemapEntry
	// Format is the pagemap encoding.
	Format  string
	offsets []int64 // offset in the pages file of each present run; -1 for others
	pages   io.ReaderAt
	size    int64
}

// OpenMemory indexes pagemap image pagemapName (e.g. "pagemap-1.img") and its pages file.
func OpenMemory(a *archive.Archive, pagemapName string) (*Memory, error) {
	r, size, err := a.Image(pagemapName)
	if err != nil {
		if errors.Is(err, archive.ErrNotFound) {
			return nil, fmt.Errorf("%s: %w", pagemapName, ErrMissingImage)
		}
		return nil, err
	}
	id, entries, format, err := readPagemap(pagemapName, r, size)
	if err != nil {
		return nil, err
	}
	m := &Memory{PagesID: id, Entries: entries, Format: format, offsets: make([]int64, len(entries))}
	var off int64
	for i, e := range entries {
		if !e.Present() {
			m.offsets[i] = -1
			continue
		}
		m.offsets[i] = off
		n := int64(e.NrPages) * PageSize // NrPages < 2^40: no overflow here
		if off > math.MaxInt64-n {
			return nil, fmt.Errorf("%s: %w: entry %d: the present pages add up to more than %d bytes", pagemapName, ErrBadImage, i, int64(math.MaxInt64))
		}
		off += n
	}
	if off == 0 {
		return m, nil
	}
	pagesName := fmt.Sprintf("pages-%d.img", id)
	pr, psize, err := a.Image(pagesName)
	if err != nil {
		if errors.Is(err, archive.ErrNotFound) {
			return m, fmt.Errorf("%s (for %s): %w", pagesName, pagemapName, ErrMissingImage)
		}
		return m, err
	}
	if psize < off {
		return m, fmt.Errorf("%s: %w: pagemap %s lists %d bytes of pages, file has %d", pagesName, ErrBadImage, pagemapName, off, psize)
	}
	m.pages, m.size = pr, psize
	return m, nil
}

// ResidentBytes returns how many bytes of [start, end) have contents in the pages file.
func (m *Memory) ResidentBytes(start, end uint64) uint64 {
	if m == nil {
		return 0
	}
	i := sort.Search(len(m.Entries), func(i int) bool { return m.Entries[i].End() > start })
	var n uint64
	for ; i < len(m.Entries) && m.Entries[i].Vaddr < end; i++ {
		e := m.Entries[i]
		if !e.Present() {
			continue
		}
		lo, hi := max(e.Vaddr, start), min(e.End(), end)
		if hi > lo {
			n += hi - lo
		}
	}
	return n
}

// ErrNotDumped is returned by ReadAt for addresses whose pages are not in the pages file.
var ErrNotDumped = errors.New("page not dumped")

// ReadAt reads len(p) bytes at virtual address addr. It fails with ErrNotDumped (and the
// bytes read so far) at the first page that is not in the pages file.
func (m *Memory) ReadAt(p []byte, addr uint64) (int, error) {
	if m == nil {
		return 0, ErrNotDumped
	}
	done := 0
	for done < len(p) {
		a := addr + uint64(done)
		i := sort.Search(len(m.Entries), func(i int) bool { return m.Entries[i].End() > a })
		if i == len(m.Entries) || m.Entries[i].Vaddr > a || m.offsets[i] < 0 || m.pages == nil {
			return done, fmt.Errorf("0x%x: %w", a, ErrNotDumped)
		}
		e := m.Entries[i]
		n := min(uint64(len(p)-done), e.End()-a)
		off := m.offsets[i] + int64(a-e.Vaddr)
		if _, err := m.pages.ReadAt(p[done:done+int(n)], off); err != nil {
			return done, fmt.Errorf("pages-%d.img at %d: %w", m.PagesID, off, err)
		}
		done += int(n)
	}
	return done, nil
}

// PagesReader exposes the pages file and the offset of a present run, for callers that
// stream whole runs (memory search, dumps).
func (m *Memory) PagesReader() io.ReaderAt { return m.pages }

// RunOffset returns the pages-file offset of run i, or -1 when it is not present.
func (m *Memory) RunOffset(i int) int64 { return m.offsets[i] }

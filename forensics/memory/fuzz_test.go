package memory

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path"
	"strings"
	"testing"

	"github.com/podsleuth/podsleuth/forensics/criu"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

// patternImage is a pages image of any size whose byte at offset o is a function of o, so the
// fuzzer can claim huge images without allocating them and every byte read can be checked.
type patternImage int64

func imgByte(o int64) byte { return byte(o*7 + o>>12) }

func (p patternImage) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	n := 0
	for ; n < len(b) && off+int64(n) < int64(p); n++ {
		b[n] = imgByte(off + int64(n))
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// refByte is the reference answer for addr: a linear walk over the entries as CRIU restores
// them (criu/pagemap.c: the pages image holds PE_PRESENT runs in order).
func refByte(es []criu.PagemapEntry, addr uint64) (byte, bool) {
	var off int64
	for _, e := range es {
		end := e.Vaddr + e.NrPages*PageSize
		if addr >= e.Vaddr && addr < end {
			if e.Flags&FlagPresent == 0 {
				return 0, false
			}
			return imgByte(off + int64(addr-e.Vaddr)), true
		}
		if e.Flags&FlagPresent != 0 {
			off += int64(e.NrPages * PageSize)
		}
	}
	return 0, false
}

// FuzzPageIndex feeds pagemap images (seeded with every real pagemap of the fixtures) and a
// claimed pages-image size to the index: it must either refuse them with a named error or
// return exactly the bytes a linear reference walk says are at the address, never panic.
func FuzzPageIndex(f *testing.F) {
	err := fs.WalkDir(fixtures.FS, "images", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasPrefix(path.Base(p), "pagemap-") {
			return err
		}
		b, err := fixtures.FS.ReadFile(p)
		if err != nil {
			return err
		}
		_, es, _, perr := criu.ReadPagemap(bytes.NewReader(b), int64(len(b)))
		var present int64
		addr := uint64(0)
		if perr == nil {
			for _, e := range es {
				if e.Flags&FlagPresent != 0 {
					present += int64(e.NrPages * PageSize)
				}
			}
			if len(es) > 0 {
				addr = es[len(es)/2].Vaddr + 100
			}
		}
		f.Add(b, present, addr, uint16(5000))
		f.Add(b, present-1, addr, uint16(64))
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, pm []byte, size int64, addr uint64, n uint16) {
		if size < 0 {
			size = -size
		}
		_, es, _, err := criu.ReadPagemap(bytes.NewReader(pm), int64(len(pm)))
		if err != nil {
			return
		}
		entries := make([]Entry, len(es))
		for i, e := range es {
			entries[i] = Entry{Vaddr: e.Vaddr, NrPages: e.NrPages, Flags: e.Flags}
		}
		p, err := NewPages(entries, patternImage(size), size)
		if err != nil {
			for _, want := range []error{ErrPagemapEntry, ErrPagemapOverlap, ErrPagemapUnsorted, ErrPagemapPastEOF} {
				if errors.Is(err, want) {
					return
				}
			}
			t.Fatalf("unnamed error: %v", err)
		}
		b := make([]byte, n%8192)
		k, err := p.ReadAt(b, addr)
		if k < len(b) && err == nil {
			t.Fatalf("short read without error at 0x%x", addr)
		}
		for i := 0; i < k; i++ {
			want, ok := refByte(es, addr+uint64(i))
			if !ok || b[i] != want {
				t.Fatalf("byte at 0x%x: got %#x, reference %#x (present %v)", addr+uint64(i), b[i], want, ok)
			}
		}
		if k < len(b) {
			if _, ok := refByte(es, addr+uint64(k)); ok {
				t.Fatalf("stopped at 0x%x, which the reference can read (%v)", addr+uint64(k), err)
			}
		}
		lo, hi := p.Bounds()
		_ = p.Resident(lo, hi)
		_ = p.Missing(lo, hi)
	})
}

package memory

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// pagesImage returns a pages image of n pages, page i filled with byte 'A'+i.
func pagesImage(n int) []byte {
	b := make([]byte, n*PageSize)
	for i := 0; i < n; i++ {
		for j := 0; j < PageSize; j++ {
			b[i*PageSize+j] = byte('A' + i)
		}
	}
	return b
}

func TestNewPagesHostile(t *testing.T) {
	img := pagesImage(2)
	tests := []struct {
		name    string
		entries []Entry
		want    error
	}{
		{"past EOF", []Entry{{Vaddr: 0x1000, NrPages: 3, Flags: FlagPresent}}, ErrPagemapPastEOF},
		{"past EOF after first", []Entry{{Vaddr: 0x1000, NrPages: 2, Flags: FlagPresent}, {Vaddr: 0x9000, NrPages: 1, Flags: FlagPresent}}, ErrPagemapPastEOF},
		{"overlapping", []Entry{{Vaddr: 0x1000, NrPages: 2, Flags: FlagPresent}, {Vaddr: 0x2000, NrPages: 1, Flags: FlagParent}}, ErrPagemapOverlap},
		{"unsorted", []Entry{{Vaddr: 0x5000, NrPages: 1, Flags: FlagPresent}, {Vaddr: 0x1000, NrPages: 1, Flags: FlagPresent}}, ErrPagemapUnsorted},
		{"unaligned", []Entry{{Vaddr: 0x1001, NrPages: 1, Flags: FlagPresent}}, ErrPagemapEntry},
		{"zero pages", []Entry{{Vaddr: 0x1000, NrPages: 0, Flags: FlagPresent}}, ErrPagemapEntry},
		{"wraps", []Entry{{Vaddr: 0xfffffffffffff000, NrPages: 2, Flags: FlagPresent}}, ErrPagemapEntry},
		{"huge", []Entry{{Vaddr: 0, NrPages: 1 << 62, Flags: FlagPresent}}, ErrPagemapEntry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPages(tt.entries, bytes.NewReader(img), int64(len(img)))
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestPagesReadAt(t *testing.T) {
	img := pagesImage(4) // A B C D
	p, err := NewPages([]Entry{
		{Vaddr: 0x10000, NrPages: 2, Flags: FlagPresent},            // A B
		{Vaddr: 0x12000, NrPages: 1, Flags: FlagPresent | FlagLazy}, // C (lazy but transferred)
		{Vaddr: 0x13000, NrPages: 1, Flags: FlagParent},             // in parent
		{Vaddr: 0x14000, NrPages: 1, Flags: FlagLazy},               // lazy, not here
		{Vaddr: 0x20000, NrPages: 1, Flags: FlagPresent},            // D
	}, bytes.NewReader(img), int64(len(img)))
	require.NoError(t, err)
	require.Empty(t, p.Warnings)

	t.Run("across entries", func(t *testing.T) {
		b := make([]byte, PageSize/2+PageSize)
		n, err := p.ReadAt(b, 0x11800)
		require.NoError(t, err)
		require.Equal(t, len(b), n)
		require.Equal(t, bytes.Repeat([]byte("B"), PageSize/2), b[:PageSize/2])
		require.Equal(t, bytes.Repeat([]byte("C"), PageSize), b[PageSize/2:PageSize/2+PageSize])
	})
	reasons := []struct {
		name   string
		addr   uint64
		reason string
	}{
		{"parent", 0x13000, ReasonParent},
		{"lazy", 0x14010, ReasonLazy},
		{"not dumped", 0x15000, ReasonNotDumped},
		{"below everything", 0x1000, ReasonNotDumped},
	}
	for _, tt := range reasons {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, 8)
			n, err := p.ReadAt(b, tt.addr)
			require.Zero(t, n)
			var ue *UnreadableError
			require.ErrorAs(t, err, &ue)
			require.ErrorIs(t, err, ErrNotResident)
			require.Equal(t, tt.reason, ue.Reason)
			require.Equal(t, tt.addr, ue.Addr)
		})
	}
	t.Run("stops at a hole with what it read", func(t *testing.T) {
		b := make([]byte, 16)
		n, err := p.ReadAt(b, 0x12ff8)
		require.Equal(t, 8, n)
		require.Equal(t, []byte("CCCCCCCC"), b[:8])
		require.ErrorIs(t, err, ErrNotResident)
	})
	t.Run("last entry maps the last image page", func(t *testing.T) {
		b := make([]byte, 4)
		_, err := p.ReadAt(b, 0x20ffc)
		require.NoError(t, err)
		require.Equal(t, []byte("DDDD"), b)
	})
	require.Equal(t, uint64(3*PageSize), p.Resident(0x10000, 0x15000))
	require.Equal(t, uint64(PageSize/2), p.Resident(0x20800, 0x30000))
	require.Equal(t, []Gap{{0x13000, 0x14000, ReasonParent}, {0x14000, 0x15000, ReasonLazy}}, p.Missing(0, 1<<40))
}

func TestPagesTrailingBytesWarn(t *testing.T) {
	img := pagesImage(2)
	p, err := NewPages([]Entry{{Vaddr: 0x1000, NrPages: 1, Flags: FlagPresent}}, bytes.NewReader(img), int64(len(img)))
	require.NoError(t, err)
	require.Len(t, p.Warnings, 1)
}

// short reader: the image claims more than it has; reads must fail, never return junk.
type shortReader struct{ b []byte }

func (s shortReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(s.b)) {
		return 0, errors.New("eof")
	}
	n := copy(p, s.b[off:])
	if n < len(p) {
		return n, errors.New("eof")
	}
	return n, nil
}

func TestPagesShortImage(t *testing.T) {
	img := pagesImage(1)
	p, err := NewPages([]Entry{{Vaddr: 0x1000, NrPages: 2, Flags: FlagPresent}}, shortReader{img}, 2*PageSize)
	require.NoError(t, err)
	b := make([]byte, 2*PageSize)
	n, err := p.ReadAt(b, 0x1000)
	require.Error(t, err)
	require.Equal(t, PageSize, n)
}

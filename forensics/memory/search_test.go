package memory

import (
	"bytes"
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
)

func TestPatterns(t *testing.T) {
	data := []byte("xxHelloxxhELLOxx\x90\x90\x41\x4dzz\x90\x90\x00\x4dhello")
	lit, err := Literal("hello", false)
	require.NoError(t, err)
	fold, err := Literal("hello", true)
	require.NoError(t, err)
	foldDash, err := Literal("a-B", true)
	require.NoError(t, err)
	hx, err := Hex("90 90 ?? 4d")
	require.NoError(t, err)
	re, err := Regex(`h[a-z]{3}o`, true)
	require.NoError(t, err)
	tests := []struct {
		name string
		p    *Pattern
		in   []byte
		want [][2]int
	}{
		{"literal", lit, data, [][2]int{{26, 31}}},
		{"case-insensitive", fold, data, [][2]int{{2, 7}, {9, 14}, {26, 31}}},
		{"case-insensitive anchored on a non-letter", foldDash, []byte("..A-b..a-B.a_b"), [][2]int{{2, 5}, {7, 10}}},
		{"hex with wildcard", hx, data, [][2]int{{16, 20}, {22, 26}}},
		{"regex -i", re, data, [][2]int{{2, 7}, {9, 14}, {26, 31}}},
		{"non-overlapping", mustLit(t, "aa"), []byte("aaaaa"), [][2]int{{0, 2}, {2, 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.p.Find(tt.in))
		})
	}
}

func mustLit(t *testing.T, s string) *Pattern {
	p, err := Literal(s, false)
	require.NoError(t, err)
	return p
}

func TestBadPatterns(t *testing.T) {
	_, err := Literal("", false)
	require.ErrorIs(t, err, ErrEmptyPattern)
	_, err = Regex("", false)
	require.ErrorIs(t, err, ErrEmptyPattern)
	_, err = Regex("a*", false)
	require.ErrorIs(t, err, ErrEmptyPattern)
	_, err = Regex("(", false)
	require.ErrorIs(t, err, ErrBadPattern)
	_, err = Hex("?? ??")
	require.ErrorIs(t, err, ErrEmptyPattern)
	_, err = Hex("9")
	require.ErrorIs(t, err, ErrBadPattern)
	_, err = Hex("zz")
	require.ErrorIs(t, err, ErrBadPattern)
	_, err = Hex("  ")
	require.ErrorIs(t, err, ErrEmptyPattern)
}

// synthetic builds a one-process Memory whose private pages are img, mapped per entries.
func synthetic(t *testing.T, img []byte, entries []Entry, maps []forensics.VMA) *Memory {
	t.Helper()
	p, err := NewPages(entries, bytes.NewReader(img), int64(len(img)))
	require.NoError(t, err)
	return &Memory{Procs: []*Proc{{PID: 7, Comm: "victim", Private: p, Maps: maps}}}
}

func collect(t *testing.T, m *Memory, pat *Pattern, opt SearchOptions) []Hit {
	t.Helper()
	var hits []Hit
	require.NoError(t, m.Search(context.Background(), pat, opt, func(h Hit) error { hits = append(hits, h); return nil }))
	return hits
}

func TestSearchBoundaries(t *testing.T) {
	// three pages in two pagemap entries at contiguous addresses, in two VMAs (heap | anon):
	// markers straddle the page boundary inside an entry, the entry boundary and the VMA boundary.
	img := make([]byte, 3*PageSize)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range img {
		img[i] = byte('a' + r.IntN(26))
	}
	marker := []byte("MARKER-0123456789")
	for _, off := range []int{100, PageSize - 5, 2*PageSize - 8, 3*PageSize - len(marker)} {
		copy(img[off:], marker)
	}
	entries := []Entry{{Vaddr: 0x400000, NrPages: 2, Flags: FlagPresent}, {Vaddr: 0x402000, NrPages: 1, Flags: FlagPresent}}
	maps := []forensics.VMA{
		{Start: 0x400000, End: 0x401800 &^ 0xfff, Prot: "rw-p", Kind: "heap"},
		{Start: 0x401000, End: 0x403000, Prot: "rwxp", Kind: "anon"},
	}
	m := synthetic(t, img, entries, maps)
	pat := mustLit(t, string(marker))
	want := []uint64{0x400000 + 100, 0x400000 + PageSize - 5, 0x400000 + 2*PageSize - 8, 0x400000 + 3*PageSize - uint64(len(marker))}
	for _, chunk := range []int{7, 64, 1000, PageSize, 1 << 20} {
		for _, workers := range []int{1, 2, 5} {
			hits := collect(t, m, pat, SearchOptions{Chunk: chunk, Workers: workers, Context: 3})
			var got []uint64
			for _, h := range hits {
				got = append(got, h.Addr)
				require.Equal(t, marker, h.Match)
				require.Equal(t, 7, h.PID)
				require.Equal(t, "victim", h.Comm)
				require.Len(t, h.Before, 3)
			}
			require.Equal(t, want, got, "chunk %d workers %d", chunk, workers)
		}
	}
	hits := collect(t, m, pat, SearchOptions{})
	require.Equal(t, "heap", hits[0].Region)
	require.Equal(t, "anon", hits[2].Region)
	require.Empty(t, hits[len(hits)-1].After, "context stops at the end of the segment")

	t.Run("filters", func(t *testing.T) {
		tests := []struct {
			name string
			f    Filter
			want int
		}{
			{"perm rwx", Filter{Perm: "rwx"}, 2}, // the marker straddling heap|anon starts in heap
			{"region heap", Filter{Regions: []string{"heap"}}, 1},
			{"region stack", Filter{Regions: []string{"stack"}}, 0},
			{"addr range", Filter{AddrStart: 0x400000, AddrEnd: 0x401000}, 1},
			{"pid other", Filter{PIDs: []int{8}}, 0},
			{"pid", Filter{PIDs: []int{7}}, 4},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				require.Len(t, collect(t, m, pat, SearchOptions{Filter: tt.f, Chunk: 100}), tt.want)
			})
		}
	})
}

func TestSearchNoMemoryGrowth(t *testing.T) {
	// a pattern that matches everywhere is streamed, not accumulated: emit can stop the search.
	img := bytes.Repeat([]byte("ab"), 8*PageSize)
	m := synthetic(t, img, []Entry{{Vaddr: 0x1000, NrPages: 4, Flags: FlagPresent}}, nil)
	n := 0
	stop := context.Canceled
	err := m.Search(context.Background(), mustLit(t, "ab"), SearchOptions{Chunk: 512}, func(Hit) error {
		n++
		if n == 1000 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 1000, n)
	// all of it
	hits := collect(t, m, mustLit(t, "ab"), SearchOptions{Chunk: 333, Workers: 3})
	require.Len(t, hits, 4*PageSize/2)
}

func TestBadFilters(t *testing.T) {
	m := &Memory{}
	for _, f := range []Filter{{Perm: "rwz"}, {Regions: []string{"brain"}}, {AddrStart: 10, AddrEnd: 5}} {
		err := m.Search(context.Background(), mustLit(t, "x"), SearchOptions{Filter: f}, func(Hit) error { return nil })
		require.ErrorIs(t, err, ErrBadFilter)
	}
}

func TestStringsAcrossChunks(t *testing.T) {
	img := make([]byte, 2*PageSize)
	copy(img[PageSize-3:], "hello world")
	copy(img[10:], "ab")
	m := synthetic(t, img, []Entry{{Vaddr: 0x1000, NrPages: 1, Flags: FlagPresent}, {Vaddr: 0x2000, NrPages: 1, Flags: FlagPresent}}, nil)
	var got []string
	var addrs []uint64
	require.NoError(t, m.Strings(context.Background(), Filter{}, 4, func(h Hit) error {
		got = append(got, string(h.Match))
		addrs = append(addrs, h.Addr)
		return nil
	}))
	require.Equal(t, []string{"hello world"}, got)
	require.Equal(t, []uint64{0x1000 + PageSize - 3}, addrs)
}

func TestRegexAndHexAcrossChunks(t *testing.T) {
	img := make([]byte, 2*PageSize)
	copy(img[PageSize-6:], "key=ABCDEFGHIJKL;")
	copy(img[100:], "\x90\x90\x13\x4d")
	copy(img[PageSize+40:], "\x90\x90\x77\x4d")
	m := synthetic(t, img, []Entry{{Vaddr: 0x1000, NrPages: 1, Flags: FlagPresent}, {Vaddr: 0x2000, NrPages: 1, Flags: FlagPresent}}, nil)
	re, err := Regex(`key=[A-Z]{12};`, false)
	require.NoError(t, err)
	hx, err := Hex("90 90 ?? 4d")
	require.NoError(t, err)
	for _, chunk := range []int{5, 64, PageSize} {
		hits := collect(t, m, re, SearchOptions{Chunk: chunk, Workers: 2})
		require.Len(t, hits, 1, "chunk %d", chunk)
		require.Equal(t, "key=ABCDEFGHIJKL;", string(hits[0].Match))
		require.Equal(t, uint64(0x1000+PageSize-6), hits[0].Addr)
		hh := collect(t, m, hx, SearchOptions{Chunk: chunk, Workers: 2})
		require.Len(t, hh, 2, "chunk %d", chunk)
		require.Equal(t, uint64(0x1000+100), hh[0].Addr)
		require.Equal(t, uint64(0x1000+PageSize+40), hh[1].Addr)
	}
}

func TestFoldNotQuadratic(t *testing.T) {
	// many lower-case anchors, no upper-case one: each step must not rescan to the end
	b := bytes.Repeat([]byte("ab"), 4<<20)
	p, err := Literal("AC", true)
	require.NoError(t, err)
	require.Empty(t, p.Find(b))
	b = append(b, "xAcx"...)
	require.Equal(t, [][2]int{{len(b) - 3, len(b) - 1}}, p.Find(b))
}

func TestStringsChunksAgree(t *testing.T) {
	// random printable/non-printable bytes: every chunking gives the same strings as one pass
	r := rand.New(rand.NewPCG(3, 4))
	img := make([]byte, 3*PageSize)
	for i := range img {
		if r.IntN(5) == 0 {
			img[i] = 0
		} else {
			img[i] = byte('a' + r.IntN(26))
		}
	}
	copy(img[PageSize-50:], bytes.Repeat([]byte("L"), 200)) // one run over a page boundary
	m := synthetic(t, img, []Entry{{Vaddr: 0x1000, NrPages: 3, Flags: FlagPresent}}, nil)
	get := func(chunk uint64) map[uint64]string {
		var mu sync.Mutex
		out := map[uint64]string{}
		require.NoError(t, m.stringsChunked(context.Background(), Filter{}, 4, chunk, nil, func(h Hit) error {
			mu.Lock()
			defer mu.Unlock()
			_, dup := out[h.Addr]
			require.False(t, dup, "0x%x reported twice", h.Addr)
			out[h.Addr] = string(h.Match)
			return nil
		}))
		return out
	}
	want := get(1 << 30)
	require.Contains(t, want, uint64(0x1000+PageSize-50-countPrintableBefore(img, PageSize-50)))
	for _, c := range []uint64{1, 3, 7, 100, PageSize} {
		require.Equal(t, want, get(c), "chunk %d", c)
	}
}

func countPrintableBefore(b []byte, i int) int {
	n := 0
	for i > 0 && b[i-1] != 0 {
		i--
		n++
	}
	return n
}

// TestSearchProgress: progress rises monotonically chunk by chunk to exactly the bytes of
// dumped contents searched (three pages here; a filter counts only what it keeps), on the
// goroutine that emits hits.
func TestSearchProgress(t *testing.T) {
	img := bytes.Repeat([]byte("abcdefgh"), 3*PageSize/8)
	entries := []Entry{{Vaddr: 0x400000, NrPages: 2, Flags: FlagPresent}, {Vaddr: 0x402000, NrPages: 1, Flags: FlagPresent}}
	maps := []forensics.VMA{{Start: 0x400000, End: 0x403000, Prot: "rw-p", Kind: "heap"}}
	m := synthetic(t, img, entries, maps)
	for _, tc := range []struct {
		f    Filter
		want int64
	}{{Filter{}, 3 * PageSize}, {Filter{AddrStart: 0x400000, AddrEnd: 0x401000}, PageSize}} {
		var calls [][2]int64
		hits := 0
		err := m.Search(context.Background(), mustLit(t, "fgh"), SearchOptions{Filter: tc.f, Chunk: 1000, Workers: 3,
			Progress: func(done, total int64) { calls = append(calls, [2]int64{done, total}) }},
			func(Hit) error { hits++; return nil })
		require.NoError(t, err)
		require.NotZero(t, hits)
		require.Greater(t, len(calls), 1, "one call per chunk")
		for i, c := range calls {
			require.Equal(t, tc.want, c[1])
			if i > 0 {
				require.Greater(t, c[0], calls[i-1][0])
			}
		}
		require.Equal(t, tc.want, calls[len(calls)-1][0], "done reaches the total")
	}
}

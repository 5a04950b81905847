package memory

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/criu"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

// stringsOracle is the byte-at-a-time extraction segment.strings replaced (it grew a slice for
// every run, however short), kept as the reference the new one must agree with exactly.
func (s *segment) stringsOracle(buf []byte, lo, hi uint64, minLen int, fn func(Hit)) error {
	var (
		cur   []byte
		start uint64
		skip  bool
		inRun bool
	)
	if lo > s.start {
		var one [1]byte
		if err := s.readAt(one[:], lo-1); err != nil {
			return err
		}
		skip = printable(one[0])
	}
	flush := func() {
		if len(cur) >= minLen {
			h := s.hit(start)
			h.Match = cur
			fn(h)
		}
		cur = nil
	}
	for pos := lo; pos < s.end; {
		if pos >= hi && !inRun && !skip {
			break
		}
		n := min(uint64(len(buf)), s.end-pos)
		if pos >= hi {
			n = min(n, 64<<10)
		}
		b := buf[:n]
		if err := s.readAt(b, pos); err != nil {
			return err
		}
		for i := range b {
			a := pos + uint64(i)
			if !printable(b[i]) {
				skip = false
				if inRun {
					inRun = false
					flush()
				}
				if a >= hi {
					return nil
				}
				continue
			}
			if skip {
				continue
			}
			if !inRun {
				if a >= hi {
					return nil
				}
				inRun = true
			}
			if cur == nil {
				start = a
			}
			cur = append(cur, b[i])
			if len(cur) >= MaxString {
				flush()
			}
		}
		pos += n
	}
	flush()
	return nil
}

func hitKey(h Hit) string {
	return fmt.Sprintf("%s|%d|%s|%x|%x|%s|%q", h.Kind, h.PID, h.Object, h.Addr, h.Offset, h.Region, h.Match)
}

// oracleStrings runs the reference over every segment in chunks, in one goroutine.
func oracleStrings(t *testing.T, m *Memory, minLen int, chunk, bufSize uint64) map[string]int {
	t.Helper()
	out := map[string]int{}
	buf := make([]byte, bufSize)
	for _, s := range m.segments(SearchOptions{}) {
		for lo := s.start; lo < s.end; lo += chunk {
			require.NoError(t, s.stringsOracle(buf, lo, min(s.end, lo+chunk), minLen, func(h Hit) { out[hitKey(h)]++ }))
		}
	}
	return out
}

func newStrings(t *testing.T, m *Memory, minLen int, chunk uint64) map[string]int {
	t.Helper()
	var mu sync.Mutex
	out := map[string]int{}
	require.NoError(t, m.stringsChunked(context.Background(), Filter{}, minLen, chunk, nil, func(h Hit) error {
		mu.Lock()
		defer mu.Unlock()
		out[hitKey(h)]++
		return nil
	}))
	return out
}

// TestStringsMatchOracle: the indexed extraction gives exactly the strings (bytes, addresses,
// attribution, multiplicity) of the byte-at-a-time one, on random memory of several densities
// with runs over page, buffer and chunk edges and runs longer than MaxString, at many chunk and
// minimum lengths, and on every committed fixture.
func TestStringsMatchOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const pages = 64 // 256 KiB
	img := make([]byte, pages*PageSize)
	fill := func(lo, hi int, pPrintable float64) {
		for i := lo; i < hi; i++ {
			if r.Float64() < pPrintable {
				img[i] = byte(0x20 + r.IntN(95))
				if r.IntN(40) == 0 {
					img[i] = "\t\n\r"[r.IntN(3)]
				}
			} else {
				img[i] = byte(r.IntN(256))
			}
		}
	}
	fill(0, len(img), 0.4)                                              // random memory: mostly short runs
	fill(8*PageSize, 16*PageSize, 0.97)                                 // text: long runs
	copy(img[20*PageSize-7:], bytes.Repeat([]byte("x"), 2*MaxString+3)) // longer than MaxString, over a segment-internal entry edge
	img[len(img)-1] = 'z'                                               // a run at the very end
	img[len(img)-2] = 'z'
	entries := []Entry{
		{Vaddr: 0x10000, NrPages: 20, Flags: FlagPresent},
		{Vaddr: 0x10000 + 20*PageSize, NrPages: 36, Flags: FlagPresent}, // contiguous: one segment
		{Vaddr: 0x200000, NrPages: pages - 56, Flags: FlagPresent},      // a second segment
	}
	m := synthetic(t, img, entries, nil)
	for _, minLen := range []int{1, 4, 6, 40} {
		for _, chunk := range []uint64{4093, PageSize, 3*PageSize + 17, MaxString + 1, 1 << 30} {
			want := oracleStrings(t, m, minLen, chunk, 1<<20)
			require.NotEmpty(t, want)
			require.Equal(t, want, newStrings(t, m, minLen, chunk), "minLen %d chunk %d", minLen, chunk)
		}
	}
	// small read buffers and chunks: runs carried over many refills and chunk edges
	small := synthetic(t, img[5*PageSize:9*PageSize], []Entry{{Vaddr: 0x10000, NrPages: 4, Flags: FlagPresent}}, nil)
	for _, c := range []struct {
		m          *Memory
		chunk, buf uint64
	}{{small, 1, 1}, {small, 5, 64}, {small, 7, 3}, {small, 1 << 30, 1}, {m, 5*PageSize + 3, 7}, {m, 5*PageSize + 3, PageSize}} {
		want := oracleStrings(t, c.m, 6, c.chunk, c.buf)
		require.NotEmpty(t, want)
		got := map[string]int{}
		buf := make([]byte, c.buf)
		for _, s := range c.m.segments(SearchOptions{}) {
			for lo := s.start; lo < s.end; lo += c.chunk {
				require.NoError(t, s.strings(context.Background(), buf, lo, min(s.end, lo+c.chunk), 6, nil, func(h Hit) error {
					got[hitKey(h)]++
					return nil
				}))
			}
		}
		require.Equal(t, want, got, "chunk %d buffer %d", c.chunk, c.buf)

		// with a keep filter: exactly the oracle's strings it accepts, and keep saw each
		// string's whole bytes (carried over refills too)
		keep := func(b []byte) bool { return bytes.IndexByte(b, 'q') >= 0 || len(b) > 200 }
		wantKept := map[string]int{}
		for _, s := range c.m.segments(SearchOptions{}) {
			for lo := s.start; lo < s.end; lo += c.chunk {
				require.NoError(t, s.strings(context.Background(), buf, lo, min(s.end, lo+c.chunk), 6, nil, func(h Hit) error {
					if keep(h.Match) {
						wantKept[hitKey(h)]++
					}
					return nil
				}))
			}
		}
		require.NotEmpty(t, wantKept)
		require.Less(t, len(wantKept), len(want))
		got = map[string]int{}
		for _, s := range c.m.segments(SearchOptions{}) {
			for lo := s.start; lo < s.end; lo += c.chunk {
				require.NoError(t, s.strings(context.Background(), buf, lo, min(s.end, lo+c.chunk), 6, keep, func(h Hit) error {
					got[hitKey(h)]++
					return nil
				}))
			}
		}
		require.Equal(t, wantKept, got, "keep: chunk %d buffer %d", c.chunk, c.buf)
	}

	for _, path := range []string{"images/full", "images/criu41", "images/fds", "archives/podman-crun.tar", "archives/podman-runc.tar"} {
		t.Run(path, func(t *testing.T) {
			ctx := context.Background()
			a, err := archive.Open(ctx, filepath.Join(fixtures.Dir(), path), archive.DefaultLimits(), t.TempDir())
			require.NoError(t, err)
			t.Cleanup(func() { _ = a.Close() })
			cp, err := criu.Decode(ctx, a)
			require.NoError(t, err)
			m, err := Open(ctx, a, cp)
			require.NoError(t, err)
			want := oracleStrings(t, m, 6, stringsChunk, 1<<20)
			require.NotEmpty(t, want)
			require.Equal(t, want, newStrings(t, m, 6, stringsChunk))
			require.Equal(t, want, newStrings(t, m, 6, 4099))
		})
	}
}

// TestNextRun: against its definition, on random buffers (bytes at the edges of the printable
// classes too) from every start, at several minimum lengths (over the word-wise limit too), and
// printWord against printable on every byte value in every lane.
func TestNextRun(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	naive := func(b []byte, i, minLen int) int {
		for j := i; j < len(b); j++ {
			ok := true
			for x := j; x < min(j+minLen, len(b)); x++ {
				ok = ok && printable(b[x])
			}
			if ok {
				return j
			}
		}
		return len(b)
	}
	for range 300 {
		b := make([]byte, r.IntN(300))
		p := r.Float64()
		for k := range b {
			switch {
			case r.Float64() < p:
				b[k] = byte(0x20 + r.IntN(95))
			case r.IntN(8) == 0:
				b[k] = "\t\n\r\x00\x08\x0b\x0c\x0e\x1f\x7f\x80\xa0\xff"[r.IntN(13)] // at and around the edges
			default:
				b[k] = byte(r.IntN(256))
			}
		}
		for _, minLen := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 31, 32, 33, 40} {
			for i := 0; i <= len(b); i++ {
				if i > 0 && printable(b[i-1]) {
					continue // nextRun is called after a byte that is not printable
				}
				require.Equal(t, naive(b, i, minLen), nextRun(b, i, minLen), "%q from %d, minLen %d", b, i, minLen)
			}
		}
	}
	for c := range 256 {
		for lane := range 8 {
			x := uint64(c) << (8 * lane)
			want := uint64(0)
			for k := range 8 {
				if printable(byte(x >> (8 * k))) {
					want |= 1 << k
				}
			}
			require.Equal(t, want, gatherHigh(printWord(x)), "byte %#x in lane %d", c, lane)
		}
	}
}

// BenchmarkNextRun: finding the runs of 6+ printable bytes in 16 MiB of random memory (what
// most of a large checkpoint is), word-wise against byte-wise.
func BenchmarkNextRun(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 16<<20)
	for i := range buf {
		buf[i] = byte(r.IntN(256))
	}
	for _, bc := range []struct {
		name string
		fn   func([]byte, int, int) int
	}{{"words", nextRun}, {"bytes", nextRunTail}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				for i := 0; i < len(buf); {
					i = bc.fn(buf, i, 6)
					for i < len(buf) && printableTab[buf[i]] {
						i++
					}
				}
			}
		})
	}
}

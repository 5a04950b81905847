package memory

import (
	"context"
	"encoding/binary"
	"math/bits"
	"runtime"
	"sync"
)

// MaxString caps the length of one extracted string; longer runs are split.
const MaxString = 64 << 10

func printable(c byte) bool { return c >= 0x20 && c < 0x7f || c == '\t' || c == '\n' || c == '\r' }

// stringsChunk is how much of a segment one worker scans for strings at a time.
const stringsChunk = 16 << 20

// Strings extracts runs of at least minLen printable ASCII bytes (tab, CR and LF included, like
// `strings -w`) from the memory selected by f, and calls fn with each as a Hit whose Match is
// the string. The memory is cut into chunks scanned on all cores, so fn is called concurrently
// and in no particular order: it must be safe for concurrent use. A string that crosses a page,
// pagemap-entry or chunk boundary of contiguous addresses is extracted whole, exactly once;
// runs longer than MaxString are split.
func (m *Memory) Strings(ctx context.Context, f Filter, minLen int, fn func(Hit) error) error {
	return m.stringsChunked(ctx, f, minLen, stringsChunk, nil, fn)
}

// StringsWhere is Strings for the strings keep accepts: keep sees each string's bytes where
// they were read (valid only during the call, never to be kept) before a Hit is made or the
// bytes copied, so that the strings a caller would drop at once cost neither. It is called
// concurrently.
func (m *Memory) StringsWhere(ctx context.Context, f Filter, minLen int, keep func([]byte) bool, fn func(Hit) error) error {
	return m.stringsChunked(ctx, f, minLen, stringsChunk, keep, fn)
}

func (m *Memory) stringsChunked(ctx context.Context, f Filter, minLen int, chunkSize uint64, keep func([]byte) bool, fn func(Hit) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	minLen = max(minLen, 1)
	type chunk struct {
		s      *segment
		lo, hi uint64
	}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	ch := make(chan chunk)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			buf := make([]byte, 1<<20)
			for c := range ch {
				if err := c.s.strings(ctx, buf, c.lo, c.hi, minLen, keep, fn); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
				}
			}
		})
	}
feed:
	for _, s := range m.segments(SearchOptions{Filter: f}) {
		for lo := s.start; lo < s.end; lo += chunkSize {
			select {
			case ch <- chunk{s, lo, min(s.end, lo+chunkSize)}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(ch)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// printableTab[c] is printable(c), looked up once per byte in the hot loop of strings.
var printableTab = func() (t [256]bool) {
	for c := range t {
		t[c] = printable(byte(c))
	}
	return t
}()

// strings extracts the strings that start in [lo, hi): a run already going at lo belongs to the
// chunk before; a run going at hi is followed to its end.
//
// Runs are found by index in the read buffer and copied once, when one is long enough to be
// reported: most runs of random or binary memory are a few bytes long, and growing a slice byte
// by byte for each of them cost more than everything else of the IOC scan together. Only the
// part of a run that crosses a buffer refill is carried over.
func (s *segment) strings(ctx context.Context, buf []byte, lo, hi uint64, minLen int, keep func([]byte) bool, fn func(Hit) error) error {
	var (
		carry []byte // the current run's bytes from earlier reads
		start uint64 // address of the current run's first byte
		skip  bool   // inside a run that started before lo
		inRun bool   // inside a run this chunk owns
	)
	if lo > s.start {
		var one [1]byte
		if err := s.readAt(one[:], lo-1); err != nil {
			return err
		}
		skip = printable(one[0])
	}
	// flush ends the current run with tail, its bytes in the current read, and reports the run
	// (in a slice of its own: fn may keep it) when it is long enough.
	flush := func(tail []byte) error {
		n := len(carry) + len(tail)
		if n >= minLen && keep != nil {
			b := tail
			if len(carry) > 0 {
				carry = append(carry, tail...)
				b = carry
			}
			if !keep(b) {
				carry = carry[:0]
				return nil
			}
			m := make([]byte, n)
			copy(m, b)
			h := s.hit(start)
			h.Match = m
			carry = carry[:0]
			return fn(h)
		}
		if n >= minLen {
			m := make([]byte, n)
			copy(m[copy(m, carry):], tail)
			h := s.hit(start)
			h.Match = m
			if err := fn(h); err != nil {
				return err
			}
		}
		carry = carry[:0]
		return nil
	}
	for pos := lo; pos < s.end; {
		if err := ctx.Err(); err != nil {
			return err
		}
		if pos >= hi && !inRun && !skip {
			break
		}
		n := min(uint64(len(buf)), s.end-pos)
		if pos >= hi {
			n = min(n, 64<<10) // only finishing a run past the chunk: read a little at a time
		}
		b := buf[:n]
		if err := s.readAt(b, pos); err != nil {
			return err
		}
		// lim is the index of the first byte at or past hi, where no new run may start
		lim := len(b)
		if hi <= pos {
			lim = 0
		} else if hi-pos < uint64(len(b)) {
			lim = int(hi - pos)
		}
		from := 0 // where the current run's bytes in b begin
		for i := 0; i < len(b); {
			switch {
			case skip:
				for i < len(b) && printableTab[b[i]] {
					i++
				}
				if i < len(b) {
					skip = false
				}
			case !inRun:
				// runs too short to report are stepped over (one that starts before hi and ends
				// past it would not be reported either); one that starts at or past hi is the
				// next chunk's
				if i = nextRun(b, i, minLen); i >= lim {
					if lim < len(b) {
						return nil
					}
					break
				}
				inRun, start, from = true, pos+uint64(i), i
			default:
				end := min(len(b), from+MaxString-len(carry))
				for i < end && printableTab[b[i]] {
					i++
				}
				switch {
				case len(carry)+i-from == MaxString:
					// a long run is split; the rest is a new string starting here
					if err := flush(b[from:i]); err != nil {
						return err
					}
					start, from = pos+uint64(i), i
				case i < len(b):
					inRun = false
					if err := flush(b[from:i]); err != nil {
						return err
					}
				}
			}
		}
		if inRun {
			carry = append(carry, b[from:]...)
		}
		pos += n
	}
	if inRun {
		return flush(nil)
	}
	return nil
}

// nextRun returns the first index j >= i of b where minLen printable bytes start (or printable
// bytes up to the end of b: the run may go on in the next read), len(b) if there is none.
//
// It classifies 64 bytes at a time into a bit mask, 8 bytes per 64-bit word with no branch
// (printWord), and finds a window of minLen set bits with shifts: random, compressed or
// zero-filled memory, where most bytes end no run, costs a few operations per byte and no
// mispredicted branch. Blocks overlap by minLen-1 bytes, so every window inside b is seen; the
// last bytes (and minimum lengths the mask cannot hold) take nextRunTail.
func nextRun(b []byte, i, minLen int) int {
	if minLen >= 2 && minLen <= 32 {
		step := 64 - minLen + 1
		for ; i+64 <= len(b); i += step {
			var m uint64
			for w := 0; w < 8; w++ {
				m |= gatherHigh(printWord(binary.LittleEndian.Uint64(b[i+8*w:]))) << (8 * w)
			}
			r := m
			for k := 1; k < minLen; k++ {
				r &= m >> k
			}
			if r != 0 {
				return i + bits.TrailingZeros64(r)
			}
		}
	}
	return nextRunTail(b, i, minLen)
}

// printWord sets the high bit of each byte of x that is printable (0x20-0x7e, tab, LF, CR).
func printWord(x uint64) uint64 {
	const (
		lo7  = 0x7f7f7f7f7f7f7f7f
		hi   = 0x8080808080808080
		ones = 0x0101010101010101
	)
	x7 := x & lo7                                                      // no carry between bytes below
	p := (x7 + 0x60*ones) &^ (x7 + ones) &^ x & hi                     // >= 0x20, < 0x7f, < 0x80
	zero := func(t uint64) uint64 { return ^((t&lo7 + lo7) | t) & hi } // bytes of t that are 0
	// tab (9) and CR (13) are the bytes b with b|4 == 13; LF is 10
	return p | zero((x|4*ones)^('\r'*ones)) | zero(x^('\n'*ones))
}

// gatherHigh packs the high bits of the 8 bytes of x into one byte (byte k -> bit k).
func gatherHigh(x uint64) uint64 { return (x >> 7) * 0x0102040810204080 >> 56 }

// nextRunTail is nextRun byte by byte. It tests the last byte of each window first: a byte
// that is not printable rules out every window over it, so the search jumps past it.
func nextRunTail(b []byte, i, minLen int) int {
	for j := i; j < len(b); {
		x := min(j+minLen, len(b)) - 1
		for x >= j && printableTab[b[x]] {
			x--
		}
		if x < j {
			return j
		}
		j = x + 1
	}
	return len(b)
}

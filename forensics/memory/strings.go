package memory

import (
	"context"
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
	return m.stringsChunked(ctx, f, minLen, stringsChunk, fn)
}

func (m *Memory) stringsChunked(ctx context.Context, f Filter, minLen int, chunkSize uint64, fn func(Hit) error) error {
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
				if err := c.s.strings(ctx, buf, c.lo, c.hi, minLen, fn); err != nil {
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

// strings extracts the strings that start in [lo, hi): a run already going at lo belongs to the
// chunk before; a run going at hi is followed to its end.
func (s *segment) strings(ctx context.Context, buf []byte, lo, hi uint64, minLen int, fn func(Hit) error) error {
	var (
		cur   []byte
		start uint64
		skip  bool // inside a run that started before lo
		inRun bool // inside a run this chunk owns
	)
	if lo > s.start {
		var one [1]byte
		if err := s.readAt(one[:], lo-1); err != nil {
			return err
		}
		skip = printable(one[0])
	}
	flush := func() error {
		if len(cur) >= minLen {
			h := s.hit(start)
			h.Match = cur
			if err := fn(h); err != nil {
				return err
			}
		}
		cur = nil
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
		for i := range b {
			a := pos + uint64(i)
			if !printable(b[i]) {
				skip = false
				if inRun {
					inRun = false
					if err := flush(); err != nil {
						return err
					}
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
				if err := flush(); err != nil {
					return err
				}
			}
		}
		pos += n
	}
	return flush()
}

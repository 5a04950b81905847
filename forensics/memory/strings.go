package memory

import (
	"context"
	"runtime"
	"sync"
)

// MaxString caps the length of one extracted string; longer runs are split.
const MaxString = 64 << 10

func printable(c byte) bool { return c >= 0x20 && c < 0x7f || c == '\t' || c == '\n' || c == '\r' }

// Strings extracts runs of at least minLen printable ASCII bytes (tab, CR and LF included, like
// `strings -w`) from the memory selected by f, and calls fn with each as a Hit whose Match is
// the string. Segments are scanned in parallel; fn is called from one goroutine at a time, in
// no particular order across segments. Strings that cross page, pagemap-entry or chunk
// boundaries of contiguous addresses are extracted whole.
func (m *Memory) Strings(ctx context.Context, f Filter, minLen int, fn func(Hit) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	minLen = max(minLen, 1)
	segs := m.segments(SearchOptions{Filter: f})
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	ch := make(chan *segment)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			buf := make([]byte, 1<<20)
			for s := range ch {
				err := s.strings(ctx, buf, minLen, func(h Hit) error {
					mu.Lock()
					defer mu.Unlock()
					if firstErr != nil {
						return firstErr
					}
					return fn(h)
				})
				if err != nil {
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
	for _, s := range segs {
		select {
		case ch <- s:
		case <-ctx.Done():
		}
	}
	close(ch)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return nil
}

func (s *segment) strings(ctx context.Context, buf []byte, minLen int, fn func(Hit) error) error {
	var (
		cur   []byte
		start uint64
	)
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
	for lo := s.start; lo < s.end; lo += uint64(len(buf)) {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := int(min(uint64(len(buf)), s.end-lo))
		b := buf[:n]
		if err := s.readAt(b, lo); err != nil {
			return err
		}
		i := 0
		for i < n {
			if !printable(b[i]) {
				if cur != nil {
					if err := flush(); err != nil {
						return err
					}
				}
				i++
				continue
			}
			j := i
			for j < n && printable(b[j]) && len(cur)+(j-i) < MaxString {
				j++
			}
			if cur == nil {
				start = lo + uint64(i)
			}
			cur = append(cur, b[i:j]...)
			if len(cur) >= MaxString {
				if err := flush(); err != nil {
					return err
				}
			}
			i = j
		}
	}
	return flush()
}

package yara

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/podsleuth/podsleuth/forensics/memory"
)

// LoadOptions say which rules to load.
type LoadOptions struct {
	// Default includes the project's embedded rule set (DefaultFiles).
	Default bool
	// Paths are rule files or directories (every *.yar and *.yara below, files that others
	// include excepted: they are compiled through their includers).
	Paths []string
}

// Rules is a compiled rule set. A file that did not compile is in Errors; the others are used.
type Rules struct {
	// Files are the rule files compiled ("default:NAME.yar" for embedded ones).
	Files []string
	// Count is the number of rules.
	Count int
	// Errors are the files that did not compile; Warnings YARA's warnings (slow strings, ...).
	Errors   []LoadError
	Warnings []LoadError
	eng      engine
}

// engine is the compiled rules of the YARA build; scanners are not safe for concurrent use.
type engine interface {
	newScanner() (scanner, error)
	close()
}

type scanner interface {
	// scan runs the rules over one unit and returns a hit per matching rule, with at most
	// maxStrings strings each; a timeout is reported as errTimeout.
	scan(u *unit, timeout time.Duration, maxStrings int) ([]Hit, error)
	close()
}

var errTimeout = errors.New("scan timed out")

// Close frees the compiled rules.
func (r *Rules) Close() {
	if r != nil && r.eng != nil {
		r.eng.close()
		r.eng = nil
	}
}

// Scan runs rs over a checkpoint's memory index: the memory of every process one VMA at a time
// at its real addresses, and every object of mem: memfd, shmem, pipe and socket contents, and
// the saved files (deleted files, tmpfs and /dev/shm files, rootfs changes) that
// forensics/content attached to it (content.List, then Set.Attach). Everything is read on
// demand, block by block; units are scanned in parallel, one YARA scanner per worker, so memory
// use is bounded by the workers' blocks whatever the checkpoint's size.
func Scan(ctx context.Context, rs *Rules, mem *memory.Memory, opt Options) (*Result, error) {
	if rs == nil || rs.eng == nil {
		return nil, ErrNotBuilt
	}
	if mem == nil {
		return nil, errors.New("yara: no memory index")
	}
	opt = opt.withDefaults()
	start := time.Now()
	res := &Result{Rules: rs.Count, Files: rs.Files, LoadErrors: rs.Errors, Hits: []Hit{}, Kinds: map[string]int{}}
	var mu sync.Mutex
	deadline := start.Add(opt.Timeout)
	sctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	e := &enumerator{mem: mem, opt: opt}
	var fixed []*unit
	if !opt.NoMemory {
		fixed = append(fixed, e.memoryUnits()...)
	}
	if !opt.NoObjects {
		fixed = append(fixed, e.objectUnits()...)
	}
	var total atomic.Int64
	for _, u := range fixed {
		total.Add(u.bytes)
	}

	units := make(chan *unit)
	var done atomic.Int64
	var skipped atomic.Int64
	go func() {
		defer close(units)
		send := func(u *unit) bool {
			select {
			case units <- u:
				return true
			case <-sctx.Done():
				skipped.Add(1)
				return false
			}
		}
		for i, u := range fixed {
			if !send(u) {
				skipped.Add(int64(len(fixed) - i - 1))
				return
			}
		}
	}()

	workers := opt.Workers
	var wg sync.WaitGroup
	var hits []Hit
	for range workers {
		sc, err := rs.eng.newScanner()
		if err != nil {
			cancel()
			wg.Wait()
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sc.close()
			for u := range units {
				left := time.Until(deadline)
				if sctx.Err() != nil || left <= 0 {
					skipped.Add(1)
					continue
				}
				hs, err := sc.scan(u, left, opt.MaxStrings)
				mu.Lock()
				res.Blocks++
				res.Kinds[u.tmpl.Kind]++
				res.Bytes += u.bytes
				switch {
				case errors.Is(err, errTimeout):
					res.TimedOut = true
					res.Warnings = append(res.Warnings, fmt.Sprintf("%s: scan stopped by the %v timeout", where(u.tmpl), opt.Timeout))
				case err != nil:
					res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %v", where(u.tmpl), err))
				}
				hits = append(hits, hs...)
				mu.Unlock()
				if opt.Progress != nil {
					opt.Progress(done.Add(u.bytes), total.Load())
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if sctx.Err() != nil || skipped.Load() > 0 {
		res.TimedOut = true
		res.Warnings = append(res.Warnings, fmt.Sprintf("scan stopped by the %v timeout: %d of %d known bytes scanned, %d blocks not scanned",
			opt.Timeout, res.Bytes, total.Load(), skipped.Load()))
	}
	res.Hits, res.Dropped = capHits(mergeWindows(hits, opt.MaxStrings), opt.MaxHitsPerRule)
	res.Elapsed = time.Since(start)
	return res, nil
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxHitsPerRule <= 0 {
		o.MaxHitsPerRule = DefaultMaxHitsPerRule
	}
	if o.MaxStrings <= 0 {
		o.MaxStrings = DefaultMaxStrings
	}
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	return o
}

// where names a unit for warnings.
func where(h Hit) string {
	if h.Kind == KindMemory {
		return fmt.Sprintf("pid %d 0x%x-0x%x %s", h.PID, h.Start, h.End, h.Region)
	}
	if h.Path != "" {
		return fmt.Sprintf("%s %s", h.Kind, h.Path)
	}
	return h.Object
}

func hitKey(h Hit) string {
	return fmt.Sprintf("%s\x00%s\x00%s\x00%d\x00%x\x00%s\x00%s", h.Namespace, h.Rule, h.Kind, h.PID, h.Start, h.Object, h.Path)
}

// mergeWindows joins the hits of one rule in the windows of one split VMA into one hit, and
// sorts all hits: by kind (memory first), pid, address, rule.
func mergeWindows(hits []Hit, maxStrings int) []Hit {
	var out []Hit
	idx := map[string]int{}
	for _, h := range hits {
		k := hitKey(h)
		i, ok := idx[k]
		if !ok {
			idx[k] = len(out)
			out = append(out, h)
			continue
		}
		m := &out[i]
		seen := map[uint64]bool{}
		for _, s := range m.Strings {
			seen[s.Addr] = true
		}
		dup := 0
		for _, s := range h.Strings {
			if seen[s.Addr] {
				dup++
				continue
			}
			m.Strings = append(m.Strings, s)
		}
		m.Matches += h.Matches - dup // matches in the overlap were counted by both windows
		slices.SortFunc(m.Strings, func(a, b String) int { return cmp.Compare(a.Addr, b.Addr) })
		if len(m.Strings) > maxStrings {
			m.Strings = m.Strings[:maxStrings]
		}
		m.Addr = min(m.Addr, h.Addr)
	}
	kindOrder := func(k string) int {
		return slices.Index([]string{KindMemory, KindMemfd, KindShmem, KindPipe, KindSocket, KindGhost, KindTmpfs, KindDevShm, KindRootfs}, k)
	}
	slices.SortStableFunc(out, func(a, b Hit) int {
		return cmp.Or(cmp.Compare(kindOrder(a.Kind), kindOrder(b.Kind)), cmp.Compare(a.PID, b.PID), cmp.Compare(a.Addr, b.Addr),
			cmp.Compare(a.Object, b.Object), cmp.Compare(a.Path, b.Path), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Rule, b.Rule))
	})
	return out
}

// capHits keeps at most max hits per rule (in output order) and counts the others.
func capHits(hits []Hit, max int) ([]Hit, map[string]int) {
	n := map[string]int{}
	var dropped map[string]int
	out := hits[:0]
	for _, h := range hits {
		id := h.Rule
		if h.Namespace != "" && h.Namespace != "default" {
			id = h.Namespace + ":" + h.Rule
		}
		n[id]++
		if n[id] > max {
			if dropped == nil {
				dropped = map[string]int{}
			}
			dropped[id]++
			continue
		}
		out = append(out, h)
	}
	return out, dropped
}

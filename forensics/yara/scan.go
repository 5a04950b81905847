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

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
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

// Scan runs rs over the checkpoint: the memory of every process (mem; nil skips it) one VMA
// at a time at its real addresses, the memfd/shmem/pipe/socket objects of mem, and the files
// the archive saved (a; nil skips them): deleted files, tmpfs and /dev/shm images, the rootfs
// changes. Units are scanned in parallel, one YARA scanner per worker; memory use is bounded by
// the workers' blocks and one saved file per worker, whatever the checkpoint's size.
func Scan(ctx context.Context, rs *Rules, a *archive.Archive, cp *forensics.Checkpoint, mem *memory.Memory, opt Options) (*Result, error) {
	if rs == nil || rs.eng == nil {
		return nil, ErrNotBuilt
	}
	if cp == nil {
		return nil, errors.New("yara: no checkpoint")
	}
	opt = opt.withDefaults()
	start := time.Now()
	res := &Result{Rules: rs.Count, Files: rs.Files, LoadErrors: rs.Errors, Hits: []Hit{}}
	var mu sync.Mutex
	warn := func(s string) {
		mu.Lock()
		res.Warnings = append(res.Warnings, s)
		mu.Unlock()
	}
	deadline := start.Add(opt.Timeout)
	sctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	e := &enumerator{a: a, cp: cp, mem: mem, opt: opt, warn: warn}
	var fixed []*unit
	if mem != nil && !opt.NoMemory {
		fixed = append(fixed, e.memoryUnits()...)
	}
	if mem != nil && !opt.NoObjects {
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
		for _, u := range fixed {
			if !send(u) {
				return
			}
		}
		if a == nil || opt.NoObjects {
			return
		}
		for _, u := range e.ghostUnits() {
			total.Add(u.bytes)
			if !send(u) {
				return
			}
		}
		for _, fs := range e.fileSources() {
			e.walk(sctx, fs, func(u *unit) bool {
				total.Add(u.bytes)
				return send(u)
			})
		}
	}()

	workers := opt.Workers
	var wg sync.WaitGroup
	var firstErr error
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
	if firstErr != nil {
		return nil, firstErr
	}
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
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = DefaultMaxFileBytes
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

package memory

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/podsleuth/podsleuth/forensics"
)

// ErrNoProcess is returned for a PID that is not in the checkpoint.
var ErrNoProcess = errors.New("no such process in the checkpoint")

// ErrBadFilter is returned for a filter that cannot be understood.
var ErrBadFilter = errors.New("bad filter")

// DefaultChunk is the size of the blocks the search reads and scans at a time.
const DefaultChunk = 4 << 20

// Filter selects what a search (or IOC scan) covers. The zero Filter selects everything.
type Filter struct {
	// PIDs limits process memory to these processes, and objects to those they hold.
	PIDs []int
	// Perm keeps only mappings whose protection has all these letters of "rwxsp" (subset match).
	Perm string
	// Regions keeps only mappings of these kinds: heap, stack, anon, shmem, memfd, vdso,
	// file (any file) or file:PATH (that path; a trailing * matches a prefix), the buffers
	// pipe and socket, and the saved files ghost, tmpfs, devshm and rootfs.
	Regions []string
	// AddrStart/AddrEnd keep only addresses in [AddrStart, AddrEnd) when AddrEnd > 0.
	AddrStart, AddrEnd uint64
}

// Validate checks the filter's syntax.
func (f Filter) Validate() error {
	for _, c := range f.Perm {
		if !strings.ContainsRune("rwxsp-", c) {
			return fmt.Errorf("--perm %q: %q is not one of r, w, x, s, p: %w", f.Perm, c, ErrBadFilter)
		}
	}
	for _, r := range f.Regions {
		switch {
		case r == "heap", r == "stack", r == "anon", r == "shmem", r == "memfd", r == "vdso", r == "vvar",
			r == "vsyscall", r == "file", r == "pipe", r == "socket", strings.HasPrefix(r, "file:"),
			r == KindGhost, r == KindTmpfs, r == KindDevshm, r == KindRootfs:
		default:
			return fmt.Errorf("--region %q: want heap, stack, anon, shmem, memfd, file, file:PATH, pipe, socket, ghost, tmpfs, devshm or rootfs: %w", r, ErrBadFilter)
		}
	}
	if f.AddrEnd != 0 && f.AddrEnd <= f.AddrStart {
		return fmt.Errorf("address range 0x%x-0x%x is empty: %w", f.AddrStart, f.AddrEnd, ErrBadFilter)
	}
	return nil
}

func (f Filter) wantPID(pid int) bool { return len(f.PIDs) == 0 || slices.Contains(f.PIDs, pid) }

// wantVMA reports whether a mapping passes the perm and region filters.
func (f Filter) wantVMA(v *forensics.VMA) bool {
	for _, c := range f.Perm {
		if c == '-' {
			continue
		}
		if !strings.ContainsRune(v.Prot, c) {
			return false
		}
	}
	if len(f.Regions) == 0 {
		return true
	}
	for _, r := range f.Regions {
		switch {
		case r == "file":
			if v.Kind == "file" {
				return true
			}
		case strings.HasPrefix(r, "file:"):
			p := strings.TrimPrefix(r, "file:")
			if v.Kind == "file" && (v.Path == p || strings.HasSuffix(p, "*") && strings.HasPrefix(v.Path, strings.TrimSuffix(p, "*"))) {
				return true
			}
		case r == v.Kind:
			return true
		}
	}
	return false
}

// wantKind reports whether buffers/objects of this kind pass the region filter.
func (f Filter) wantKind(kind string) bool {
	return len(f.Regions) == 0 || slices.Contains(f.Regions, kind)
}

func (f Filter) clip(s, e uint64) (uint64, uint64, bool) {
	if f.AddrEnd == 0 {
		return s, e, s < e
	}
	s, e = max(s, f.AddrStart), min(e, f.AddrEnd)
	return s, e, s < e
}

// Hit is one match.
type Hit struct {
	// Kind is where the bytes are: "memory" (a process's private pages), "shmem", "memfd",
	// "pipe" or "socket".
	Kind string `json:"kind"`
	// PID/Comm is the process whose memory this is, or for objects the first holder.
	PID  int    `json:"pid"`
	Comm string `json:"comm"`
	// Addr is the virtual address in PID (0 for unmapped buffers); Offset the offset in the
	// object for shmem/memfd/pipe/socket hits.
	Addr   uint64 `json:"addr"`
	Offset uint64 `json:"offset,omitempty"`
	// Region describes the VMA ("heap", "file:/lib/x.so") or the object.
	Region string         `json:"region"`
	VMA    *forensics.VMA `json:"vma,omitempty"`
	// Object names the shared object or buffer ("memfd:payload", "pipe:[12]", ...).
	Object  string   `json:"object,omitempty"`
	Holders []Holder `json:"holders,omitempty"`
	// Match is the matched bytes; Before/After up to Context bytes around them.
	Match  []byte `json:"match"`
	Before []byte `json:"before,omitempty"`
	After  []byte `json:"after,omitempty"`
}

// SearchOptions tune a search.
type SearchOptions struct {
	Filter
	// Context is how many bytes around each match to return.
	Context int
	// Workers is the number of scanning goroutines (default GOMAXPROCS).
	Workers int
	// Chunk is the block size (default DefaultChunk).
	Chunk int
	// NoObjects skips shmem/memfd objects, pipes and sockets.
	NoObjects bool
	// Progress, when set, is called after each chunk with the bytes of dumped contents scanned
	// so far and in all, from the goroutine that calls emit.
	Progress func(done, total int64)
}

// segment is a contiguous range of addresses with contents, scanned as one stream.
type segment struct {
	proc  *Proc   // nil for objects
	obj   *Object // nil for process memory
	r     io.ReaderAt
	exts  []Extent // contiguous, sorted
	start uint64
	end   uint64
}

// readAt reads b at address a of the segment; it never reads outside the segment.
func (s *segment) readAt(b []byte, a uint64) error {
	for len(b) > 0 {
		i, _ := slices.BinarySearchFunc(s.exts, a, func(e Extent, a uint64) int {
			switch {
			case e.End <= a:
				return -1
			case e.Start > a:
				return 1
			}
			return 0
		})
		if i == len(s.exts) || s.exts[i].Start > a {
			return fmt.Errorf("segment read at 0x%x: %w", a, io.ErrUnexpectedEOF)
		}
		e := s.exts[i]
		n := int(min(uint64(len(b)), e.End-a))
		m, err := s.r.ReadAt(b[:n], e.Off+int64(a-e.Start))
		if m < n {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read 0x%x: %w", a, err)
		}
		b, a = b[n:], a+uint64(n)
	}
	return nil
}

// merge appends extents to segments, joining address-contiguous ones.
func appendExtents(segs []*segment, base segment, exts []Extent) []*segment {
	var cur *segment
	if n := len(segs); n > 0 && segs[n-1].proc == base.proc && segs[n-1].obj == base.obj {
		cur = segs[n-1]
	}
	for _, e := range exts {
		if e.End <= e.Start {
			continue
		}
		if cur != nil && cur.end == e.Start {
			cur.exts = append(cur.exts, e)
			cur.end = e.End
			continue
		}
		s := base
		s.exts = []Extent{e}
		s.start, s.end = e.Start, e.End
		cur = &s
		segs = append(segs, cur)
	}
	return segs
}

// procSegments returns the private memory of p selected by f, as contiguous segments.
func procSegments(p *Proc, f Filter) []*segment {
	if p.Private == nil {
		return nil
	}
	base := segment{proc: p, r: p.Private.Reader()}
	var segs []*segment
	if f.Perm == "" && len(f.Regions) == 0 {
		lo, hi := p.Private.Bounds()
		if s, e, ok := f.clip(lo, hi); ok {
			segs = appendExtents(segs, base, p.Private.Present(s, e))
		}
		return segs
	}
	for i := range p.Maps {
		v := &p.Maps[i]
		if !f.wantVMA(v) || p.sharedAt(v.Start) != nil {
			continue
		}
		if s, e, ok := f.clip(v.Start, v.End); ok {
			segs = appendExtents(segs, base, p.Private.Present(s, e))
		}
	}
	return segs
}

// objectWanted reports whether an object passes the filter, and the mapping VMAs that do.
func objectWanted(o *Object, f Filter) bool {
	if len(f.PIDs) > 0 && !slices.ContainsFunc(o.Holders, func(h Holder) bool { return f.wantPID(h.PID) }) {
		return false
	}
	if f.Perm == "" && f.AddrEnd == 0 {
		return f.wantKind(o.Kind)
	}
	// perm and address filters apply to mappings: keep objects mapped in a way that passes.
	for _, h := range o.Holders {
		if h.VMA == nil || !f.wantPID(h.PID) {
			continue
		}
		v := *h.VMA
		if _, _, ok := f.clip(v.Start, v.End); ok && f.wantVMA(&v) {
			return true
		}
	}
	return false
}

// segments lists everything the search covers, in output order: processes by PID, then objects.
func (m *Memory) segments(opt SearchOptions) []*segment {
	var segs []*segment
	for _, p := range m.Procs {
		if opt.wantPID(p.PID) {
			segs = append(segs, procSegments(p, opt.Filter)...)
		}
	}
	if opt.NoObjects {
		return segs
	}
	for _, o := range m.Objects {
		if objectWanted(o, opt.Filter) {
			segs = appendExtents(segs, segment{obj: o, r: o.reader()}, o.present())
		}
	}
	return segs
}

type job struct {
	seg     *segment
	lo, hi  uint64 // owned range: matches starting here are this job's
	bufEnd  uint64
	results chan []Hit
	err     error
}

var bufPool sync.Pool

// Search scans the memory selected by opt for pat and calls emit for every match, in address
// order per process (processes by PID, then objects). Chunks overlap by the pattern's maximal
// length, so matches across page, pagemap-entry and VMA boundaries of contiguous addresses are
// found exactly once. Memory use is bounded by (2*workers) chunks and a few batches of hits per
// chunk, whatever the image size and however many hits there are.
func (m *Memory) Search(ctx context.Context, pat *Pattern, opt SearchOptions, emit func(Hit) error) error {
	if pat == nil {
		return ErrEmptyPattern
	}
	if err := opt.Validate(); err != nil {
		return err
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	chunk := opt.Chunk
	if chunk <= 0 {
		chunk = DefaultChunk
	}
	overlap := uint64(max(pat.maxLen-1, 0))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	segs := m.segments(opt)
	var done, total int64
	for _, s := range segs {
		total += int64(s.end - s.start)
	}
	jobs := make(chan *job)
	order := make(chan *job, 2*workers)
	go func() { // producer
		defer close(order)
		defer close(jobs)
		for _, s := range segs {
			for lo := s.start; lo < s.end; lo += uint64(chunk) {
				hi := min(s.end, lo+uint64(chunk))
				j := &job{seg: s, lo: lo, hi: hi, bufEnd: min(s.end, hi+overlap), results: make(chan []Hit, 4)}
				select {
				case order <- j:
				case <-ctx.Done():
					return
				}
				select {
				case jobs <- j:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				m.scan(ctx, j, pat, opt.Context)
			}
		})
	}
	defer func() { cancel(); wg.Wait() }()

	var (
		lastSeg *segment
		lastEnd uint64
	)
	for j := range order {
		if j.seg != lastSeg {
			lastSeg, lastEnd = j.seg, 0
		}
		for {
			var (
				hits []Hit
				ok   bool
			)
			select {
			case hits, ok = <-j.results:
			case <-ctx.Done():
				return ctx.Err()
			}
			if !ok {
				break
			}
			for _, h := range hits {
				a := h.Addr
				if h.Kind != KindMemory {
					a = h.Offset
				}
				if lastEnd > 0 && a < lastEnd { // overlaps a match the previous chunk reported
					continue
				}
				lastEnd = a + uint64(len(h.Match))
				if err := emit(h); err != nil {
					return err
				}
			}
		}
		if j.err != nil {
			return j.err
		}
		if opt.Progress != nil {
			done += int64(j.hi - j.lo)
			opt.Progress(done, total)
		}
	}
	return ctx.Err()
}

// batchSize is how many hits a worker hands over at a time: a pattern that matches everywhere
// is streamed in batches, so memory stays bounded by the number of chunks in flight.
const batchSize = 1024

// scan reads one chunk and sends its matches in batches on j.results, then closes it. An error
// is stored in j.err before the close.
func (m *Memory) scan(ctx context.Context, j *job, pat *Pattern, context int) {
	defer close(j.results)
	n := int(j.bufEnd - j.lo)
	bp, _ := bufPool.Get().(*[]byte)
	if bp == nil || cap(*bp) < n {
		b := make([]byte, n)
		bp = &b
	}
	buf := (*bp)[:n]
	defer bufPool.Put(bp)
	if err := j.seg.readAt(buf, j.lo); err != nil {
		j.err = fmt.Errorf("%s: %w", j.seg.name(), err)
		return
	}
	var (
		hits    []Hit
		stopped bool
	)
	send := func() {
		if len(hits) == 0 || stopped {
			return
		}
		select {
		case j.results <- hits:
		case <-ctx.Done():
			stopped = true
		}
		hits = nil
	}
	pat.find(buf, int(j.hi-j.lo), func(s, e int) {
		if stopped {
			return
		}
		h := j.seg.hit(j.lo + uint64(s))
		h.Match = append([]byte(nil), buf[s:e]...)
		if context > 0 {
			a := j.lo + uint64(s)
			bs := max(j.seg.start, a-min(a, uint64(context)))
			h.Before = make([]byte, a-bs)
			ae := min(j.seg.end, a+uint64(e-s)+uint64(context))
			h.After = make([]byte, ae-(a+uint64(e-s)))
			if err := j.seg.readAt(h.Before, bs); err != nil {
				h.Before = nil
			}
			if err := j.seg.readAt(h.After, a+uint64(e-s)); err != nil {
				h.After = nil
			}
		}
		if hits = append(hits, h); len(hits) == batchSize {
			send()
		}
	})
	send()
}

func (s *segment) name() string {
	if s.obj != nil {
		return s.obj.Name
	}
	return fmt.Sprintf("pid %d", s.proc.PID)
}

// hit attributes address a of the segment.
func (s *segment) hit(a uint64) Hit {
	if s.proc != nil {
		h := Hit{Kind: KindMemory, PID: s.proc.PID, Comm: s.proc.Comm, Addr: a}
		if v := s.proc.VMA(a); v != nil {
			vv := *v
			h.VMA = &vv
		}
		h.Region = Region(h.VMA)
		return h
	}
	o := s.obj
	h := Hit{Kind: o.Kind, Offset: a, Object: o.Name, Region: o.Name, Holders: o.Holders}
	// attribute to the first holder that maps this offset, else the first holder
	for _, hd := range o.Holders {
		if hd.VMA != nil {
			v := hd.VMA
			if va := v.Start + a - v.Offset; a >= v.Offset && va < v.End {
				h.PID, h.Comm, h.Addr = hd.PID, hd.Comm, va
				vv := *v
				h.VMA = &vv
				return h
			}
		}
	}
	if len(o.Holders) > 0 {
		h.PID, h.Comm = o.Holders[0].PID, o.Holders[0].Comm
	}
	return h
}

// HolderAddr returns the address at which holder hd sees offset off of the object, if mapped.
func HolderAddr(hd Holder, off uint64) (uint64, bool) {
	if hd.VMA == nil || off < hd.VMA.Offset {
		return 0, false
	}
	a := hd.VMA.Start + off - hd.VMA.Offset
	return a, a < hd.VMA.End
}

// Printable renders bytes for text output: printable ASCII as is, anything else as '.'.
func Printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 0x20 && c < 0x7f {
			out[i] = c
		} else {
			out[i] = '.'
		}
	}
	return string(out)
}

// MarshalJSON encodes the matched bytes both as printable text and as hex, since memory is
// not UTF-8.
func (h Hit) MarshalJSON() ([]byte, error) {
	type plain Hit
	return json.Marshal(struct {
		plain
		Match     string `json:"match"`
		MatchHex  string `json:"match_hex"`
		Before    string `json:"before,omitempty"`
		After     string `json:"after,omitempty"`
		BeforeHex string `json:"before_hex,omitempty"`
		AfterHex  string `json:"after_hex,omitempty"`
	}{plain(h), Printable(h.Match), hex.EncodeToString(h.Match), Printable(h.Before), Printable(h.After),
		hex.EncodeToString(h.Before), hex.EncodeToString(h.After)})
}

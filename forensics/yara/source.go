package yara

import (
	"slices"
	"strings"

	"github.com/podsleuth/podsleuth/forensics/memory"
)

// Scan geometry: a unit is one YARA scan (its rules' conditions see all of it); a block is one
// memory block of a unit, fetched on demand.
const (
	// blockSize bounds one fetched block: the only buffer a scanner holds.
	blockSize = 16 << 20
	// blockOverlap is how far consecutive blocks of a contiguous range overlap, so that a match
	// across a block boundary is still found (YARA keeps one match per address).
	blockOverlap = 64 << 10
	// windowSize splits a VMA with more resident bytes into several units, so that both cores
	// work on one huge mapping; their hits are merged back into one per rule and VMA.
	windowSize = 128 << 20
)

// unit is one scan: a VMA (or a window of a huge one), an object or a saved file.
type unit struct {
	tmpl   Hit // where: everything but the rule and the strings
	ext    externals
	size   uint64         // YARA's filesize: the VMA's or object's extent
	ranges []memory.Range // resident address ranges, sorted
	read   func(b []byte, addr uint64) (int, error)
	bytes  int64
	window bool // part of a split VMA or object: hits are merged per rule
}

// blocks returns the unit's blocks: its ranges cut at blockSize, overlapping by blockOverlap.
func (u *unit) blocks() []memory.Range {
	var out []memory.Range
	for _, r := range u.ranges {
		for s := r.Start; s < r.End; {
			e := min(r.End, s+blockSize)
			out = append(out, memory.Range{Start: s, End: e})
			if e == r.End {
				break
			}
			s = e - blockOverlap
		}
	}
	return out
}

// enumerator lists the units of a checkpoint.
type enumerator struct {
	mem *memory.Memory
	opt Options
}

func (e *enumerator) wantPID(pid int) bool {
	return len(e.opt.PIDs) == 0 || slices.Contains(e.opt.PIDs, pid)
}

func (e *enumerator) wantHolders(hs []memory.Holder) bool {
	if len(e.opt.PIDs) == 0 {
		return true
	}
	return slices.ContainsFunc(hs, func(h memory.Holder) bool { return e.wantPID(h.PID) })
}

// memoryUnits returns one unit per VMA with resident contents (windows for huge ones).
func (e *enumerator) memoryUnits() []*unit {
	var out []*unit
	for _, p := range e.mem.Procs {
		if !e.wantPID(p.PID) {
			continue
		}
		for i := range p.Maps {
			v := p.Maps[i]
			rs := p.Readable(v.Start, v.End)
			if len(rs) == 0 {
				continue
			}
			region := memory.Region(&v)
			x := externals{kind: KindMemory, filetype: KindMemory, region: region, perm: v.Prot, pid: p.PID,
				comm: p.Comm, owner: p.Comm, base: v.Start, exec: v.Executable()}
			tmpl := Hit{Kind: KindMemory, PID: p.PID, Comm: p.Comm, Start: v.Start, End: v.End, Region: region, Perm: v.Prot}
			if v.Path != "" {
				tmpl.Path = v.Path
				x.setFile(v.Path)
			}
			if v.Kind == "memfd" || v.Kind == "shmem" {
				tmpl.Object = v.Path
			}
			pr := p
			read := func(b []byte, a uint64) (int, error) { return pr.ReadAt(b, a) }
			for _, w := range windows(rs) {
				u := &unit{tmpl: tmpl, ext: x, size: v.End - v.Start, ranges: w, read: read, window: len(w) != len(rs) || w[0] != rs[0]}
				for _, r := range w {
					u.bytes += int64(r.End - r.Start)
				}
				out = append(out, u)
			}
		}
	}
	return out
}

// windows cuts resident ranges into groups of at most windowSize bytes, overlapping by
// blockOverlap where a range is cut.
func windows(rs []memory.Range) [][]memory.Range {
	var out [][]memory.Range
	var cur []memory.Range
	var n uint64
	for _, r := range rs {
		for s := r.Start; s < r.End; {
			e := min(r.End, s+(windowSize-n))
			cur = append(cur, memory.Range{Start: s, End: e})
			n += e - s
			if n >= windowSize {
				out = append(out, cur)
				cur, n = nil, 0
			}
			if e == r.End {
				break
			}
			s = e - blockOverlap
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// objectUnits returns the objects of mem: memfd, shmem, pipe and socket contents, and the saved
// files forensics/content attached (ghost, tmpfs, devshm, rootfs), read on demand. A memfd or
// shmem object a selected process maps in full is scanned in that process's memory (at its
// addresses) instead.
func (e *enumerator) objectUnits() []*unit {
	var out []*unit
	objs := slices.Clone(e.mem.Objects)
	have := map[string]bool{}
	for _, o := range objs {
		have[o.Name] = true
	}
	for _, o := range e.opt.Objects {
		if !have[o.Name] {
			objs = append(objs, o)
		}
	}
	for _, o := range objs {
		if !e.wantHolders(o.Holders) {
			continue
		}
		size := o.Size()
		if !e.opt.NoMemory && slices.ContainsFunc(o.Holders, func(h memory.Holder) bool {
			return h.VMA != nil && e.wantPID(h.PID) && h.VMA.Offset == 0 && h.VMA.End-h.VMA.Start >= size
		}) {
			continue
		}
		tmpl := Hit{Kind: o.Kind, Object: o.Name, Holders: o.Holders, Start: 0, End: size}
		if len(o.Holders) > 0 {
			tmpl.PID, tmpl.Comm = o.Holders[0].PID, o.Holders[0].Comm
		}
		x := externals{kind: o.Kind, filetype: o.Kind, pid: tmpl.PID, comm: tmpl.Comm, owner: tmpl.Comm}
		switch o.Kind {
		case KindMemfd:
			tmpl.Path = o.Name
			x.setFile(o.Name)
		case KindGhost, KindTmpfs, KindDevShm, KindRootfs:
			// content IDs are "KIND:/path"
			tmpl.Path = strings.TrimPrefix(o.Name, o.Kind+":")
			x.setFile(tmpl.Path)
		}
		var rs []memory.Range
		switch {
		case o.Pages != nil:
			s, en := o.Pages.Bounds()
			for _, ext := range o.Pages.Present(s, en) {
				rs = append(rs, memory.Range{Start: ext.Start, End: ext.End})
			}
		case size > 0:
			rs = []memory.Range{{Start: 0, End: size}}
		}
		if len(rs) == 0 {
			continue
		}
		obj := o
		read := func(b []byte, a uint64) (int, error) { return obj.ReadAt(b, a) }
		for _, w := range windows(rs) {
			u := &unit{tmpl: tmpl, ext: x, size: size, ranges: w, read: read, window: len(w) != len(rs) || w[0] != rs[0]}
			for _, r := range w {
				u.bytes += int64(r.End - r.Start)
			}
			out = append(out, u)
		}
	}
	return out
}

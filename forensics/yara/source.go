package yara

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strconv"

	metadata "github.com/checkpoint-restore/checkpointctl/lib"
	"github.com/klauspost/compress/zstd"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/criu"
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
	window bool // part of a split VMA: merge hits per rule
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

func dataUnit(tmpl Hit, x externals, data []byte) *unit {
	x.filetype = tmpl.Kind
	x.kind = tmpl.Kind
	x.pid, x.comm, x.owner = tmpl.PID, tmpl.Comm, tmpl.Comm
	tmpl.Start, tmpl.End = 0, uint64(len(data))
	return &unit{tmpl: tmpl, ext: x, size: uint64(len(data)), bytes: int64(len(data)),
		ranges: []memory.Range{{Start: 0, End: uint64(len(data))}},
		read: func(b []byte, a uint64) (int, error) {
			if a >= uint64(len(data)) {
				return 0, io.EOF
			}
			return copy(b, data[a:]), nil
		}}
}

// enumerator lists the units of a checkpoint and sends them, lazily for the saved files.
type enumerator struct {
	a    *archive.Archive
	cp   *forensics.Checkpoint
	mem  *memory.Memory
	opt  Options
	warn func(string)
	// holders of saved files by path: descriptors and mappings
	fileHolders map[string][]memory.Holder
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

// objectUnits returns the memfd, shmem, pipe and socket objects. A memfd or shmem object a
// selected process maps in full is scanned in that process's memory (at its addresses) instead.
func (e *enumerator) objectUnits() []*unit {
	var out []*unit
	for _, o := range e.mem.Objects {
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
		if o.Kind == KindMemfd {
			tmpl.Path = o.Name
			x.setFile(o.Name)
		}
		var rs []memory.Range
		if o.Pages != nil {
			s, en := o.Pages.Bounds()
			for _, ext := range o.Pages.Present(s, en) {
				rs = append(rs, memory.Range{Start: ext.Start, End: ext.End})
			}
		} else if len(o.Data) > 0 {
			rs = []memory.Range{{Start: 0, End: uint64(len(o.Data))}}
		}
		if len(rs) == 0 {
			continue
		}
		obj := o
		u := &unit{tmpl: tmpl, ext: x, size: size, ranges: rs, read: func(b []byte, a uint64) (int, error) { return obj.ReadAt(b, a) }}
		for _, r := range rs {
			u.bytes += int64(r.End - r.Start)
		}
		out = append(out, u)
	}
	return out
}

// holdersOf returns the processes holding or mapping the file at p.
func (e *enumerator) holdersOf(p string) []memory.Holder {
	if e.fileHolders == nil {
		e.fileHolders = map[string][]memory.Holder{}
		for _, pr := range e.cp.Processes {
			for _, fd := range pr.FDs {
				if fd.Type == forensics.FDRegular && fd.Path != "" {
					e.fileHolders[fd.Path] = append(e.fileHolders[fd.Path], memory.Holder{PID: pr.PID, Comm: pr.Comm, FD: fd.FD})
				}
			}
			for i := range pr.Maps {
				v := pr.Maps[i]
				if v.Kind == "file" && v.Path != "" {
					hs := e.fileHolders[v.Path]
					if !slices.ContainsFunc(hs, func(h memory.Holder) bool { return h.PID == pr.PID && h.VMA != nil }) {
						e.fileHolders[v.Path] = append(hs, memory.Holder{PID: pr.PID, Comm: pr.Comm, FD: -1, VMA: &v})
					}
				}
			}
		}
	}
	return e.fileHolders[p]
}

// ghostUnits returns the deleted files CRIU saved, with the descriptors holding them.
func (e *enumerator) ghostUnits() []*unit {
	type ghost struct {
		path    string
		holders []memory.Holder
	}
	byID := map[uint32]*ghost{}
	var ids []uint32
	for _, pr := range e.cp.Processes {
		for _, fd := range pr.FDs {
			if !fd.Deleted || fd.Type != forensics.FDRegular {
				continue
			}
			g := byID[fd.FileID]
			if g == nil {
				g = &ghost{path: fd.Path}
				byID[fd.FileID] = g
				ids = append(ids, fd.FileID)
			}
			g.holders = append(g.holders, memory.Holder{PID: pr.PID, Comm: pr.Comm, FD: fd.FD})
		}
	}
	slices.Sort(ids)
	var out []*unit
	for _, id := range ids {
		g := byID[id]
		if !e.wantHolders(g.holders) {
			continue
		}
		gf, err := criu.ReadGhostFile(e.a, id, e.opt.MaxFileBytes)
		if errors.Is(err, criu.ErrNotGhost) {
			continue
		}
		if err != nil {
			e.warn(fmt.Sprintf("deleted file %s: %v", g.path, err))
			continue
		}
		if gf.Truncated {
			e.warn(fmt.Sprintf("deleted file %s (%s): only the first %d of %d bytes scanned", g.path, gf.Image, len(gf.Content), gf.Size))
		}
		tmpl := Hit{Kind: KindGhost, Object: gf.Image, Path: g.path, Holders: g.holders, PID: g.holders[0].PID, Comm: g.holders[0].Comm}
		var x externals
		x.setFile(g.path)
		out = append(out, dataUnit(tmpl, x, gf.Content))
	}
	return out
}

var tmpfsImage = regexp.MustCompile(`^tmpfs-dev-(\d+)\.tar\.gz\.img$`)

// fileSources lists the tar images of saved files: tmpfs mounts, /dev/shm, the rootfs diff.
func (e *enumerator) fileSources() []fileSource {
	var out []fileSource
	for _, name := range e.a.ImageNames() {
		m := tmpfsImage.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		id, _ := strconv.ParseUint(m[1], 10, 32)
		mp := ""
		for _, mt := range e.cp.Mounts {
			if uint64(mt.ID) == id {
				mp = mt.Mountpoint
			}
		}
		if mp == "" {
			mp = "/tmpfs-mount-" + m[1]
		}
		out = append(out, fileSource{kind: KindTmpfs, member: e.a.ImageDir() + name, prefix: mp})
	}
	if e.a.Has(metadata.DevShmCheckpointTar) {
		out = append(out, fileSource{kind: KindDevShm, member: metadata.DevShmCheckpointTar, prefix: "/dev/shm"})
	}
	if e.a.Has(metadata.RootFsDiffTar) {
		out = append(out, fileSource{kind: KindRootfs, member: metadata.RootFsDiffTar, prefix: "/"})
	}
	return out
}

type fileSource struct {
	kind, member, prefix string
}

// walk streams the regular files of one tar image (plain, gzip or zstd, whatever the name
// says) and calls emit with each file's unit; the data of one file is held at a time.
func (e *enumerator) walk(ctx context.Context, fs fileSource, emit func(*unit) bool) {
	r, size, err := e.a.Member(fs.member)
	if err != nil {
		e.warn(fmt.Sprintf("%s: %v", fs.member, err))
		return
	}
	tr, closeFn, err := tarReader(io.NewSectionReader(r, 0, size))
	if err != nil {
		e.warn(fmt.Sprintf("%s: %v", fs.member, err))
		return
	}
	defer closeFn()
	for ctx.Err() == nil {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			e.warn(fmt.Sprintf("%s: %v (files after this point not scanned)", fs.member, err))
			return
		}
		if h.Typeflag != tar.TypeReg || h.Size == 0 {
			continue
		}
		p := path.Join(fs.prefix, path.Clean("/"+h.Name))
		hs := e.holdersOf(p)
		if len(e.opt.PIDs) > 0 && !e.wantHolders(hs) {
			continue
		}
		n := min(h.Size, e.opt.MaxFileBytes)
		data := make([]byte, n)
		if _, err := io.ReadFull(tr, data); err != nil {
			e.warn(fmt.Sprintf("%s: %s: %v", fs.member, p, err))
			return
		}
		if n < h.Size {
			e.warn(fmt.Sprintf("%s: %s: only the first %d of %d bytes scanned", fs.member, p, n, h.Size))
		}
		tmpl := Hit{Kind: fs.kind, Path: p, Object: fs.member, Holders: hs}
		if len(hs) > 0 {
			tmpl.PID, tmpl.Comm = hs[0].PID, hs[0].Comm
		}
		var x externals
		x.setFile(p)
		if !emit(dataUnit(tmpl, x, data)) {
			return
		}
	}
}

// tarReader opens a tar stream that may be gzip- or zstd-compressed.
func tarReader(r io.Reader) (*tar.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(4)
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: gzip: %v", archive.ErrCorrupt, err)
		}
		return tar.NewReader(zr), func() { _ = zr.Close() }, nil
	case len(head) >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(128<<20), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: zstd: %v", archive.ErrCorrupt, err)
		}
		return tar.NewReader(zr), zr.Close, nil
	}
	return tar.NewReader(br), func() {}, nil
}

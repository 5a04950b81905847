package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/criu"
)

// Open indexes the memory of a decoded checkpoint: every process's pagemap and pages image,
// the shmem/memfd objects with the processes mapping or holding them, pipe buffers and socket
// queues. Each index is built once; nothing is read beyond the pagemaps and the small buffer
// images. Problems with one process or object become Warnings, not a failure.
func Open(ctx context.Context, a *archive.Archive, cp *forensics.Checkpoint) (*Memory, error) {
	m := &Memory{}
	pids := make([]int, 0, len(cp.Processes))
	for i := range cp.Processes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := &cp.Processes[i]
		pr := &Proc{PID: p.PID, Comm: p.Comm, Maps: slices.Clone(p.Maps)}
		slices.SortFunc(pr.Maps, func(a, b forensics.VMA) int { return cmp.Compare(a.Start, b.Start) })
		m.Procs = append(m.Procs, pr)
		pids = append(pids, p.PID)
		if p.State == "zombie" || p.State == "dead" {
			pr.Err = fmt.Errorf("pid %d is a %s: it has no memory", p.PID, p.State)
			continue
		}
		pages, format, err := indexPagemap(a, "pagemap-"+strconv.Itoa(p.PID)+".img")
		if err != nil {
			pr.Err = err
			m.Warnings = append(m.Warnings, fmt.Sprintf("pid %d: memory not indexed: %v", p.PID, err))
			continue
		}
		pr.Private, pr.Format = pages, format
		for _, w := range pages.Warnings {
			m.Warnings = append(m.Warnings, fmt.Sprintf("pid %d: %s", p.PID, w))
		}
		m.Warnings = append(m.Warnings, checkMaps(pr)...)
	}
	slices.SortFunc(m.Procs, func(a, b *Proc) int { return cmp.Compare(a.PID, b.PID) })

	si, err := criu.ReadShmem(a, pids)
	if err != nil {
		m.Warnings = append(m.Warnings, fmt.Sprintf("shared memory: %v", err))
	}
	if si != nil {
		m.addShmem(a, cp, si)
	}
	m.addBuffers(a, cp)
	slices.SortStableFunc(m.Objects, func(x, y *Object) int {
		return cmp.Or(cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.ID, y.ID), cmp.Compare(x.Name, y.Name))
	})
	return m, nil
}

// indexPagemap builds the index of one pagemap image and its pages image.
func indexPagemap(a *archive.Archive, name string) (*Pages, string, error) {
	r, size, err := a.Image(name)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	id, ents, format, err := criu.ReadPagemap(r, size)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	pname := "pages-" + strconv.FormatUint(uint64(id), 10) + ".img"
	pr, psize, err := a.Image(pname)
	if err != nil {
		if !slices.ContainsFunc(ents, func(e criu.PagemapEntry) bool { return e.Present() }) {
			pr, psize = nil, 0 // nothing present: no pages image needed
		} else {
			return nil, "", fmt.Errorf("%s names %s: %w", name, pname, err)
		}
	}
	es := make([]Entry, len(ents))
	for i, e := range ents {
		es[i] = Entry{Vaddr: e.Vaddr, NrPages: e.NrPages, Flags: e.Flags}
	}
	p, err := NewPages(es, pr, psize)
	if err != nil {
		return nil, "", fmt.Errorf("%s with %s: %w", name, pname, err)
	}
	return p, format, nil
}

// checkMaps reports pagemap runs that no VMA covers: the VMA list contradicts the pagemap.
func checkMaps(p *Proc) []string {
	if len(p.Maps) == 0 || p.Private == nil {
		return nil
	}
	var out []string
	for _, r := range p.Private.runs {
		for a := r.start; a < r.end; {
			v := p.VMA(a)
			if v == nil {
				next := r.end
				for _, m := range p.Maps {
					if m.Start > a && m.Start < next {
						next = m.Start
					}
				}
				out = append(out, fmt.Sprintf("pid %d: pagemap has pages at 0x%x-0x%x that no VMA maps (the VMA list contradicts the pagemap)", p.PID, a, next))
				a = next
				continue
			}
			a = v.End
		}
	}
	return out
}

func (m *Memory) comm(pid int) string {
	if p := m.Proc(pid); p != nil {
		return p.Comm
	}
	return ""
}

// addShmem indexes the shmem and memfd objects and attaches them to the processes.
func (m *Memory) addShmem(a *archive.Archive, cp *forensics.Checkpoint, si *criu.ShmemInfo) {
	objs := map[uint64]*Object{}
	get := func(shmid uint64) *Object {
		if o, ok := objs[shmid]; ok {
			return o
		}
		o := &Object{Kind: KindShmem, ID: shmid, Name: "shmem:" + strconv.FormatUint(shmid, 10)}
		if n, ok := si.MemfdNames[shmid]; ok && !strings.HasPrefix(n, "/dev/zero") && !strings.HasPrefix(n, "/SYSV") {
			o.Kind, o.Name = KindMemfd, "memfd:"+n
		}
		p, _, err := indexPagemap(a, "pagemap-shmem-"+strconv.FormatUint(shmid, 10)+".img")
		if err != nil {
			m.Warnings = append(m.Warnings, fmt.Sprintf("%s: contents not indexed: %v", o.Name, err))
		}
		o.Pages = p
		objs[shmid] = o
		m.Objects = append(m.Objects, o)
		return o
	}
	for _, sm := range si.Maps {
		o := get(sm.ShmID)
		p := m.Proc(sm.PID)
		if p == nil {
			continue
		}
		v := p.VMA(sm.Start)
		var vma forensics.VMA
		if v != nil && v.Start == sm.Start {
			vma = *v
		} else {
			vma = forensics.VMA{Start: sm.Start, End: sm.End, Kind: o.Kind, Shared: true, Prot: "???s"}
		}
		vma.Offset = sm.Pgoff
		if o.Pages != nil {
			p.shared = append(p.shared, mapping{vma: vma, obj: o})
		}
		vv := vma
		o.Holders = append(o.Holders, Holder{PID: sm.PID, Comm: p.Comm, FD: -1, VMA: &vv})
	}
	for _, pr := range cp.Processes {
		for _, fd := range pr.FDs {
			if fd.Type != forensics.FDMemfd {
				continue
			}
			if shmid, ok := si.MemfdFiles[fd.FileID]; ok {
				o := get(shmid)
				o.Holders = append(o.Holders, Holder{PID: pr.PID, Comm: pr.Comm, FD: fd.FD})
			}
		}
	}
	// shared memory images nothing maps or holds any more (SysV segments, objects whose last
	// mapping is gone): still evidence, indexed without holders
	for _, name := range a.ImageNames() {
		id, ok := strings.CutPrefix(name, "pagemap-shmem-")
		if !ok {
			continue
		}
		if shmid, err := strconv.ParseUint(strings.TrimSuffix(id, ".img"), 10, 64); err == nil {
			get(shmid)
		}
	}
	for _, o := range objs {
		sortHolders(o.Holders)
		if o.Pages == nil {
			m.Objects = slices.DeleteFunc(m.Objects, func(x *Object) bool { return x == o })
		}
	}
}

func sortHolders(h []Holder) {
	slices.SortStableFunc(h, func(a, b Holder) int {
		// mapped holders first (they give addresses), then by pid and fd
		am, bm := a.VMA != nil, b.VMA != nil
		if am != bm {
			if am {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.PID, b.PID), cmp.Compare(a.FD, b.FD))
	})
}

// addBuffers adds pipe buffers and socket queues as objects.
func (m *Memory) addBuffers(a *archive.Archive, cp *forensics.Checkpoint) {
	fdHolders := func(match func(forensics.FD) bool, owners []int) []Holder {
		var hs []Holder
		for _, p := range cp.Processes {
			for _, fd := range p.FDs {
				if match(fd) {
					hs = append(hs, Holder{PID: p.PID, Comm: p.Comm, FD: fd.FD})
				}
			}
		}
		if len(hs) == 0 {
			for _, pid := range owners {
				hs = append(hs, Holder{PID: pid, Comm: m.comm(pid), FD: -1})
			}
		}
		sortHolders(hs)
		return hs
	}
	if pd, w, err := criu.ReadPipeData(a); err != nil {
		m.Warnings = append(m.Warnings, fmt.Sprintf("pipe buffers: %v", err))
	} else {
		m.Warnings = append(m.Warnings, w...)
		for id, data := range pd {
			if data.Size() == 0 {
				continue
			}
			var owners []int
			for _, p := range cp.Pipes {
				if p.ID == id {
					owners = p.Owners
				}
			}
			m.Objects = append(m.Objects, &Object{Kind: KindPipe, ID: uint64(id), Name: fmt.Sprintf("pipe:[%d]", id), Content: data, ContentSize: data.Size(),
				Holders: fdHolders(func(fd forensics.FD) bool { return fd.PipeID == id && fd.PipeID != 0 }, owners)})
		}
	}
	sockName := func(s *forensics.Socket, q string) string {
		d := fmt.Sprintf("socket:[%d] %s", s.Ino, q)
		switch {
		case s.Path != "":
			d += " (" + s.Family + " " + s.Path + ")"
		case s.LocalAddr != "":
			d += fmt.Sprintf(" (%s %s:%d -> %s:%d)", s.Protocol, s.LocalAddr, s.LocalPort, s.RemoteAddr, s.RemotePort)
		}
		return d
	}
	addSock := func(s *forensics.Socket, q string, data *criu.Bytes) {
		if data.Size() == 0 {
			return
		}
		ino := s.Ino
		m.Objects = append(m.Objects, &Object{Kind: KindSocket, ID: uint64(ino), Name: sockName(s, q), Content: data, ContentSize: data.Size(),
			Holders: fdHolders(func(fd forensics.FD) bool { return fd.SocketIno == ino && ino != 0 }, s.Owners)})
	}
	if sq, w, err := criu.ReadSocketQueues(a); err != nil {
		m.Warnings = append(m.Warnings, fmt.Sprintf("socket queues: %v", err))
	} else {
		m.Warnings = append(m.Warnings, w...)
		for id, data := range sq {
			var s *forensics.Socket
			for i := range cp.Sockets {
				if cp.Sockets[i].FileID == id {
					s = &cp.Sockets[i]
				}
			}
			if s == nil {
				s = &forensics.Socket{Ino: id, Family: "unknown"}
				m.Warnings = append(m.Warnings, fmt.Sprintf("sk-queues.img: queue for socket id %d, which no socket has", id))
			}
			addSock(s, "recv queue", data)
		}
	}
	if ts, w, err := criu.ReadTCPStreams(a); err != nil {
		m.Warnings = append(m.Warnings, fmt.Sprintf("tcp streams: %v", err))
	} else {
		m.Warnings = append(m.Warnings, w...)
		for ino, st := range ts {
			s := cp.Socket(ino)
			if s == nil {
				s = &forensics.Socket{Ino: ino, Family: "inet", Protocol: "tcp"}
			}
			addSock(s, "recv queue", st.InQ)
			addSock(s, "send queue", st.OutQ)
		}
	}
}

// FillResident sets ResidentBytes of every VMA of cp from the page index.
func (m *Memory) FillResident(cp *forensics.Checkpoint) {
	for i := range cp.Processes {
		p := m.Proc(cp.Processes[i].PID)
		if p == nil {
			continue
		}
		for j := range cp.Processes[i].Maps {
			v := &cp.Processes[i].Maps[j]
			v.ResidentBytes = p.Resident(v.Start, v.End)
		}
		for j := range p.Maps {
			p.Maps[j].ResidentBytes = p.Resident(p.Maps[j].Start, p.Maps[j].End)
		}
	}
}

package criu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	criu_core "github.com/checkpoint-restore/go-criu/v8/crit/images/criu-core"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/fdinfo"
	fsimg "github.com/checkpoint-restore/go-criu/v8/crit/images/fs"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/inventory"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/memfd"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/mm"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/pstree"
	remap_file_path "github.com/checkpoint-restore/go-criu/v8/crit/images/remap-file-path"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/stats"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/tty"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
)

// Options tune Decode.
type Options struct {
	// Hash computes the SHA-256 of the archive file into Source.SHA256. It is free for
	// compressed archives (computed while decompressing); for plain tars it reads the whole
	// file once, so inspect leaves it off unless asked.
	Hash bool
	// PreviewBytes bounds the printable previews of buffered data (default 256).
	PreviewBytes int
	// MaxArgBytes bounds the argument and environment memory read per process (default 4 MiB).
	MaxArgBytes int
	// MaxProcesses bounds the processes decoded (default DefaultMaxProcesses); a tree with
	// more is decoded up to it, with a warning.
	MaxProcesses int
}

// DefaultMaxProcesses is the default Options.MaxProcesses: the kernel's classic pid_max,
// far more than any container runs (the kubelet's pod PID limits are in the thousands).
const DefaultMaxProcesses = 32768

// maxWarnings bounds Checkpoint.Warnings; more are counted in a last warning.
const maxWarnings = 1000

// Decode decodes the whole checkpoint into the model with default options. It fails only
// when the process tree itself cannot be decoded (no or damaged pstree.img); damage anywhere
// else becomes a Warning naming the image member and the problem.
func Decode(ctx context.Context, a *archive.Archive) (*forensics.Checkpoint, error) {
	return DecodeWith(ctx, a, Options{})
}

// decoder holds the state of one Decode.
type decoder struct {
	ctx  context.Context
	a    *archive.Archive
	o    Options
	cp   *forensics.Checkpoint
	warn []string

	files   map[uint32]*fdinfo.FileEntry
	remaps  map[uint32]remap_file_path.RemapType
	memfds  map[uint32]*memfd.MemfdInodeEntry // by inode id
	ttyInfo map[uint32]*tty.TtyInfoEntry
	ids     map[int]*criu_core.TaskKobjIdsEntry
	owners  map[uint32][]int // file id -> pids
	shmem   map[uint64]*Memory
}

// DecodeWith is Decode with options.
func DecodeWith(ctx context.Context, a *archive.Archive, o Options) (*forensics.Checkpoint, error) {
	if o.PreviewBytes <= 0 {
		o.PreviewBytes = 256
	}
	if o.MaxArgBytes <= 0 {
		o.MaxArgBytes = 4 << 20
	}
	if o.MaxProcesses <= 0 {
		o.MaxProcesses = DefaultMaxProcesses
	}
	d := &decoder{
		ctx: ctx, a: a, o: o,
		cp: &forensics.Checkpoint{
			SchemaVersion: forensics.SchemaVersion,
			Source:        forensics.Source{Path: a.Path(), Format: a.Format(), Size: a.Size()},
		},
		files: map[uint32]*fdinfo.FileEntry{}, remaps: map[uint32]remap_file_path.RemapType{},
		memfds: map[uint32]*memfd.MemfdInodeEntry{}, ttyInfo: map[uint32]*tty.TtyInfoEntry{},
		ids: map[int]*criu_core.TaskKobjIdsEntry{}, owners: map[uint32][]int{}, shmem: map[uint64]*Memory{},
	}
	if o.Hash || a.Format() == archive.FormatTarGzip || a.Format() == archive.FormatTarZstd {
		sum, err := a.SHA256(ctx)
		if err != nil {
			return nil, err
		}
		d.cp.Source.SHA256 = sum
	}
	d.warn = append(d.warn, a.Warnings()...)
	// The process tree is the one thing without which there is nothing to show.
	tree, err := d.pstree()
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", a.Path(), err)
	}
	if len(tree) == 0 {
		return nil, fmt.Errorf("decode %s: pstree.img: %w: no processes", a.Path(), ErrBadImage)
	}
	d.container()
	d.criuInfo()
	d.loadFiles()
	d.processes(tree)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.sockets()
	d.pipes()
	d.namespacesAndMounts()
	d.rootfs()
	recordInvalidUTF8(d.cp)
	d.cp.Warnings = d.warn
	if len(d.warn) > maxWarnings {
		d.cp.Warnings = append(d.warn[:maxWarnings:maxWarnings], fmt.Sprintf("%d more warnings not shown", len(d.warn)-maxWarnings))
	}
	return d.cp, ctx.Err()
}

// pstree reads pstree.img up to MaxProcesses entries; the rest are counted, not decoded.
func (d *decoder) pstree() ([]*pstree.PstreeEntry, error) {
	ir, err := OpenImage(d.a, "pstree.img", "PSTREE")
	if err != nil {
		return nil, err
	}
	var out []*pstree.PstreeEntry
	for len(out) < d.o.MaxProcesses {
		if err := d.ctx.Err(); err != nil {
			return nil, err
		}
		e := &pstree.PstreeEntry{}
		if err := ir.Next(e); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	more := 0
	for {
		if err := ir.Skip(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			d.warnf("%v", err)
			break
		}
		more++
	}
	if more > 0 {
		d.warnf("pstree.img: %d processes; only the first %d are decoded (limit: a container never runs that many; the rest is not shown)", len(out)+more, len(out))
	}
	return out, nil
}

// warnf records a problem with one part of the input.
func (d *decoder) warnf(format string, args ...any) {
	d.warn = append(d.warn, fmt.Sprintf(format, args...))
}

// warnErr records err unless it says the (optional) image is simply absent.
func (d *decoder) warnErr(err error) {
	if err != nil && !errors.Is(err, ErrMissingImage) {
		d.warn = append(d.warn, err.Error())
	}
}

func (d *decoder) criuInfo() {
	d.cp.CRIU.Images = nil
	for _, n := range d.a.ImageNames() {
		d.cp.CRIU.Images = append(d.cp.CRIU.Images, forensics.ImageFile{Name: n, Size: d.a.MemberSize(d.a.ImageDir() + n)})
	}
	// A tar member's mtime is what CRIU's write left; a directory's file times change with
	// every copy or checkout, so a bare image directory has no trustworthy dump time.
	if t := d.a.ModTime(d.a.ImageDir() + "inventory.img"); d.a.Format() != archive.FormatDir && !t.IsZero() && t.Unix() > 0 {
		d.cp.CRIU.DumpedAt = t.UTC()
		if c := d.cp.Container; c != nil && c.Checkpointed.IsZero() {
			// Podman writes no checkpoint time into config.dump; the images' own time is
			// the checkpoint time.
			c.Checkpointed = d.cp.CRIU.DumpedAt
		}
	}
	inv, err := readOne(d.a, "inventory.img", "INVENTORY", func() *inventory.InventoryEntry { return &inventory.InventoryEntry{} })
	if err != nil {
		d.warnf("%v", err)
	} else {
		d.cp.CRIU.ImageVersion = inv.GetImgVersion()
	}
	// CRIU writes stats-dump into the image directory; Podman also copies it to the top.
	name := "stats-dump"
	var st *stats.StatsEntry
	if d.a.HasImage(name) {
		st, err = readOne(d.a, name, "STATS", func() *stats.StatsEntry { return &stats.StatsEntry{} })
	} else if d.a.Has(name) {
		r, size, merr := d.a.Member(name)
		if merr == nil {
			var ir *Reader
			if ir, err = NewReader(name, r, size); err == nil {
				st = &stats.StatsEntry{}
				err = ir.Next(st)
			}
		} else {
			err = merr
		}
	}
	if err != nil {
		d.warnErr(err)
		return
	}
	if ds := st.GetDump(); ds != nil {
		d.cp.CRIU.Dump = &forensics.DumpStats{
			FreezingTime: ds.GetFreezingTime(), FrozenTime: ds.GetFrozenTime(),
			MemdumpTime: ds.GetMemdumpTime(), MemwriteTime: ds.GetMemwriteTime(),
			PagesScanned: ds.GetPagesScanned(), PagesSkippedParent: ds.GetPagesSkippedParent(),
			PagesWritten: ds.GetPagesWritten(), PagesLazy: ds.GetPagesLazy(),
		}
	}
}

// processes decodes every task of the tree.
func (d *decoder) processes(tree []*pstree.PstreeEntry) {
	seen := map[int]bool{}
	for _, e := range tree {
		if err := d.ctx.Err(); err != nil {
			return
		}
		pid := int(e.GetPid())
		if seen[pid] {
			d.warnf("pstree.img: pid %d listed twice; keeping the first", pid)
			continue
		}
		seen[pid] = true
		p := forensics.Process{
			PID: pid, PPID: int(e.GetPpid()), PGID: int(e.GetPgid()), SID: int(e.GetSid()),
			FDs: []forensics.FD{}, Maps: []forensics.VMA{},
		}
		p.Threads = append(p.Threads, pid)
		for _, t := range e.GetThreads() {
			if int(t) != pid {
				p.Threads = append(p.Threads, int(t))
			}
		}
		d.core(&p)
		d.threadNames(&p)
		d.taskIDs(&p)
		if p.State == "alive" || p.State == "stopped" || p.State == "" {
			d.memory(&p)
			d.fsRoot(&p)
			d.fds(&p)
		}
		d.cp.Processes = append(d.cp.Processes, p)
	}
	sort.Slice(d.cp.Processes, func(i, j int) bool { return d.cp.Processes[i].PID < d.cp.Processes[j].PID })
	byPID := map[int]int{}
	for i, p := range d.cp.Processes {
		byPID[p.PID] = i
	}
	for _, p := range d.cp.Processes {
		if i, ok := byPID[p.PPID]; ok && p.PPID != p.PID {
			d.cp.Processes[i].Children = append(d.cp.Processes[i].Children, p.PID)
		}
	}
	for i := range d.cp.Processes {
		sort.Ints(d.cp.Processes[i].Children)
	}
}

// core reads core-<pid>.img: comm, state, credentials, seccomp.
func (d *decoder) core(p *forensics.Process) {
	name := fmt.Sprintf("core-%d.img", p.PID)
	c, err := readOne(d.a, name, "CORE", func() *criu_core.CoreEntry { return &criu_core.CoreEntry{} })
	if err != nil {
		d.warnf("%v", err)
		return
	}
	tc := c.GetTc()
	p.Comm = tc.GetComm()
	p.State = taskState(tc.GetTaskState())
	if c.GetIds() != nil {
		d.ids[p.PID] = c.GetIds()
	}
	th := c.GetThreadCore()
	if cr := th.GetCreds(); cr != nil {
		p.Creds = forensics.Creds{
			UID: cr.GetUid(), EUID: cr.GetEuid(), SUID: cr.GetSuid(), FSUID: cr.GetFsuid(),
			GID: cr.GetGid(), EGID: cr.GetEgid(), SGID: cr.GetSgid(), FSGID: cr.GetFsgid(),
			Groups: cr.GetGroups(),
			CapEff: CapNames(cr.GetCapEff()), CapPrm: CapNames(cr.GetCapPrm()),
			CapInh: CapNames(cr.GetCapInh()), CapBnd: CapNames(cr.GetCapBnd()),
			NoNewPrivs: cr.GetNoNewPrivs() != 0, LSMProfile: cr.GetLsmProfile(),
		}
	}
	switch {
	case th != nil && th.SeccompMode != nil:
		p.Creds.Seccomp = seccompMode(int32(th.GetSeccompMode()))
	case tc.OldSeccompMode != nil:
		p.Creds.Seccomp = seccompMode(int32(tc.GetOldSeccompMode()))
	default:
		p.Creds.Seccomp = "disabled"
	}
}

// threadNames reads each thread's name from its core-<tid>.img (thread_core comm, CRIU >= 3.x;
// the main thread's is the task's comm). A thread whose name is not recorded gets "".
func (d *decoder) threadNames(p *forensics.Process) {
	if len(p.Threads) < 2 {
		return
	}
	names := make([]string, len(p.Threads))
	any := false
	for i, tid := range p.Threads {
		if i == 0 {
			names[0] = p.Comm
			continue
		}
		c, err := readOne(d.a, fmt.Sprintf("core-%d.img", tid), "CORE", func() *criu_core.CoreEntry { return &criu_core.CoreEntry{} })
		if err != nil {
			d.warnf("%v", err)
			continue
		}
		if n := c.GetThreadCore().GetComm(); n != "" {
			names[i], any = n, true
		}
	}
	if any {
		p.ThreadNames = names
	}
}

// taskIDs reads ids-<pid>.img (namespace and shared-object ids) unless core carried them.
func (d *decoder) taskIDs(p *forensics.Process) {
	if _, ok := d.ids[p.PID]; ok {
		return
	}
	ids, err := readOne(d.a, fmt.Sprintf("ids-%d.img", p.PID), "IDS", func() *criu_core.TaskKobjIdsEntry { return &criu_core.TaskKobjIdsEntry{} })
	if err != nil {
		if p.State == "alive" || p.State == "stopped" {
			d.warnErr(err)
		}
		return
	}
	d.ids[p.PID] = ids
}

// fsRoot reads fs-<pid>.img: cwd and root.
func (d *decoder) fsRoot(p *forensics.Process) {
	f, err := readOne(d.a, fmt.Sprintf("fs-%d.img", p.PID), "FS", func() *fsimg.FsEntry { return &fsimg.FsEntry{} })
	if err != nil {
		d.warnErr(err)
		return
	}
	p.Cwd, _ = d.regPath(f.GetCwdId())
	p.Root, _ = d.regPath(f.GetRootId())
}

// memory reads mm-<pid>.img and the pagemap: exe, maps with resident bytes, and the command
// line and environment from the argument pages.
func (d *decoder) memory(p *forensics.Process) {
	m, err := readOne(d.a, fmt.Sprintf("mm-%d.img", p.PID), "MM", func() *mm.MmEntry { return &mm.MmEntry{} })
	if err != nil {
		d.warnErr(err)
		return
	}
	if id := m.GetExeFileId(); id != 0 {
		p.Exe, p.ExeDeleted = d.regPath(id)
	}
	mem, err := OpenMemory(d.a, fmt.Sprintf("pagemap-%d.img", p.PID))
	if err != nil {
		d.warnErr(err)
	}
	if mem != nil && mem.Format != "" {
		switch d.cp.CRIU.PagemapFormat {
		case "":
			d.cp.CRIU.PagemapFormat = mem.Format
		case mem.Format:
		default:
			d.warnf("pagemap-%d.img: encoding %s differs from other pagemaps (%s)", p.PID, mem.Format, d.cp.CRIU.PagemapFormat)
		}
	}
	for _, v := range m.GetVmas() {
		p.Maps = append(p.Maps, d.vma(v, mem, m.GetMmStartStack()))
	}
	if mem != nil {
		p.Cmdline = d.strings(mem, m.GetMmArgStart(), m.GetMmArgEnd(), p.PID, "arguments")
		p.Environ = d.strings(mem, m.GetMmEnvStart(), m.GetMmEnvEnd(), p.PID, "environment")
	}
}

// strings reads a NUL-separated string area from memory. Only the pages of the area are read.
func (d *decoder) strings(mem *Memory, start, end uint64, pid int, what string) []string {
	if end <= start {
		return nil
	}
	if end-start > uint64(d.o.MaxArgBytes) {
		d.warnf("mm-%d.img: %s area is %d bytes; reading the first %d", pid, what, end-start, d.o.MaxArgBytes)
		end = start + uint64(d.o.MaxArgBytes)
	}
	buf := make([]byte, end-start)
	n, err := mem.ReadAt(buf, start)
	if err != nil && !errors.Is(err, ErrNotDumped) {
		d.warnf("pagemap-%d.img: reading %s: %v", pid, what, err)
	}
	if n == 0 {
		return nil
	}
	buf = buf[:n]
	// split at NULs without first making every string: an area of NULs is a million of them
	var out []string
	rest := strings.TrimRight(string(buf), "\x00")
	for {
		j := strings.IndexByte(rest, 0)
		s := rest
		if j >= 0 {
			s = rest[:j]
		}
		if s != "" || what == "arguments" {
			if len(out) == maxListEntries {
				d.warnf("mm-%d.img: more than %d %s strings; only the first %d are kept", pid, maxListEntries, what, maxListEntries)
				break
			}
			out = append(out, s)
		}
		if j < 0 {
			break
		}
		rest = rest[j+1:]
	}
	return d.boundList(out, d.o.MaxArgBytes, fmt.Sprintf("mm-%d.img", pid), what)
}

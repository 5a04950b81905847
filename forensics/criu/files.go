package criu

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/checkpoint-restore/go-criu/v8/crit/images/eventpoll"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/fdinfo"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/fsnotify"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/memfd"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/pipe"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/regfile"
	remap_file_path "github.com/checkpoint-restore/go-criu/v8/crit/images/remap-file-path"
	sk_inet "github.com/checkpoint-restore/go-criu/v8/crit/images/sk-inet"
	sk_unix "github.com/checkpoint-restore/go-criu/v8/crit/images/sk-unix"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/timerfd"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/tty"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/vma"
	"google.golang.org/protobuf/proto"

	"github.com/podsleuth/podsleuth/forensics"
)

// VMA status bits (criu/include/image.h).
const (
	stRegular    = 1 << 0
	stStack      = 1 << 1
	stVsyscall   = 1 << 2
	stVDSO       = 1 << 3
	stHeap       = 1 << 5
	stFilePriv   = 1 << 6
	stFileShared = 1 << 7
	stAnonShared = 1 << 8
	stAnonPriv   = 1 << 9
	stSysVIPC    = 1 << 10
	stSocket     = 1 << 11
	stVVAR       = 1 << 12
	stAIORing    = 1 << 13
	stMemfd      = 1 << 14
)

// loadFiles indexes files.img (every open file of the tree, by id), the remaps that mark
// deleted files, memfd inodes and tty infos. Images written by criu < 3.x kept each file type
// in its own image; the common ones (reg-files, inetsk, unixsk, pipes) are read too.
func (d *decoder) loadFiles() {
	if entries, err := readImage(d.a, "files.img", "FILES", func() *fdinfo.FileEntry { return &fdinfo.FileEntry{} }); err != nil {
		d.warnErr(err)
	} else {
		for _, e := range entries {
			d.files[e.GetId()] = e
		}
	}
	legacy(d, "reg-files.img", "REG_FILES", func() *regfile.RegFileEntry { return &regfile.RegFileEntry{} },
		func(e *regfile.RegFileEntry) *fdinfo.FileEntry {
			return &fdinfo.FileEntry{Type: fdinfo.FdTypes_REG.Enum(), Id: proto.Uint32(e.GetId()), Reg: e}
		})
	legacy(d, "inetsk.img", "INETSK", func() *sk_inet.InetSkEntry { return &sk_inet.InetSkEntry{} },
		func(e *sk_inet.InetSkEntry) *fdinfo.FileEntry {
			return &fdinfo.FileEntry{Type: fdinfo.FdTypes_INETSK.Enum(), Id: proto.Uint32(e.GetId()), Isk: e}
		})
	legacy(d, "unixsk.img", "UNIXSK", func() *sk_unix.UnixSkEntry { return &sk_unix.UnixSkEntry{} },
		func(e *sk_unix.UnixSkEntry) *fdinfo.FileEntry {
			return &fdinfo.FileEntry{Type: fdinfo.FdTypes_UNIXSK.Enum(), Id: proto.Uint32(e.GetId()), Usk: e}
		})
	legacy(d, "pipes.img", "PIPES", func() *pipe.PipeEntry { return &pipe.PipeEntry{} },
		func(e *pipe.PipeEntry) *fdinfo.FileEntry {
			return &fdinfo.FileEntry{Type: fdinfo.FdTypes_PIPE.Enum(), Id: proto.Uint32(e.GetId()), Pipe: e}
		})
	if entries, err := readImage(d.a, "remap-fpath.img", "REMAP_FPATH", func() *remap_file_path.RemapFilePathEntry { return &remap_file_path.RemapFilePathEntry{} }); err != nil {
		d.warnErr(err)
	} else {
		for _, e := range entries {
			d.remaps[e.GetOrigId()] = e.GetRemapType()
		}
	}
	if entries, err := readImage(d.a, "memfd.img", "MEMFD_INODE", func() *memfd.MemfdInodeEntry { return &memfd.MemfdInodeEntry{} }); err != nil {
		d.warnErr(err)
	} else {
		for _, e := range entries {
			d.memfds[uint32(e.GetInodeId())] = e
		}
	}
	if entries, err := readImage(d.a, "tty-info.img", "TTY_INFO", func() *tty.TtyInfoEntry { return &tty.TtyInfoEntry{} }); err != nil {
		d.warnErr(err)
	} else {
		for _, e := range entries {
			d.ttyInfo[e.GetId()] = e
		}
	}
}

// legacy reads a per-type file image of old criu versions into the files index.
func legacy[T proto.Message](d *decoder, name, magicName string, newT func() T, wrap func(T) *fdinfo.FileEntry) {
	if !d.a.HasImage(name) {
		return
	}
	entries, err := readImage(d.a, name, magicName, newT)
	if err != nil {
		d.warnErr(err)
	}
	for _, e := range entries {
		fe := wrap(e)
		if _, ok := d.files[fe.GetId()]; !ok {
			d.files[fe.GetId()] = fe
		}
	}
}

// deleted reports whether CRIU had to remap the file because it was unlinked (linked remap
// or ghost file).
func (d *decoder) deleted(id uint32) bool {
	t, ok := d.remaps[id]
	return ok && (t == remap_file_path.RemapType_LINKED || t == remap_file_path.RemapType_GHOST)
}

// regPath returns the path of a regular file entry and whether it was deleted.
func (d *decoder) regPath(id uint32) (string, bool) {
	f, ok := d.files[id]
	if !ok || f.GetReg() == nil {
		return "", false
	}
	return f.GetReg().GetName(), d.deleted(id)
}

func (d *decoder) own(id uint32, pid int) {
	if !slices.Contains(d.owners[id], pid) {
		d.owners[id] = append(d.owners[id], pid)
	}
}

// fds reads the process's fdinfo image and resolves every descriptor.
func (d *decoder) fds(p *forensics.Process) {
	ids, ok := d.ids[p.PID]
	if !ok {
		return
	}
	name := fmt.Sprintf("fdinfo-%d.img", ids.GetFilesId())
	ir, err := OpenImage(d.a, name, "FDINFO")
	if err != nil {
		d.warnErr(err)
		return
	}
	for {
		var e fdinfo.FdinfoEntry
		if err := ir.Next(&e); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			d.warnErr(err)
			break
		}
		p.FDs = append(p.FDs, d.fd(p.PID, &e))
	}
	slices.SortFunc(p.FDs, func(a, b forensics.FD) int { return a.FD - b.FD })
}

// fd resolves one descriptor against files.img.
func (d *decoder) fd(pid int, e *fdinfo.FdinfoEntry) forensics.FD {
	cloexec := e.GetFlags()&1 != 0
	out := forensics.FD{FD: int(e.GetFd()), FileID: e.GetId(), Type: forensics.FDUnknown}
	d.own(e.GetId(), pid)
	f, ok := d.files[e.GetId()]
	if !ok {
		out.Path = fmt.Sprintf("unknown:[%d]", e.GetId())
		d.warnf("fdinfo: pid %d fd %d: file id %d not in files.img", pid, e.GetFd(), e.GetId())
		return out
	}
	switch f.GetType() {
	case fdinfo.FdTypes_REG:
		r := f.GetReg()
		out.Type = forensics.FDRegular
		out.Path = r.GetName()
		out.Flags = OpenFlags(r.GetFlags(), cloexec)
		out.Pos = int64(r.GetPos())
		out.Size = int64(r.GetSize())
		out.Mode = r.GetMode()
		out.Deleted = d.deleted(f.GetId())
		if fs.FileMode(r.GetMode()&0o170000) == 0o040000>>0 || r.GetMode()&0o170000 == 0o040000 {
			out.Type = forensics.FDDir
		}
	case fdinfo.FdTypes_PIPE:
		pp := f.GetPipe()
		out.Type = forensics.FDPipe
		out.PipeID = pp.GetPipeId()
		out.Path = fmt.Sprintf("pipe:[%d]", pp.GetPipeId())
		out.Flags = OpenFlags(pp.GetFlags(), cloexec)
	case fdinfo.FdTypes_FIFO:
		ff := f.GetFifo()
		out.Type = forensics.FDFifo
		out.PipeID = ff.GetPipeId()
		out.Path, out.Deleted = d.regPath(ff.GetRegfId())
		if rf, ok := d.files[ff.GetRegfId()]; ok {
			out.Flags = OpenFlags(rf.GetReg().GetFlags(), cloexec)
		}
	case fdinfo.FdTypes_INETSK:
		socketFD(&out, forensics.FDInet, f.GetIsk().GetIno(), OpenFlags(f.GetIsk().GetFlags(), cloexec))
	case fdinfo.FdTypes_UNIXSK:
		socketFD(&out, forensics.FDUnix, f.GetUsk().GetIno(), OpenFlags(f.GetUsk().GetFlags(), cloexec))
	case fdinfo.FdTypes_NETLINKSK:
		socketFD(&out, forensics.FDNetlink, f.GetNlsk().GetIno(), OpenFlags(f.GetNlsk().GetFlags(), cloexec))
	case fdinfo.FdTypes_PACKETSK:
		s := f.GetPsk()
		out.Type = forensics.FDPacket
		out.SocketIno = s.GetId() // CRIU keeps no inode for packet sockets; the id stands in
		out.Path = fmt.Sprintf("socket:[packet %d]", s.GetId())
		out.Flags = OpenFlags(s.GetFlags(), cloexec)
	case fdinfo.FdTypes_EVENTFD:
		out.Type, out.Path = forensics.FDEventFD, "anon_inode:[eventfd]"
		out.Flags = OpenFlags(f.GetEfd().GetFlags(), cloexec)
		if e := f.GetEfd(); e != nil {
			out.EventFD = &forensics.EventFD{Counter: e.GetCounter()}
		}
	case fdinfo.FdTypes_EVENTPOLL:
		out.Type, out.Path = forensics.FDEventPoll, "anon_inode:[eventpoll]"
		out.Flags = OpenFlags(f.GetEpfd().GetFlags(), cloexec)
		if e := f.GetEpfd(); e != nil {
			out.Epoll = epoll(e)
		}
	case fdinfo.FdTypes_SIGNALFD:
		out.Type, out.Path = forensics.FDSignalFD, "anon_inode:[signalfd]"
		out.Flags = OpenFlags(f.GetSgfd().GetFlags(), cloexec)
		if e := f.GetSgfd(); e != nil {
			out.SignalFD = &forensics.SignalFD{Signals: SignalMask(e.GetSigmask())}
		}
	case fdinfo.FdTypes_TIMERFD:
		out.Type, out.Path = forensics.FDTimerFD, "anon_inode:[timerfd]"
		out.Flags = OpenFlags(f.GetTfd().GetFlags(), cloexec)
		if e := f.GetTfd(); e != nil {
			out.TimerFD = timerFD(e)
		}
	case fdinfo.FdTypes_INOTIFY:
		out.Type, out.Path = forensics.FDInotify, "anon_inode:inotify"
		out.Flags = OpenFlags(f.GetIfy().GetFlags(), cloexec)
		if e := f.GetIfy(); e != nil {
			out.Inotify = inotify(e)
		}
	case fdinfo.FdTypes_FANOTIFY:
		out.Type, out.Path = forensics.FDFanotify, "anon_inode:[fanotify]"
		out.Flags = OpenFlags(f.GetFfy().GetFlags(), cloexec)
	case fdinfo.FdTypes_TTY:
		t := f.GetTty()
		out.Type = forensics.FDTTY
		out.Flags = OpenFlags(t.GetFlags(), cloexec)
		out.Path = d.ttyPath(t)
		if info, ok := d.ttyInfo[t.GetTtyInfoId()]; ok {
			out.TTY = ttyState(info)
		}
	case fdinfo.FdTypes_MEMFD:
		m := f.GetMemfd()
		out.Type = forensics.FDMemfd
		out.Flags = OpenFlags(m.GetFlags(), cloexec)
		out.Pos = int64(m.GetPos())
		if in, ok := d.memfds[m.GetInodeId()]; ok {
			out.Path = "memfd:" + in.GetName()
			out.Size = int64(in.GetSize())
			out.Mode = in.GetMode()
		} else {
			out.Path = fmt.Sprintf("memfd:[inode %d]", m.GetInodeId())
		}
	case fdinfo.FdTypes_TUNF:
		out.Type, out.Path = forensics.FDTun, "/dev/net/tun"
		if n := f.GetTunf().GetDetached(); n {
			out.Path += " (detached)"
		}
	case fdinfo.FdTypes_BPFMAP:
		out.Type, out.Path = forensics.FDBPFMap, "anon_inode:bpf-map"
		out.Flags = OpenFlags(f.GetBpf().GetFlags(), cloexec)
	case fdinfo.FdTypes_PIDFD:
		out.Type = forensics.FDPidfd
		out.Path = fmt.Sprintf("anon_inode:[pidfd] pid %d", f.GetPidfd().GetNspid())
		out.Flags = OpenFlags(f.GetPidfd().GetFlags(), cloexec)
	case fdinfo.FdTypes_NS:
		out.Type = forensics.FDUnknown
		out.Path = fmt.Sprintf("ns:[%d]", f.GetNsf().GetNsId())
	case fdinfo.FdTypes_EXT:
		out.Type, out.Path = forensics.FDExt, fmt.Sprintf("ext:[%d]", f.GetId())
	default:
		out.Path = fmt.Sprintf("%s:[%d]", f.GetType().String(), f.GetId())
	}
	return out
}

func (d *decoder) ttyPath(t *tty.TtyFileEntry) string {
	if t.RegfId != nil {
		if p, _ := d.regPath(t.GetRegfId()); p != "" {
			return p
		}
	}
	info, ok := d.ttyInfo[t.GetTtyInfoId()]
	if !ok {
		return fmt.Sprintf("tty:[%d]", t.GetTtyInfoId())
	}
	switch info.GetType() {
	case tty.TtyType_PTY:
		// ptmx has major 5 minor 2; slaves are /dev/pts/N (majors 136-143).
		if isPtyMaster(info.GetRdev()) {
			return fmt.Sprintf("/dev/ptmx (pts %d)", info.GetPty().GetIndex())
		}
		return fmt.Sprintf("/dev/pts/%d", info.GetPty().GetIndex())
	case tty.TtyType_CONSOLE:
		return "/dev/console"
	case tty.TtyType_CTTY:
		return "/dev/tty"
	case tty.TtyType_VT:
		return fmt.Sprintf("/dev/tty%d", info.GetRdev()&0xff)
	}
	return fmt.Sprintf("tty:[%s %d]", info.GetType(), info.GetId())
}

// timerFD converts a timerfd's setting. CRIU copies it from /proc/PID/fdinfo, where it_value
// is the time left until the next expiry whatever the settime flags (fs/timerfd.c).
func timerFD(e *timerfd.TimerfdEntry) *forensics.TimerFD {
	return &forensics.TimerFD{
		Clock:    ClockName(e.GetClockid()),
		Value:    duration(e.GetVsec(), e.GetVnsec()),
		Interval: duration(e.GetIsec(), e.GetInsec()),
		Ticks:    e.GetTicks(),
		Abstime:  e.GetSettimeFlags()&1 != 0, // TFD_TIMER_ABSTIME
	}
}

// duration is sec seconds plus nsec nanoseconds, saturated at the largest time.Duration (a
// hostile image can hold any uint64).
func duration(sec, nsec uint64) time.Duration {
	const maxSec = uint64(math.MaxInt64 / int64(time.Second))
	if sec > maxSec || nsec > uint64(math.MaxInt64) {
		return math.MaxInt64
	}
	d := time.Duration(sec) * time.Second
	if time.Duration(nsec) > math.MaxInt64-d {
		return math.MaxInt64
	}
	return d + time.Duration(nsec)
}

// inotify converts an inotify instance's watches. CRIU stores each watch inside the file entry
// (very old versions wrote inotify-wd.img, which is not read here), with the path it found by
// opening the watch's file handle (fsnotify.c check_open_handle); the path is empty when the
// handle could not be resolved to one.
func inotify(e *fsnotify.InotifyFileEntry) *forensics.Inotify {
	out := &forensics.Inotify{Watches: []forensics.InotifyWatch{}}
	for _, w := range e.GetWd() {
		out.Watches = append(out.Watches, forensics.InotifyWatch{
			WD:   int32(w.GetWd()),
			Path: w.GetFHandle().GetPath(),
			Ino:  w.GetIIno(),
			Dev:  kernelDev(w.GetSDev()),
			Mask: InotifyMask(w.GetMask()),
		})
	}
	slices.SortStableFunc(out.Watches, func(a, b forensics.InotifyWatch) int { return cmp.Compare(a.WD, b.WD) })
	return out
}

// epoll converts an epoll instance's interest list. CRIU stores each target inside the file
// entry (very old versions wrote eventpoll-tfd.img, which is not read here) by its fd number in
// the owning process (eventpoll.c: a target whose fd was closed or reused after EPOLL_CTL_ADD is
// stored as another fd of the same file in that process; with none, the dump fails).
func epoll(e *eventpoll.EventpollFileEntry) *forensics.Epoll {
	out := &forensics.Epoll{Targets: []forensics.EpollTarget{}}
	for _, t := range e.GetTfd() {
		out.Targets = append(out.Targets, forensics.EpollTarget{
			FD:     int(t.GetTfd()),
			Events: EpollEvents(t.GetEvents()),
			Data:   "0x" + strconv.FormatUint(t.GetData(), 16),
		})
	}
	slices.SortStableFunc(out.Targets, func(a, b forensics.EpollTarget) int { return cmp.Compare(a.FD, b.FD) })
	return out
}

// ttyState converts a terminal's tty-info entry.
func ttyState(info *tty.TtyInfoEntry) *forensics.TTY {
	out := &forensics.TTY{
		Type: info.GetType().String(),
		Rdev: userDev(info.GetRdev()),
		SID:  info.GetSid(),
		PGRP: info.GetPgrp(),
	}
	if info.GetType() == tty.TtyType_PTY {
		out.Index = info.GetPty().GetIndex()
		out.Master = isPtyMaster(info.GetRdev())
	}
	if ws := info.GetWinsize(); ws != nil {
		out.Rows, out.Cols = ws.GetWsRow(), ws.GetWsCol()
	}
	return out
}

// isPtyMaster reports whether a tty rdev is a pseudo-terminal master: the ptmx device 5:2, or
// the Unix98 master majors 128-135 (CRIU tty.c get_tty_driver).
func isPtyMaster(rdev uint32) bool {
	major := (rdev >> 8) & 0xfff
	return userDev(rdev) == "5:2" || (major >= 128 && major <= 135)
}

// vma converts one VMA, resolving file and memfd paths and counting resident bytes.
func (d *decoder) vma(v *vma.VmaEntry, mem *Memory, startStack uint64) forensics.VMA {
	out := forensics.VMA{Start: v.GetStart(), End: v.GetEnd(), Offset: v.GetPgoff()}
	prot, flags, st := v.GetProt(), v.GetFlags(), v.GetStatus()
	b := []byte("---p")
	if prot&1 != 0 {
		b[0] = 'r'
	}
	if prot&2 != 0 {
		b[1] = 'w'
	}
	if prot&4 != 0 {
		b[2] = 'x'
	}
	if flags&0x01 != 0 { // MAP_SHARED
		b[3] = 's'
		out.Shared = true
	}
	out.Prot = string(b)
	shared := false
	switch {
	case st&stVDSO != 0:
		out.Kind, out.Path = "vdso", "[vdso]"
	case st&stVVAR != 0:
		out.Kind, out.Path = "vvar", "[vvar]"
	case st&stVsyscall != 0:
		out.Kind, out.Path = "vsyscall", "[vsyscall]"
	case st&stMemfd != 0:
		out.Kind = "memfd"
		shared = out.Shared
		if f, ok := d.files[uint32(v.GetShmid())]; ok && f.GetMemfd() != nil {
			if in, ok := d.memfds[f.GetMemfd().GetInodeId()]; ok {
				out.Path = "memfd:" + in.GetName()
				if strings.HasPrefix(in.GetName(), "/") {
					// A shared anonymous mapping: the kernel backs it with a shmem file
					// named "/dev/zero" and CRIU >= 4 dumps it like a memfd.
					out.Kind, out.Path = "shmem", in.GetName()+" (deleted)"
				}
				if shared {
					out.ResidentBytes = d.shmemResident(uint64(in.GetShmid()), v)
				}
			}
		}
		if out.Path == "" {
			out.Path = fmt.Sprintf("memfd:[%d]", v.GetShmid())
		}
	case st&(stFilePriv|stFileShared) != 0:
		out.Kind = "file"
		out.Path, out.Deleted = d.regPath(uint32(v.GetShmid()))
		shared = st&stFileShared != 0
	case st&stSysVIPC != 0:
		out.Kind, out.Path = "shmem", fmt.Sprintf("SYSV%08x", v.GetShmid())
		shared = true
	case st&stAnonShared != 0:
		out.Kind, out.Path = "shmem", "/dev/zero (deleted)"
		shared = true
		out.ResidentBytes = d.shmemResident(v.GetShmid(), v)
	case st&stSocket != 0:
		out.Kind, out.Path = "file", "socket"
		shared = true
	case st&stAIORing != 0:
		out.Kind, out.Path = "anon", "[aio]"
	case st&stHeap != 0:
		out.Kind, out.Path = "heap", "[heap]"
	case st&stStack != 0:
		out.Kind, out.Path = "stack", "[stack]"
	default:
		out.Kind = "anon"
	}
	// CRIU marks the main stack only through MAP_GROWSDOWN; the mm's start_stack confirms it.
	if out.Kind == "anon" && (st&stStack != 0 || flags&0x100 != 0 || (startStack >= v.GetStart() && startStack < v.GetEnd())) {
		out.Kind, out.Path = "stack", "[stack]"
	}
	if !shared && st&stFileShared == 0 {
		out.ResidentBytes = mem.ResidentBytes(v.GetStart(), v.GetEnd())
	}
	return out
}

// shmemResident counts the pages of a shared memory object (pagemap-shmem-<id>.img, addresses
// relative to the object) that fall in the VMA's window of it.
func (d *decoder) shmemResident(id uint64, v *vma.VmaEntry) uint64 {
	m, ok := d.shmem[id]
	if !ok {
		name := fmt.Sprintf("pagemap-shmem-%d.img", id)
		var err error
		if d.a.HasImage(name) {
			m, err = OpenMemory(d.a, name)
			d.warnErr(err)
		}
		d.shmem[id] = m
	}
	if m == nil {
		return 0
	}
	off := v.GetPgoff()
	return m.ResidentBytes(off, off+(v.GetEnd()-v.GetStart()))
}

// socketFD fills an fd that refers to a socket with inode ino.
func socketFD(out *forensics.FD, typ string, ino uint32, flags string) {
	out.Type, out.SocketIno, out.Flags = typ, ino, flags
	out.Path = fmt.Sprintf("socket:[%d]", ino)
}

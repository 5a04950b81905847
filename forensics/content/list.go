package content

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/checkpoint-restore/go-criu/v8/crit/images/mnt"
	"github.com/klauspost/compress/zstd"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/criu"
	"github.com/podsleuth/podsleuth/forensics/memory"
)

// Options bound List.
type Options struct {
	// CacheDir receives the (unlinked) spool files of compressed tars; os.TempDir() when empty.
	CacheDir string
	// MaxSpool bounds the bytes decompressed into spool files in all (DefaultMaxSpool when 0);
	// a tar that would exceed it is listed as not saved, with the reason.
	MaxSpool int64
	// MaxEntries bounds the files listed per tar (DefaultMaxEntries when 0).
	MaxEntries int
}

// Defaults of Options.
const (
	DefaultMaxSpool   = 8 << 30
	DefaultMaxEntries = 200_000
)

// List finds every content object of a checkpoint. mem may be nil (no memory index): then
// memfd, shmem, pipe and socket contents are not listed and a warning says so. The Set must be
// closed. List fails only when ctx ends; damaged parts become warnings.
func List(ctx context.Context, a *archive.Archive, cp *forensics.Checkpoint, mem *memory.Memory, opt Options) (*Set, error) {
	if opt.MaxSpool <= 0 {
		opt.MaxSpool = DefaultMaxSpool
	}
	if opt.MaxEntries <= 0 {
		opt.MaxEntries = DefaultMaxEntries
	}
	if opt.CacheDir == "" {
		opt.CacheDir = os.TempDir()
	}
	l := &lister{ctx: ctx, a: a, cp: cp, opt: opt, s: &Set{}}
	l.ghosts()
	l.memoryObjects(mem)
	l.tars()
	l.unsaved()
	if err := ctx.Err(); err != nil {
		l.s.Close()
		return nil, err
	}
	l.s.sort()
	return l.s, nil
}

type lister struct {
	ctx     context.Context
	a       *archive.Archive
	cp      *forensics.Checkpoint
	opt     Options
	s       *Set
	spooled int64
}

func (l *lister) ghosts() {
	gs, err := criu.Ghosts(l.a)
	if err != nil {
		l.s.warnf("ghost files: %v", err)
	}
	for _, g := range gs {
		o := &Object{Kind: KindGhost, Size: g.Size, Saved: true, Mode: g.Mode.String(), ModTime: g.ModTime, Source: g.Image, r: g.Content}
		// the path and holders: the descriptors of this open file
		for _, pr := range l.cp.Processes {
			for _, fd := range pr.FDs {
				if fd.FileID == g.FileID && fd.Deleted {
					if o.Path == "" {
						o.Path = cleanPath(fd.Path)
					}
					o.Holders = append(o.Holders, memory.Holder{PID: pr.PID, Comm: pr.Comm, FD: fd.FD})
				}
			}
		}
		if o.Path == "" {
			o.Path = fmt.Sprintf("(file id %d)", g.FileID)
		}
		// processes that map the deleted file (a deleted executable, a mapped payload)
		for _, pr := range l.cp.Processes {
			for i := range pr.Maps {
				v := pr.Maps[i]
				if v.Kind == "file" && v.Deleted && cleanPath(v.Path) == o.Path {
					o.Holders = append(o.Holders, memory.Holder{PID: pr.PID, Comm: pr.Comm, FD: -1, VMA: &v})
					break
				}
			}
		}
		if g.SymlinkTarget != "" {
			o.Note = "a deleted symbolic link to " + g.SymlinkTarget
		}
		o.ID = KindGhost + ":" + o.Path
		l.s.Objects = append(l.s.Objects, o)
	}
}

// objectReader adapts a memory object to io.ReaderAt; pages the checkpoint does not hold read
// as zeros (the Note of the object says how much is missing).
type objectReader struct{ o *memory.Object }

func (r objectReader) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset %d", off)
	}
	size := int64(r.o.Size())
	if off >= size {
		return 0, io.EOF
	}
	want := len(b)
	if int64(want) > size-off {
		b = b[:size-off]
	}
	done := 0
	for done < len(b) {
		n, err := r.o.ReadAt(b[done:], uint64(off)+uint64(done))
		done += n
		if err == nil {
			break
		}
		var ue *memory.UnreadableError
		if !errors.As(err, &ue) {
			return done, err
		}
		// skip to the next page: zeros for what is not saved
		next := int((uint64(off)+uint64(done))/memory.PageSize+1)*memory.PageSize - int(off)
		next = min(next, len(b))
		clear(b[done:next])
		done = next
	}
	if done < want {
		return done, io.EOF
	}
	return done, nil
}

func (l *lister) memoryObjects(mem *memory.Memory) {
	if mem == nil {
		l.s.warnf("no memory index: memfd, shared memory, pipe and socket contents are not listed")
		return
	}
	for _, mo := range mem.Objects {
		switch mo.Kind {
		case memory.KindMemfd, memory.KindShmem, memory.KindPipe, memory.KindSocket:
		default:
			continue // file-like objects attached earlier
		}
		o := &Object{Kind: mo.Kind, Path: mo.Name, Size: int64(mo.Size()), Saved: true, Holders: mo.Holders, mobj: mo, r: objectReader{mo}}
		switch mo.Kind {
		case memory.KindMemfd:
			o.ID = mo.Name
			o.Path = "/" + mo.Name
			o.Source = "pagemap-shmem-" + strconv.FormatUint(mo.ID, 10) + ".img"
			l.noteMissingPages(o, mo)
		case memory.KindShmem:
			o.ID = mo.Name
			o.Source = "pagemap-shmem-" + strconv.FormatUint(mo.ID, 10) + ".img"
			l.noteMissingPages(o, mo)
		case memory.KindPipe:
			o.ID = mo.Name
			o.Source = "pipes-data.img"
		case memory.KindSocket:
			// "socket:[INO] recv queue (...)" -> "socket:[INO]/recv"
			f := strings.Fields(mo.Name)
			o.ID = f[0]
			if len(f) > 1 {
				o.ID += "/" + f[1]
			}
			o.Source = "sk-queues.img"
			if strings.Contains(mo.Name, "tcp") {
				o.Source = fmt.Sprintf("tcp-stream-%x.img", mo.ID)
			}
		}
		l.s.Objects = append(l.s.Objects, o)
	}
	// memfds a process holds whose pages CRIU did not write (never touched): say so
	for _, pr := range l.cp.Processes {
		for _, fd := range pr.FDs {
			if fd.Type != forensics.FDMemfd {
				continue
			}
			id := strings.TrimPrefix(fd.Path, "/")
			found := false
			for _, o := range l.s.Objects {
				if o.ID == id {
					found = true
				}
			}
			if !found {
				l.s.Objects = append(l.s.Objects, &Object{ID: id, Kind: KindMemfd, Path: "/" + id, Size: fd.Size, Note: "no page of this memfd is in the checkpoint (empty, or never written)",
					Holders: []memory.Holder{{PID: pr.PID, Comm: pr.Comm, FD: fd.FD}}})
			}
		}
	}
}

func (l *lister) noteMissingPages(o *Object, mo *memory.Object) {
	if mo.Pages == nil {
		return
	}
	s, e := mo.Pages.Bounds()
	if have := mo.Pages.Resident(s, e); have < e {
		o.Note = fmt.Sprintf("%d of %d bytes saved (pages CRIU did not dump read as zeros)", have, e)
	}
}

// tarSource is one tar of files in the checkpoint.
type tarSource struct {
	member string // archive member or CRIU image name
	image  bool   // member is a CRIU image (in the image directory)
	kind   string
	prefix string // mountpoint the tar's paths are under
	// whiteouts are overlay deletions (rootfs-diff.tar of some engines): not files
}

func (l *lister) tars() {
	var srcs []tarSource
	if l.a.Has("rootfs-diff.tar") {
		srcs = append(srcs, tarSource{member: "rootfs-diff.tar", kind: KindRootfs, prefix: "/"})
	}
	if l.a.Has("devshm-checkpoint.tar") {
		srcs = append(srcs, tarSource{member: "devshm-checkpoint.tar", kind: KindDevshm, prefix: "/dev/shm"})
	}
	// CRIU names tmpfs images by the mount's device (tmpfs-dev-DEV.tar.gz.img, DEV = root_dev
	// of the mount entry), not by the mount id
	mounts := map[uint32]string{}
	for _, n := range l.a.ImageNames() {
		if !strings.HasPrefix(n, "mountpoints-") {
			continue
		}
		ir, err := criu.OpenImage(l.a, n, "MNTS")
		if err != nil {
			l.s.warnf("%v", err)
			continue
		}
		ms, err := criu.ReadAll(ir, func() *mnt.MntEntry { return &mnt.MntEntry{} })
		if err != nil {
			l.s.warnf("%v", err)
		}
		for _, m := range ms {
			if m.GetFstype() == uint32(mnt.Fstype_TMPFS) || m.GetFstype() == uint32(mnt.Fstype_DEVTMPFS) {
				if _, dup := mounts[m.GetRootDev()]; !dup || m.GetRoot() == "/" {
					mounts[m.GetRootDev()] = m.GetMountpoint()
				}
			}
		}
	}
	names := l.a.ImageNames()
	sort.Strings(names)
	for _, n := range names {
		id, ok := strings.CutPrefix(n, "tmpfs-dev-")
		if !ok {
			continue
		}
		id = strings.TrimSuffix(strings.TrimSuffix(id, ".img"), ".tar.gz")
		mid, err := strconv.ParseUint(id, 10, 32)
		if err != nil {
			continue
		}
		prefix, ok := mounts[uint32(mid)]
		if prefix = cleanPath(prefix); !ok || prefix == "" {
			l.s.warnf("%s: no tmpfs mount of device %d in the mount table: its files are listed under /tmpfs-%d", n, mid, mid)
			prefix = fmt.Sprintf("/tmpfs-%d", mid)
		}
		kind := KindTmpfs
		if prefix == "/dev/shm" {
			kind = KindDevshm
		}
		srcs = append(srcs, tarSource{member: n, image: true, kind: kind, prefix: prefix})
	}
	for _, src := range srcs {
		if l.ctx.Err() != nil {
			return
		}
		l.tar(src)
	}
}

func (l *lister) open(src tarSource) (io.ReaderAt, int64, error) {
	if src.image {
		return l.a.Image(src.member)
	}
	return l.a.Member(src.member)
}

func (l *lister) tar(src tarSource) {
	r, size, err := l.open(src)
	if err != nil {
		l.s.warnf("%s: %v", src.member, err)
		return
	}
	r, size, err = l.uncompressed(src.member, r, size)
	if err != nil {
		l.s.warnf("%s: %v", src.member, err)
		return
	}
	l.entries(src, r, size)
}

// entries lists the regular files of an uncompressed tar (FuzzTarListing feeds it hostile
// tars): damage ends the listing with a warning, a file cut by the tar's end is listed as not
// saved, and at most MaxEntries entries are read.
func (l *lister) entries(src tarSource, r io.ReaderAt, size int64) {
	sr := io.NewSectionReader(r, 0, size)
	tr := tar.NewReader(sr)
	n := 0
	for {
		if l.ctx.Err() != nil {
			return
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			l.s.warnf("%s: after %d entries: %v", src.member, n, err)
			return
		}
		if n++; n > l.opt.MaxEntries {
			l.s.warnf("%s: more than %d entries: the rest is not listed", src.member, l.opt.MaxEntries)
			return
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeGNUSparse {
			continue
		}
		p := path.Clean(src.prefix + "/" + path.Clean("/"+h.Name))
		base := path.Base(p)
		if strings.HasPrefix(base, ".wh.") {
			continue // an overlay whiteout: a deletion, not a file
		}
		o := &Object{ID: src.kind + ":" + p, Kind: src.kind, Path: p, Size: h.Size, Mode: fs.FileMode(h.Mode).Perm().String(),
			ModTime: h.ModTime.UTC(), Source: src.member, Holders: holdersOf(l.cp, p, false)}
		if h.Mode&0o111 != 0 {
			o.Mode = "-" + strings.TrimPrefix(fs.FileMode(h.Mode).Perm().String(), "-")
		}
		off, _ := sr.Seek(0, io.SeekCurrent)
		switch {
		case h.Typeflag == tar.TypeGNUSparse || len(h.PAXRecords["GNU.sparse.map"]) > 0 || h.PAXRecords["GNU.sparse.major"] != "":
			o.Note = "a sparse file in the tar: its content is not indexed"
		case off < 0 || h.Size < 0 || h.Size > size-off:
			o.Note = "the tar ends inside this file: its content is truncated"
		default:
			o.Saved, o.r = true, io.NewSectionReader(r, off, h.Size)
		}
		l.s.Objects = append(l.s.Objects, o)
	}
}

// uncompressed returns a random-access reader of a tar that may be gzip or zstd compressed
// (containerd's rootfs-diff.tar is gzip despite its name; CRIU's tmpfs images are tar.gz):
// compressed ones are decompressed once into an unlinked spool file, bounded by MaxSpool.
func (l *lister) uncompressed(name string, r io.ReaderAt, size int64) (io.ReaderAt, int64, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10)
	head, _ := br.Peek(4)
	var zr io.Reader
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: gzip: %v", archive.ErrCorrupt, err)
		}
		defer gz.Close()
		zr = gz
	case len(head) >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd:
		zs, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(128<<20), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, 0, fmt.Errorf("%w: zstd: %v", archive.ErrCorrupt, err)
		}
		defer zs.Close()
		zr = zs
	default:
		return r, size, nil
	}
	f, err := os.CreateTemp(l.opt.CacheDir, "podsleuth-content-*")
	if err != nil {
		return nil, 0, err
	}
	os.Remove(f.Name()) // the open file lives on until Close
	left := l.opt.MaxSpool - l.spooled
	n, err := io.Copy(f, ctxReader{l.ctx, io.LimitReader(zr, left+1)})
	l.spooled += n
	if err == nil && n > left {
		err = fmt.Errorf("%w: more than %d decompressed bytes in all (content spool limit)", archive.ErrTooLarge, l.opt.MaxSpool)
	}
	if err != nil {
		f.Close()
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: %v", archive.ErrTruncated, err)
		}
		return nil, 0, err
	}
	l.s.spools = append(l.s.spools, f)
	return f, n, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// unsaved lists the regular files processes held or ran whose contents are not among the saved
// objects, with the reason CRIU did not save them.
func (l *lister) unsaved() {
	have := map[string]bool{}
	for _, o := range l.s.Objects {
		if strings.HasPrefix(o.Path, "/") {
			have[o.Path] = true
		}
	}
	type use struct {
		holders []memory.Holder
	}
	uses := map[string]*use{}
	var order []string
	addUse := func(p string, h memory.Holder) {
		if p == "" || !strings.HasPrefix(p, "/") || have[p] {
			return
		}
		u := uses[p]
		if u == nil {
			u = &use{}
			uses[p] = u
			order = append(order, p)
		}
		u.holders = append(u.holders, h)
	}
	for _, pr := range l.cp.Processes {
		for _, fd := range pr.FDs {
			if fd.Type == forensics.FDRegular && !fd.Deleted && fd.Mode&0o170000 != 0o020000 && fd.Mode&0o170000 != 0o060000 && !devices[fd.Path] {
				addUse(cleanPath(fd.Path), memory.Holder{PID: pr.PID, Comm: pr.Comm, FD: fd.FD})
			}
		}
		if pr.Exe != "" && !pr.ExeDeleted {
			addUse(cleanPath(pr.Exe), memory.Holder{PID: pr.PID, Comm: pr.Comm, FD: -1})
		}
	}
	sort.Strings(order)
	for _, p := range order {
		l.s.Objects = append(l.s.Objects, &Object{ID: KindFile + ":" + p, Kind: KindFile, Path: p, Note: l.whyUnsaved(p), Holders: uses[p].holders})
	}
	// external mounts (volumes, the runtime's /dev/shm): CRIU saves none of their files
	for _, m := range l.cp.Mounts {
		if m.External == "" || runtimeFiles[m.Mountpoint] || strings.HasPrefix(m.Mountpoint, "/proc/") || strings.HasPrefix(m.Mountpoint, "/sys/") || m.FSType == "cgroup" || m.FSType == "cgroup2" {
			continue
		}
		if _, dup := uses[m.Mountpoint]; dup {
			continue
		}
		if m.Mountpoint == "/dev/shm" && l.a.Has("devshm-checkpoint.tar") {
			continue // the engine saved it (Podman, CRI-O)
		}
		l.s.Objects = append(l.s.Objects, &Object{ID: KindMount + ":" + m.Mountpoint, Kind: KindMount, Path: m.Mountpoint,
			Note: fmt.Sprintf("external %s mount (bind of %q from the node): CRIU does not save its files; collect them from the node or the volume", m.FSType, m.External)})
	}
}

// runtimeFiles are the files container engines bind into every container.
var runtimeFiles = map[string]bool{"/etc/hostname": true, "/etc/hosts": true, "/etc/resolv.conf": true,
	"/run/.containerenv": true, "/dev/termination-log": true, "/.dockerenv": true}

// devices are character devices every container has: their "content" is not evidence.
var devices = map[string]bool{"/dev/null": true, "/dev/zero": true, "/dev/full": true, "/dev/random": true,
	"/dev/urandom": true, "/dev/tty": true, "/dev/console": true, "/dev/ptmx": true}

// whyUnsaved says why CRIU holds no content for a file a process had open.
func (l *lister) whyUnsaved(p string) string {
	var best *forensics.Mount
	for i := range l.cp.Mounts {
		m := &l.cp.Mounts[i]
		if m.Mountpoint == "/" && best == nil {
			best = m
			continue
		}
		if (p == m.Mountpoint || strings.HasPrefix(p, strings.TrimSuffix(m.Mountpoint, "/")+"/")) && (best == nil || len(m.Mountpoint) > len(best.Mountpoint)) {
			best = m
		}
	}
	switch {
	case best != nil && best.External != "":
		return fmt.Sprintf("on the external mount %s (bind of %q from the node, e.g. a volume): CRIU does not save its contents; collect it from the node or the volume", best.Mountpoint, best.External)
	case best != nil && best.Mountpoint != "/" && (best.FSType == "tmpfs" || best.FSType == "devtmpfs"):
		return fmt.Sprintf("on the tmpfs %s, which CRIU did not save", best.Mountpoint)
	case l.cp.Container != nil:
		return "unchanged from the container image (not in the rootfs changes): the checkpoint holds no copy; read it from the image (--rootfs BASE.tar)"
	}
	return "a file of the host's filesystem: CRIU records only its path"
}

package ioc

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/memory"
)

// MinString is the shortest printable run of memory that is scanned for indicators.
const MinString = 6

// Strings is the part of memory.Memory the extractor needs.
type Strings interface {
	Strings(ctx context.Context, f memory.Filter, minLen int, fn func(memory.Hit) error) error
}

// Options tune Extract.
type Options struct {
	// Reveal keeps secret values unredacted.
	Reveal bool
	// Filter limits the memory scanned (pids, regions, ...). Environment and command lines of
	// the selected PIDs are always scanned.
	Filter memory.Filter
	// Types keeps only these indicator types (all when empty).
	Types []string
	// Members, when set, gives access to the archive's members: the files of the container's
	// rootfs changes (rootfs-diff.tar) are scanned too, as locations of kind "rootfs".
	Members Members
}

// Members is the part of archive.Archive the rootfs scan needs.
type Members interface {
	Member(name string) (io.ReaderAt, int64, error)
}

// ErrRootfs wraps problems reading rootfs-diff.tar; the indicators found elsewhere are still
// returned with it.
var ErrRootfs = errors.New("rootfs changes not fully scanned")

// Rootfs scan bounds: files larger than MaxRootfsFile are read only up to it, and at most
// MaxRootfsBytes are read in all.
const (
	MaxRootfsFile  = 16 << 20
	MaxRootfsBytes = 512 << 20
)

// Extract finds the indicators in a checkpoint: the environment and command line of every
// process, the container's configured environment, and every printable string of process
// memory, shared memory, pipe buffers and socket queues (mem may be nil: then only the
// decoded model is scanned).
func Extract(ctx context.Context, cp *forensics.Checkpoint, mem Strings, opt Options) ([]forensics.IOC, error) {
	compile()
	c := NewCollector(opt.Reveal)
	want := func(t string) bool {
		if len(opt.Types) == 0 {
			return true
		}
		for _, x := range opt.Types {
			if x == t {
				return true
			}
		}
		return false
	}
	add := func(text string, loc forensics.Location) {
		for _, m := range Scan(text) {
			if want(m.Type) {
				c.Add(m, loc)
			}
		}
	}
	wantPID := func(pid int) bool {
		if len(opt.Filter.PIDs) == 0 {
			return true
		}
		for _, p := range opt.Filter.PIDs {
			if p == pid {
				return true
			}
		}
		return false
	}
	for _, p := range cp.Processes {
		if !wantPID(p.PID) {
			continue
		}
		for _, e := range p.Environ {
			add(e, forensics.Location{Kind: "env", PID: p.PID, Comm: p.Comm})
		}
		for _, a := range p.Cmdline {
			add(a, forensics.Location{Kind: "cmdline", PID: p.PID, Comm: p.Comm})
		}
	}
	// the remote ends of connections (loopback and unspecified addresses are not indicators)
	for _, s := range cp.Sockets {
		if s.RemoteAddr == "" || len(opt.Filter.PIDs) > 0 && !anyPID(s.Owners, wantPID) {
			continue
		}
		a, err := netip.ParseAddr(s.RemoteAddr)
		if err != nil || a.IsUnspecified() || a.Unmap().IsLoopback() {
			continue
		}
		a = a.Unmap()
		t := TypeIPv6
		if a.Is4() {
			t = TypeIPv4
		}
		if !want(t) {
			continue
		}
		loc := forensics.Location{Kind: "socket", Socket: fmt.Sprintf("socket:[%d] %s %s:%d -> %s:%d %s", s.Ino, s.Protocol, s.LocalAddr, s.LocalPort, s.RemoteAddr, s.RemotePort, s.State)}
		if len(s.Owners) > 0 {
			loc.PID = s.Owners[0]
			if p := cp.Process(loc.PID); p != nil {
				loc.Comm = p.Comm
			}
		}
		c.Add(Match{Type: t, Value: a.String()}, loc)
	}
	if cp.Container != nil && len(opt.Filter.PIDs) == 0 {
		for _, e := range cp.Container.Env {
			add(e, forensics.Location{Kind: "env", Path: "config.dump"})
		}
		for _, a := range cp.Container.Args {
			add(a, forensics.Location{Kind: "cmdline", Path: "config.dump"})
		}
	}
	var rootErr error
	if opt.Members != nil && len(opt.Filter.PIDs) == 0 {
		rootErr = scanRootfs(ctx, opt.Members, func(text, path string) {
			add(text, forensics.Location{Kind: "rootfs", Path: path})
		})
	}
	if mem == nil {
		return c.Result(), rootErr
	}
	type segKey struct {
		kind   string
		pid    int
		object string
	}
	// the AWS pairing (a lone 40-character secret shortly after a key id) is decided after the
	// scan, because strings arrive from several goroutines in no particular order
	type candidate struct {
		key  segKey
		addr uint64
		val  string
		loc  forensics.Location
	}
	var (
		mu      sync.Mutex
		keyEnds = map[segKey][]uint64{}
		lones   []candidate
	)
	scan := mem.Strings
	if w, ok := mem.(stringsWhere); ok {
		// the strings Scan cannot match are dropped where they were read: no Hit, no copy
		scan = func(ctx context.Context, f memory.Filter, minLen int, fn func(memory.Hit) error) error {
			return w.StringsWhere(ctx, f, minLen, mayMatch, fn)
		}
	}
	err := scan(ctx, opt.Filter, MinString, func(h memory.Hit) error {
		if !mayMatch(h.Match) {
			return nil // most strings of binary memory: not even copied
		}
		text := string(h.Match)
		ms := Scan(text) // outside the lock: this is the expensive part
		t := strings.TrimSpace(text)
		lone := len(t) == 40 && want(TypeAWSSecret) && reAWSSecret.MatchString(t) && awsSecretShape(t)
		if len(ms) == 0 && !lone {
			return nil // nearly every string of memory: no lock taken
		}
		loc := HitLocation(h)
		base := h.Addr
		if h.Kind != memory.KindMemory {
			base = h.Offset
		}
		k := segKey{h.Kind, h.PID, h.Object}
		mu.Lock()
		defer mu.Unlock()
		for _, m := range ms {
			l := loc
			if l.Addr != 0 || h.Kind == memory.KindMemory {
				l.Addr += uint64(m.Start)
			}
			if m.Type == TypeAWSKeyID {
				keyEnds[k] = append(keyEnds[k], base+uint64(m.End))
			}
			if want(m.Type) {
				c.Add(m, l)
			}
		}
		if lone {
			lones = append(lones, candidate{k, base, t, loc})
		}
		return nil
	})
	for _, cd := range lones {
		for _, end := range keyEnds[cd.key] {
			if cd.addr >= end && cd.addr-end <= 256 {
				c.Add(Match{Type: TypeAWSSecret, Value: cd.val, Secret: true}, cd.loc)
				break
			}
		}
	}
	if err != nil {
		return c.Result(), errors.Join(fmt.Errorf("scan memory: %w", err), rootErr)
	}
	return c.Result(), rootErr
}

// scanRootfs calls fn with every printable string (MinString+) of every regular file of
// rootfs-diff.tar, with the file's path. An archive without it has nothing to scan.
func scanRootfs(ctx context.Context, ms Members, fn func(text, path string)) error {
	r, size, err := ms.Member("rootfs-diff.tar")
	if err != nil {
		return nil // no rootfs changes (bare CRIU images, or none recorded)
	}
	// containerd writes rootfs-diff.tar gzip-compressed; accept zstd too
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10)
	var src io.Reader = br
	switch head, _ := br.Peek(4); {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%w: rootfs-diff.tar: gzip: %w", ErrRootfs, err)
		}
		defer zr.Close()
		src = zr
	case len(head) == 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(128<<20), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return fmt.Errorf("%w: rootfs-diff.tar: zstd: %w", ErrRootfs, err)
		}
		defer zr.Close()
		src = zr
	}
	// bound what skipping over large members may decompress
	tr := tar.NewReader(io.LimitReader(src, 4*MaxRootfsBytes))
	var total int64
	buf := make([]byte, 64<<10)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: rootfs-diff.tar: %w", ErrRootfs, err)
		}
		if h.Typeflag != tar.TypeReg || h.Size == 0 {
			continue
		}
		name := "/" + strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		lr := io.LimitReader(tr, min(h.Size, MaxRootfsFile))
		var cur []byte
		flush := func() {
			if len(cur) >= MinString {
				fn(string(cur), name)
			}
			cur = cur[:0]
		}
		for {
			n, err := lr.Read(buf)
			total += int64(n)
			for _, b := range buf[:n] {
				if b >= 0x20 && b < 0x7f || b == '\t' || b == '\n' || b == '\r' {
					if cur = append(cur, b); len(cur) >= memory.MaxString {
						flush()
					}
					continue
				}
				flush()
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("%w: rootfs-diff.tar: %s: %w", ErrRootfs, name, err)
			}
		}
		flush()
		if total > MaxRootfsBytes {
			return fmt.Errorf("%w: stopped after %d bytes of rootfs-diff.tar", ErrRootfs, total)
		}
	}
}

func anyPID(pids []int, want func(int) bool) bool {
	for _, p := range pids {
		if want(p) {
			return true
		}
	}
	return false
}

// HitLocation turns a memory hit into a model location.
func HitLocation(h memory.Hit) forensics.Location {
	l := forensics.Location{PID: h.PID, Comm: h.Comm, Addr: h.Addr, Region: h.Region}
	switch h.Kind {
	case memory.KindMemory:
		l.Kind = "memory"
	case memory.KindShmem, memory.KindMemfd:
		l.Kind = "shmem"
		l.Path = h.Object
	case memory.KindPipe:
		l.Kind = "pipe"
		l.Path = h.Object
	case memory.KindSocket:
		l.Kind = "socket"
		l.Socket = h.Object
	case memory.KindRootfs:
		// a file of the rootfs changes, attached by forensics/content
		l.Kind = "rootfs"
		l.Path = strings.TrimPrefix(h.Object, memory.KindRootfs+":")
		l.Region = ""
	case memory.KindGhost, memory.KindTmpfs, memory.KindDevshm:
		l.Kind = "file"
		l.Path = h.Object
	default:
		l.Kind = h.Kind
	}
	return l
}

// holdTab marks the bytes one of which every indicator Scan finds has: '.' (domains, IPv4,
// JWTs), '@' (e-mail addresses, GCP service accounts), ':' (URLs, IPv6, private_key_id), '='
// (NAME=VALUE, AWS secrets by name, Azure keys), 'A' (AWS key ids, GCP API keys, PRIVATE KEY),
// 'b' or 'B' (bearer). Bytes outside ASCII are let through too: memory's strings have none, and
// no pattern needs one, but the cost of being wrong is a lost indicator. A lone AWS secret has
// 40 bytes.
var holdTab = func() (t [256]bool) {
	for _, c := range []byte(".@:=AbB") {
		t[c] = true
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = true
	}
	return t
}()

// stringsWhere is a Strings that drops, before making a Hit of it, each string keep refuses
// (*memory.Memory.StringsWhere).
type stringsWhere interface {
	StringsWhere(ctx context.Context, f memory.Filter, minLen int, keep func([]byte) bool, fn func(memory.Hit) error) error
}

// mayMatch reports whether Scan (or the lone AWS secret test, 40 bytes) could find anything
// in a string of memory: one of 40 bytes or more, or a shorter one that mayHold.
func mayMatch(b []byte) bool { return len(b) >= 40 || mayHold(b) }

// mayHold reports whether Scan could find anything in b (shorter than 40 bytes).
func mayHold(b []byte) bool {
	for _, c := range b {
		if holdTab[c] {
			return true
		}
	}
	return false
}

// Package archive opens container checkpoint archives (the CRI-O/Podman/containerd export
// format: config.dump, spec.dump, checkpoint/, rootfs-diff.tar, ...) and bare CRIU image
// directories, and gives random access to their members without extracting them.
//
// Every archive is hostile until decoded: names are cleaned and checked for traversal, links
// and duplicates are refused, member sizes, name lengths, total size and entry count are
// capped (Limits). Compressed archives are read in one streaming pass (stream.go): small
// members stay in memory, large ones (the pages images, the rootfs diff) are spilled into one
// unlinked, sparse file under the caller's cache directory, and a pages image is kept only up
// to what its pagemap declares. Nothing is ever written elsewhere, and there is never a whole
// decompressed copy of the archive on disk.
//
// It must not import k8s.io/..., charm.land/... or podsleuth packages other than config.
package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	metadata "github.com/checkpoint-restore/checkpointctl/lib"
)

// Sentinel errors. Every error Open, Member and Image return wraps one of them together with
// the name of the archive member (or stream) concerned.
var (
	// ErrPathTraversal: a member name is absolute or escapes the archive root ("../").
	ErrPathTraversal = errors.New("path traversal")
	// ErrLink: a member is a symbolic or hard link (checkpoint archives never contain links).
	ErrLink = errors.New("link member refused")
	// ErrTooLarge: a member, the whole archive or the number of members exceeds Limits.
	ErrTooLarge = errors.New("exceeds limit")
	// ErrTruncated: the archive or a compressed stream ends early.
	ErrTruncated = errors.New("truncated")
	// ErrNotArchive: the input is neither a tar (plain, gzip, zstd) nor a directory.
	ErrNotArchive = errors.New("not a checkpoint archive")
	// ErrDuplicate: two members have the same cleaned name.
	ErrDuplicate = errors.New("duplicate member")
	// ErrNotFound: no such member.
	ErrNotFound = errors.New("no such member")
	// ErrCorrupt: a compressed stream or a tar header is damaged (other than truncation).
	ErrCorrupt = errors.New("corrupt")
)

// Formats reported by Format.
const (
	FormatTar     = "tar"
	FormatTarGzip = "tar.gz"
	FormatTarZstd = "tar.zst"
	FormatDir     = "dir"
)

// member is one indexed regular file.
type member struct {
	name    string
	offset  int64 // in the plain tar file, or in the spill file of a compressed archive
	size    int64
	modTime time.Time
	data    []byte // the content, for members of compressed archives kept in memory
	inMem   bool
}

// Archive is an opened checkpoint archive or image directory. Its methods are safe for
// concurrent use; readers returned by Member and Image stay valid until Close.
type Archive struct {
	path    string
	format  string
	size    int64 // as stored
	file    *os.File
	root    *os.Root // directories
	members map[string]member
	names   []string
	prefix  string // "checkpoint/" when the CRIU images live there, else ""
	sum     string // SHA-256 of the stored file, when computed while reading it
	// warnings are problems that do not stop reading: data after the tar end marker, extra
	// gzip members, pages images longer than their pagemaps declare.
	warnings []string
	// spilled is the number of bytes written to the spill file (sparse: zero blocks are
	// holes and take no disk).
	spilled int64

	mu     sync.Mutex
	hashMu sync.Mutex          // one SHA256 computation at a time (not under mu: reads go on)
	opened map[string]*os.File // directory members opened so far
	closed bool
}

// Open opens a container checkpoint archive (plain tar, tar.gz or tar.zst, detected by
// content, not by name) or a bare CRIU image directory (or an extracted container checkpoint
// directory). One pass over the tar indexes all members; plain tar members are then read in
// place through io.SectionReader, without extraction. Compressed archives are decompressed
// once into a private, already unlinked cache file under cacheDir, bounded by lim, and
// indexed the same way.
func Open(ctx context.Context, p string, lim Limits, cacheDir string) (*Archive, error) {
	lim = lim.normalized()
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	if st.IsDir() {
		return openDir(ctx, p, lim)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("open %s: %w: not a regular file or directory", p, ErrNotArchive)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	a := &Archive{path: p, size: st.Size(), members: map[string]member{}}
	ok := false
	defer func() {
		if !ok {
			_ = a.Close()
			_ = f.Close()
		}
	}()
	var head [512]byte
	n, err := io.ReadFull(f, head[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	switch kind := sniff(head[:n]); kind {
	case FormatTar:
		a.format, a.file = FormatTar, f
		ok = true // f now belongs to a
		if err := a.indexTar(ctx, lim); err != nil {
			_ = a.Close()
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
	case FormatTarGzip, FormatTarZstd:
		a.format = kind
		err := a.stream(ctx, f, lim, cacheDir)
		_ = f.Close()
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
		ok = true
	default:
		if n == 0 {
			return nil, fmt.Errorf("open %s: %w: empty file", p, ErrNotArchive)
		}
		return nil, fmt.Errorf("open %s: %w: not a tar, gzip or zstd stream", p, ErrNotArchive)
	}
	a.finish()
	return a, nil
}

// sniff recognises gzip and zstd by their magic and a tar by its header checksum.
func sniff(b []byte) string {
	switch {
	case len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b:
		return FormatTarGzip
	case len(b) >= 4 && bytes.Equal(b[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return FormatTarZstd
	case len(b) == 512 && tarChecksumOK(b):
		return FormatTar
	}
	return ""
}

// tarChecksumOK checks the header checksum (POSIX: sum of the header with the checksum field
// as spaces), accepting signed-byte sums as old tars wrote.
func tarChecksumOK(b []byte) bool {
	field := bytes.TrimRight(bytes.TrimLeft(b[148:156], " \x00"), " \x00")
	if len(field) == 0 {
		return false
	}
	var want int64
	for _, c := range field {
		if c < '0' || c > '7' {
			return false
		}
		want = want*8 + int64(c-'0')
	}
	var u, s int64
	for i, c := range b {
		if i >= 148 && i < 156 {
			c = ' '
		}
		u += int64(c)
		s += int64(int8(c))
	}
	return want == u || want == s
}

// ctxReader stops reading when ctx is done.
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

func streamErr(kind string, err error) error {
	name := "(gzip stream)"
	if kind == FormatTarZstd {
		name = "(zstd stream)"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w: compressed data ends early", name, ErrTruncated)
	}
	return fmt.Errorf("%s: %w: %v", name, ErrCorrupt, err)
}

// openDir indexes a directory: a bare CRIU image directory or an extracted container
// checkpoint. Symbolic links are indexed but refused on access; nothing outside the directory
// is ever opened (os.Root).
func openDir(ctx context.Context, p string, lim Limits) (*Archive, error) {
	root, err := os.OpenRoot(p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	a := &Archive{path: p, format: FormatDir, root: root, members: map[string]member{}, opened: map[string]*os.File{}}
	var total int64
	err = fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if len(a.members) >= lim.MaxEntries {
			return fmt.Errorf("%s: %w: more than %d members (limits.max_entries)", name, ErrTooLarge, lim.MaxEntries)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			a.members[name] = member{name: name, size: -1} // refused on access
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > lim.MaxMemberBytes {
			return fmt.Errorf("%s: %w: %d bytes (limits.max_member_bytes %d)", name, ErrTooLarge, info.Size(), lim.MaxMemberBytes)
		}
		total += info.Size()
		if total > lim.MaxTotalBytes {
			return fmt.Errorf("%s: %w: content exceeds %d bytes (limits.max_total_bytes)", name, ErrTooLarge, lim.MaxTotalBytes)
		}
		a.members[name] = member{name: name, size: info.Size(), modTime: info.ModTime()}
		return nil
	})
	if err != nil {
		_ = root.Close()
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	if len(a.members) == 0 {
		_ = root.Close()
		return nil, fmt.Errorf("open %s: %w: empty directory", p, ErrNotArchive)
	}
	a.finish()
	return a, nil
}

// finish sorts the names and finds where the CRIU images live.
func (a *Archive) finish() {
	a.names = make([]string, 0, len(a.members))
	for n := range a.members {
		a.names = append(a.names, n)
	}
	sort.Strings(a.names)
	dir := metadata.CheckpointDirectory + "/"
	for _, n := range a.names {
		if strings.HasPrefix(n, dir) {
			a.prefix = dir
			break
		}
	}
}

// Close releases the archive and removes its cache files.
func (a *Archive) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	var errs []error
	for _, f := range a.opened {
		errs = append(errs, f.Close())
	}
	if a.file != nil {
		errs = append(errs, a.file.Close())
	}
	if a.root != nil {
		errs = append(errs, a.root.Close())
	}
	return errors.Join(errs...)
}

// Warnings returns the problems found while reading the archive that did not stop it: data
// after the tar end marker or in extra gzip members (never read as members), pages images
// cut to what their pagemap declares. Each names the member or stream concerned.
func (a *Archive) Warnings() []string { return slices.Clone(a.warnings) }

func (a *Archive) warnf(format string, args ...any) {
	a.warnings = append(a.warnings, fmt.Sprintf(format, args...))
}

// Format is "tar", "tar.gz", "tar.zst" or "dir".
func (a *Archive) Format() string { return a.format }

// Path is the archive file or directory as given to Open.
func (a *Archive) Path() string { return a.path }

// Size is the size of the archive as stored (compressed); 0 for a directory.
func (a *Archive) Size() int64 { return a.size }

// Names returns the cleaned member names, sorted.
func (a *Archive) Names() []string { return append([]string(nil), a.names...) }

// Has reports whether the archive has a member of that name.
func (a *Archive) Has(name string) bool { _, ok := a.members[name]; return ok }

// MemberSize returns a member's size, or -1 when there is no such member.
func (a *Archive) MemberSize(name string) int64 {
	m, ok := a.members[name]
	if !ok {
		return -1
	}
	return m.size
}

// ModTime returns a member's modification time as recorded in the archive (the file's mtime
// for directories); zero when there is no such member.
func (a *Archive) ModTime(name string) time.Time { return a.members[name].modTime }

// Member gives random access to a member by its container-level name ("config.dump",
// "rootfs-diff.tar", "checkpoint/pstree.img").
func (a *Archive) Member(name string) (io.ReaderAt, int64, error) {
	m, ok := a.members[name]
	if !ok {
		return nil, 0, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	if m.inMem {
		return bytes.NewReader(m.data), m.size, nil
	}
	if a.format != FormatDir {
		return io.NewSectionReader(a.file, m.offset, m.size), m.size, nil
	}
	if m.size < 0 {
		return nil, 0, fmt.Errorf("%s: %w: symbolic link", name, ErrLink)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, 0, fmt.Errorf("%s: archive closed", name)
	}
	if f, ok := a.opened[name]; ok {
		return io.NewSectionReader(f, 0, m.size), m.size, nil
	}
	f, err := a.root.OpenFile(name, os.O_RDONLY|noFollow, 0)
	if err != nil {
		if errors.Is(err, errSymlink) {
			return nil, 0, fmt.Errorf("%s: %w: symbolic link", name, ErrLink)
		}
		return nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		_ = f.Close()
		return nil, 0, fmt.Errorf("%s: %w: no longer a regular file", name, ErrNotFound)
	}
	size := min(st.Size(), m.size)
	a.opened[name] = f
	return io.NewSectionReader(f, 0, size), size, nil
}

// ImageDir returns where the CRIU images live: "checkpoint/" for container archives, "" for
// bare image directories.
func (a *Archive) ImageDir() string { return a.prefix }

// ImageNames returns the base names of the CRIU image files ("pstree.img", "pages-1.img",
// "stats-dump", ...), sorted.
func (a *Archive) ImageNames() []string {
	var out []string
	for _, n := range a.names {
		if !strings.HasPrefix(n, a.prefix) {
			continue
		}
		rest := n[len(a.prefix):]
		if rest == "" || strings.Contains(rest, "/") {
			continue
		}
		out = append(out, rest)
	}
	return out
}

// Image gives random access to a CRIU image file by its base name.
func (a *Archive) Image(name string) (io.ReaderAt, int64, error) {
	if strings.Contains(name, "/") {
		return nil, 0, fmt.Errorf("%s: %w: image names have no directory", name, ErrNotFound)
	}
	return a.Member(a.prefix + name)
}

// HasImage reports whether the CRIU image file exists.
func (a *Archive) HasImage(name string) bool { return a.Has(a.prefix + name) }

// SHA256 returns the hex SHA-256 of the stored archive file ("" for directories). It is free
// for compressed archives (computed while decompressing) and reads the whole file once for
// plain tars (SHA256Reader: at the hash's rate); the result is cached. The archive stays usable
// meanwhile (the hash may run beside the decoding); concurrent calls compute it once.
func (a *Archive) SHA256(ctx context.Context) (string, error) {
	a.hashMu.Lock()
	defer a.hashMu.Unlock()
	a.mu.Lock()
	sum, closed, f := a.sum, a.closed, a.file
	a.mu.Unlock()
	if a.format == FormatDir || sum != "" {
		return sum, nil
	}
	if closed {
		return "", errors.New("archive closed")
	}
	adviseSequential(f)
	sum, _, err := SHA256Reader(ctx, io.NewSectionReader(f, 0, a.size))
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", a.path, err)
	}
	a.mu.Lock()
	a.sum = sum
	a.mu.Unlock()
	return sum, nil
}

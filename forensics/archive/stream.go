package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"regexp"
	"strconv"

	"github.com/checkpoint-restore/go-criu/v8/crit/images/pagemap"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// How a compressed archive is kept after its single streaming pass.
const (
	// maxInMemoryMember: members up to this size stay in memory (CRIU's small images,
	// config.dump, spec.dump), as long as the budget below allows.
	maxInMemoryMember = 4 << 20
	// maxInMemoryTotal: what all in-memory members may hold together.
	maxInMemoryTotal = 64 << 20
	// spillBlock is the unit of the sparse spill: an all-zero block becomes a hole.
	spillBlock = 64 << 10
	// readBuf is the read size of the decompressed stream (large reads keep the
	// decompressors at memory speed when they skip data).
	readBuf = 4 << 20
)

var (
	pagesImage   = regexp.MustCompile(`^pages-([0-9]+)\.img$`)
	pagemapImage = regexp.MustCompile(`^pagemap-.*\.img$`)
	zeroBlock    = make([]byte, readBuf)
)

// isImage reports whether a member name is a CRIU image of the image directory ("checkpoint/"
// in container archives, the top level in bare image tars) matching re; it returns the base.
func isImage(name string, re *regexp.Regexp) (string, bool) {
	dir, base := path.Split(name)
	if dir != "" && dir != "checkpoint/" {
		return "", false
	}
	return base, re.MatchString(base)
}

// streamState is what the single pass over a compressed archive knows so far.
type streamState struct {
	lim      Limits
	cacheDir string
	inMem    int64
	// declared is the number of bytes of present pages each pages image id must hold, from
	// the pagemaps read so far (-1: more than any limit).
	declared map[uint32]int64
	// undeclared lists the pages members read before any pagemap named them.
	undeclared map[string]uint32
	buf        []byte
}

// stream reads a gzip or zstd compressed tar in one pass (see the package comment) and
// computes the SHA-256 of the stored file on the way.
func (a *Archive) stream(ctx context.Context, f *os.File, lim Limits, cacheDir string) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	h := sha256.New()
	src := bufio.NewReaderSize(io.TeeReader(ctxReader{ctx, f}, h), 1<<20)
	var r io.Reader
	var gz *gzMembers
	switch a.format {
	case FormatTarGzip:
		zr, err := gzip.NewReader(src)
		if err != nil {
			return streamErr(a.format, err)
		}
		defer zr.Close()
		gz = &gzMembers{zr: zr, src: src}
		r = gz
	case FormatTarZstd:
		// The window is capped so a hostile frame header cannot make the decoder allocate
		// gigabytes up front.
		zr, err := zstd.NewReader(src, zstd.WithDecoderMaxWindow(128<<20), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return streamErr(a.format, err)
		}
		defer zr.Close()
		r = zr
	}
	cr := &countReader{r: r, max: lim.MaxTotalBytes}
	st := &streamState{lim: lim, cacheDir: cacheDir, declared: map[uint32]int64{}, undeclared: map[string]uint32{}, buf: make([]byte, readBuf)}
	if err := a.streamTar(ctx, cr, st); err != nil {
		return err
	}
	// After the tar end: report what follows (a second gzip member, non-zero data), then
	// hash whatever trails the compressed stream so the sum covers the whole file.
	end := cr.n
	n, nonZero, err := scanTrailing(ctx, cr)
	stream := "(" + a.format + " stream)"
	switch {
	case errors.Is(err, ErrTooLarge) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	case err != nil && !errors.Is(err, io.EOF):
		a.warnf("%s: data after the tar end marker at offset %d is not a valid %s stream: %v", stream, end, a.format, err)
	}
	extra, extraBytes := 0, int64(0)
	if gz != nil {
		extra, extraBytes = gz.after(end)
	}
	if extra > 0 {
		a.warnf("%s: %d more gzip member(s) after the one holding the tar end marker (%d bytes decompressed): not part of the archive, not read as members", stream, extra, extraBytes)
	} else if nonZero >= 0 {
		more := ""
		if n >= maxTrailingScan {
			more = "at least "
		}
		a.warnf("%s: %s%d bytes of data after the tar end marker at offset %d (first non-zero byte at +%d): not part of any member, not read as one", stream, more, n, end, nonZero)
	}
	if gz != nil && gz.garbage > 0 {
		a.warnf("%s: %d bytes after the last gzip member are not gzip data: ignored", stream, gz.garbage)
	}
	if _, err := io.CopyBuffer(io.Discard, src, st.buf); err != nil {
		return err
	}
	a.sum = hex.EncodeToString(h.Sum(nil))
	a.settlePages(st)
	return nil
}

// streamTar indexes every member and keeps its content in memory or in the spill file.
func (a *Archive) streamTar(ctx context.Context, cr *countReader, st *streamState) error {
	tr := tar.NewReader(cr)
	hs := newHeaders(st.lim)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return a.tarErr(err, cr, hs.entries, hs.last)
		}
		name, keep, err := hs.admit(h)
		if err != nil {
			return err
		}
		if !keep {
			continue
		}
		if _, dup := a.members[name]; dup {
			return fmt.Errorf("%s: %w", name, ErrDuplicate)
		}
		m := member{name: name, size: h.Size, modTime: h.ModTime}
		if err := a.keep(ctx, tr, &m, st); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%s: %w: member needs %d bytes, the stream ends first", h.Name, ErrTruncated, h.Size)
			}
			var se *streamError
			if errors.As(err, &se) {
				return streamErr(a.format, se.err)
			}
			if errors.Is(err, ErrTooLarge) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		a.members[name] = m
	}
	if len(a.members) == 0 {
		return fmt.Errorf("(archive): %w: no regular members", ErrNotArchive)
	}
	return nil
}

func (a *Archive) tarErr(err error, cr *countReader, entries int, last string) error {
	var se *streamError
	switch {
	case errors.As(err, &se):
		return streamErr(a.format, se.err)
	case errors.Is(err, ErrTooLarge), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("member after %s: %w: tar ends inside a header", last, ErrTruncated)
	case entries == 0:
		return fmt.Errorf("(first header): %w: %v", ErrNotArchive, err)
	}
	return fmt.Errorf("member after %s: %w: %v", last, ErrCorrupt, err)
}

// keep reads one member's data: into memory when small, else into the spill file. A pages
// image is kept only up to the bytes its pagemap declares; the rest is read past, not kept.
func (a *Archive) keep(ctx context.Context, tr *tar.Reader, m *member, st *streamState) error {
	base, isPages := isImage(m.name, pagesImage)
	want := m.size
	var id uint32
	if isPages {
		v, _ := strconv.ParseUint(pagesImage.FindStringSubmatch(base)[1], 10, 32)
		id = uint32(v)
		if d, ok := st.declared[id]; ok && d >= 0 && d < m.size {
			want = d
			a.warnf("%s: %d bytes, but the pagemaps declare %d bytes of pages for it: only those were kept, the rest was not read", m.name, m.size, d)
		} else if !ok {
			st.undeclared[m.name] = id
		}
	}
	if !isPages && m.size <= maxInMemoryMember && st.inMem+m.size <= maxInMemoryTotal {
		m.data = make([]byte, m.size)
		if _, err := io.ReadFull(tr, m.data); err != nil {
			return err
		}
		m.inMem = true
		st.inMem += m.size
		if _, ok := isImage(m.name, pagemapImage); ok {
			st.declare(m.name, bytes.NewReader(m.data), m.size, a)
		}
		return nil
	}
	if err := a.spill(ctx, tr, m, want, st); err != nil {
		return err
	}
	if _, ok := isImage(m.name, pagemapImage); ok {
		st.declare(m.name, io.NewSectionReader(a.file, m.offset, m.size), m.size, a)
	}
	return nil
}

// spill copies want bytes of the member into the spill file (zero blocks as holes) and reads
// past the rest.
func (a *Archive) spill(ctx context.Context, tr *tar.Reader, m *member, want int64, st *streamState) error {
	if a.file == nil {
		if st.cacheDir == "" {
			return errors.New("spill: no cache directory configured")
		}
		if err := os.MkdirAll(st.cacheDir, 0o700); err != nil {
			return fmt.Errorf("spill: cache dir: %w", err)
		}
		f, err := os.CreateTemp(st.cacheDir, "archive-*.spill")
		if err != nil {
			return fmt.Errorf("spill: %w", err)
		}
		// Unlink at once: the data lives as long as the descriptor, and nothing is left
		// behind even if podsleuth is killed.
		_ = os.Remove(f.Name())
		a.file = f
	}
	// block-align each member so holes can be punched per member later
	off := (a.spilled + spillBlock - 1) / spillBlock * spillBlock
	m.offset = off
	var done int64
	for done < m.size {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := tr.Read(st.buf[:min(int64(len(st.buf)), m.size-done)])
		if n > 0 && done < want {
			k := min(int64(n), want-done)
			if err := writeSparse(a.file, st.buf[:k], off+done); err != nil {
				return fmt.Errorf("spill: %w", err)
			}
		}
		done += int64(n)
		if err == io.EOF && done < m.size {
			return io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return err
		}
	}
	m.size = want
	a.spilled = off + want
	// the file's length covers the member even if it ends in a hole
	if st, err := a.file.Stat(); err == nil && st.Size() < a.spilled {
		if err := a.file.Truncate(a.spilled); err != nil {
			return fmt.Errorf("spill: %w", err)
		}
	}
	return nil
}

// writeSparse writes b at off, leaving all-zero blocks as holes.
func writeSparse(f *os.File, b []byte, off int64) error {
	for len(b) > 0 {
		n := min(len(b), spillBlock)
		if !bytes.Equal(b[:n], zeroBlock[:n]) {
			if _, err := f.WriteAt(b[:n], off); err != nil {
				return err
			}
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// declare adds what a pagemap image says about its pages image: the bytes of present pages.
// A pagemap that cannot be parsed declares nothing here; the CRIU decoder reports it.
func (st *streamState) declare(name string, r io.ReaderAt, size int64, a *Archive) {
	id, n, err := PagemapDeclared(r, size)
	if err != nil {
		return
	}
	if n < 0 {
		a.warnf("%s: the pages it declares add up to more than %d bytes", name, int64(math.MaxInt64))
	}
	switch old, ok := st.declared[id]; {
	case !ok:
		st.declared[id] = n
	case old < 0 || n < 0 || old > math.MaxInt64-n:
		st.declared[id] = -1
	default:
		st.declared[id] = old + n
	}
}

// settlePages applies the pagemaps read after their pages images: the bytes beyond what
// they declare are cut from the member and their disk blocks released.
func (a *Archive) settlePages(st *streamState) {
	for name, id := range st.undeclared {
		m := a.members[name]
		d, ok := st.declared[id]
		if !ok {
			d = 0
		}
		if d < 0 || d >= m.size {
			continue
		}
		if ok {
			a.warnf("%s: %d bytes, but the pagemaps declare %d bytes of pages for it: the rest is ignored", name, m.size, d)
		} else {
			a.warnf("%s: %d bytes, but no pagemap names it: its content is ignored", name, m.size)
		}
		if !m.inMem && m.size > d {
			punch(a.file, m.offset+d, m.size-d)
		}
		m.size = d
		a.members[name] = m
	}
}

// punch releases the disk blocks of a byte range of the spill file (best effort).
func punch(f *os.File, off, n int64) {
	lo := (off + spillBlock - 1) / spillBlock * spillBlock
	if n -= lo - off; n <= 0 {
		return
	}
	_ = unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, lo, n)
}

// SpillDiskBytes is the disk the spill file of a compressed archive takes (its allocated
// blocks; 0 when nothing was spilled).
func (a *Archive) SpillDiskBytes() int64 {
	if a.format != FormatTarGzip && a.format != FormatTarZstd || a.file == nil {
		return 0
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(a.file.Fd()), &st); err != nil {
		return -1
	}
	return st.Blocks * 512
}

// SpilledBytes is the apparent size of the spill file of a compressed archive (0 when nothing
// was spilled); zero blocks in it take no disk.
func (a *Archive) SpilledBytes() int64 { return a.spilled }

// PagemapDeclared reads a pagemap image (magics, pagemap head, entries) and returns the pages
// image id and the number of bytes of present pages it declares, overflow-checked: -1 when
// the sum does not fit in an int64.
func PagemapDeclared(r io.ReaderAt, size int64) (pagesID uint32, n int64, err error) {
	off := int64(0)
	u32 := func() (uint32, error) {
		var b [4]byte
		if size-off < 4 {
			return 0, io.ErrUnexpectedEOF
		}
		if _, err := r.ReadAt(b[:], off); err != nil {
			return 0, err
		}
		off += 4
		return binary.LittleEndian.Uint32(b[:]), nil
	}
	next := func(m proto.Message) error {
		l, err := u32()
		if err != nil {
			return err
		}
		if int64(l) > size-off || l > 1<<20 {
			return fmt.Errorf("%w: entry length %d", ErrCorrupt, l)
		}
		b := make([]byte, l)
		if _, err := r.ReadAt(b, off); err != nil {
			return err
		}
		off += int64(l)
		return proto.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, m)
	}
	const imgCommon, pagemapMagic, shmemPagemapMagic = 0x54564319, 0x56084025, 0x5a544539
	m, err := u32()
	if err != nil {
		return 0, 0, err
	}
	if m == imgCommon {
		if m, err = u32(); err != nil {
			return 0, 0, err
		}
	}
	if m != pagemapMagic && m != shmemPagemapMagic {
		return 0, 0, fmt.Errorf("%w: magic 0x%08x is not PAGEMAP", ErrCorrupt, m)
	}
	var head pagemap.PagemapHead
	if err := next(&head); err != nil {
		return 0, 0, err
	}
	pagesID = head.GetPagesId()
	var pages uint64
	for off < size {
		var pe pagemap.PagemapEntry
		if err := next(&pe); err != nil {
			return pagesID, 0, err
		}
		present := pe.GetFlags()&4 != 0
		if pe.Flags == nil {
			present = !pe.GetInParent()
		}
		if !present {
			continue
		}
		np := pe.GetNrPages()
		if pe.NrPages == nil {
			np = uint64(pe.GetCompatNrPages())
		}
		if np > math.MaxInt64/4096 || pages > math.MaxInt64/4096-np {
			return pagesID, -1, nil
		}
		pages += np
	}
	return pagesID, int64(pages * 4096), nil
}

// countReader counts the decompressed bytes and fails past max (limits.max_total_bytes).
type countReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		return n, fmt.Errorf("(decompressed stream): %w: more than %d bytes (limits.max_total_bytes)", ErrTooLarge, c.max)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		var se *streamError
		if !errors.As(err, &se) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			err = &streamError{err}
		}
	}
	return n, err
}

// streamError is a failure of the decompressor (as opposed to the tar structure).
type streamError struct{ err error }

func (e *streamError) Error() string { return e.err.Error() }
func (e *streamError) Unwrap() error { return e.err }

// gzMembers reads a gzip file member by member, as gunzip does, recording where (in the
// decompressed stream) each member after the first starts and counting the non-gzip bytes
// after the last member.
type gzMembers struct {
	zr      *gzip.Reader
	src     *bufio.Reader
	total   int64
	starts  []int64
	garbage int64
	done    bool
}

func (g *gzMembers) Read(p []byte) (int, error) {
	for {
		if g.done {
			return 0, io.EOF
		}
		g.zr.Multistream(false)
		n, err := g.zr.Read(p)
		g.total += int64(n)
		if err != io.EOF {
			return n, err
		}
		// end of one member: another one, garbage, or the end of the file
		if _, perr := g.src.Peek(1); perr != nil {
			g.done = true
			return n, io.EOF
		}
		// what Reset reads of a non-gzip tail: the 10-byte header, or less at the end
		head, _ := g.src.Peek(10)
		notGzip := len(head) < 2 || head[0] != 0x1f || head[1] != 0x8b
		if err := g.zr.Reset(g.src); err != nil {
			// not a gzip member (as gunzip: "trailing garbage ignored"), also when shorter than
			// a header; a member that starts as gzip and breaks is an error
			if errors.Is(err, gzip.ErrHeader) || (notGzip && errors.Is(err, io.ErrUnexpectedEOF)) {
				k, _ := io.Copy(io.Discard, g.src)
				g.garbage = int64(len(head)) + k
				g.done = true
				return n, io.EOF
			}
			return n, err
		}
		g.starts = append(g.starts, g.total)
		if n > 0 {
			return n, nil
		}
	}
}

// after returns how many members start at or after off and their decompressed bytes.
func (g *gzMembers) after(off int64) (members int, bytes int64) {
	for _, s := range g.starts {
		if s >= off {
			if members == 0 {
				bytes = g.total - s
			}
			members++
		}
	}
	return members, bytes
}

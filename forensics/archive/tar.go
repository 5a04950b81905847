package archive

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// posReader tracks the offset of an *os.File as archive/tar reads and seeks it.
type posReader struct {
	f   *os.File
	br  *bufio.Reader
	pos int64
}

func (p *posReader) Read(b []byte) (int, error) {
	n, err := p.br.Read(b)
	p.pos += int64(n)
	return n, err
}

// Seek lets archive/tar skip member data without reading it.
func (p *posReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		if off == 0 {
			return p.pos, nil
		}
		off += p.pos
	case io.SeekStart:
	default:
		return 0, errors.New("posReader: unsupported whence")
	}
	n, err := p.f.Seek(off, io.SeekStart)
	if err != nil {
		return p.pos, err
	}
	p.br.Reset(p.f)
	p.pos = n
	return n, nil
}

// CleanName cleans a member name the way the index stores it and rejects absolute names and
// names that leave the archive root.
func CleanName(name string) (string, error) {
	if strings.HasPrefix(name, "/") || filepath.IsAbs(name) {
		return "", fmt.Errorf("%s: %w: absolute name", name, ErrPathTraversal)
	}
	if strings.ContainsRune(name, 0) || strings.Contains(name, `\`) {
		return "", fmt.Errorf("%q: %w: invalid character in name", name, ErrPathTraversal)
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return "", fmt.Errorf("%s: %w: name leaves the archive root", name, ErrPathTraversal)
		}
	}
	c := path.Clean(name)
	if c == "." {
		return "", nil
	}
	return c, nil
}

// indexTar reads every tar header once and records where each regular member's data lives.
func (a *Archive) indexTar(ctx context.Context, lim Limits) error {
	st, err := a.file.Stat()
	if err != nil {
		return err
	}
	fileSize := st.Size()
	if _, err := a.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	pr := &posReader{f: a.file, br: bufio.NewReaderSize(a.file, 64<<10)}
	tr := tar.NewReader(pr)
	hs := newHeaders(lim)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			a.trailing(ctx, io.NewSectionReader(a.file, pr.pos, fileSize-pr.pos), "(tar)", pr.pos)
			break
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("member after %s: %w: tar ends inside a header", hs.last, ErrTruncated)
			}
			if hs.entries == 0 {
				return fmt.Errorf("(first header): %w: %v", ErrNotArchive, err)
			}
			return fmt.Errorf("member after %s: %w: %v", hs.last, ErrCorrupt, err)
		}
		name, keep, err := hs.admit(h)
		if err != nil {
			return err
		}
		if !keep {
			continue
		}
		off := pr.pos
		if off+h.Size > fileSize {
			return fmt.Errorf("%s: %w: member needs %d bytes, archive has %d", h.Name, ErrTruncated, h.Size, fileSize-off)
		}
		if _, dup := a.members[name]; dup {
			return fmt.Errorf("%s: %w", name, ErrDuplicate)
		}
		a.members[name] = member{name: name, offset: off, size: h.Size, modTime: h.ModTime}
	}
	if len(a.members) == 0 {
		return fmt.Errorf("(archive): %w: no regular members", ErrNotArchive)
	}
	return nil
}

// trailing reports data after the tar end marker: zero padding is normal (tar writes whole
// records), anything else is data that no member covers and is never read as one.
func (a *Archive) trailing(ctx context.Context, r io.Reader, stream string, at int64) {
	n, nonZero, err := scanTrailing(ctx, r)
	if err != nil && !errors.Is(err, io.EOF) {
		a.warnf("%s: reading after the tar end marker at offset %d: %v", stream, at, err)
	}
	if nonZero >= 0 {
		more := ""
		if n >= maxTrailingScan {
			more = " at least"
		}
		a.warnf("%s: %s%d bytes of data after the tar end marker at offset %d (first non-zero byte at +%d): not part of any member, not read as one", stream, more, n, at, nonZero)
	}
}

// maxTrailingScan bounds how much data after the tar end marker is examined.
const maxTrailingScan = 64 << 20

// scanTrailing reads up to maxTrailingScan bytes and returns how many there were and the
// offset of the first non-zero byte (-1 when all are zero).
func scanTrailing(ctx context.Context, r io.Reader) (n, nonZero int64, err error) {
	nonZero = -1
	buf := make([]byte, 1<<20)
	for n < maxTrailingScan {
		if err = ctx.Err(); err != nil {
			return n, nonZero, err
		}
		k, rerr := r.Read(buf)
		if nonZero < 0 {
			if i := slices.IndexFunc(buf[:k], func(b byte) bool { return b != 0 }); i >= 0 {
				nonZero = n + int64(i)
			}
		}
		n += int64(k)
		if rerr != nil {
			return n, nonZero, rerr
		}
	}
	return n, nonZero, nil
}

func hasSparsePAX(h *tar.Header) bool {
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

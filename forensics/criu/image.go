package criu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/checkpoint-restore/go-criu/v8/magic"
	"google.golang.org/protobuf/proto"

	"github.com/podsleuth/podsleuth/forensics/archive"
)

// Sentinel errors; each is wrapped with the image file name and the offset concerned.
var (
	// ErrBadImage: an image's magic, length prefix or protobuf payload is invalid.
	ErrBadImage = errors.New("bad CRIU image")
	// ErrMissingImage: an image the decoder needs (pstree.img, inventory.img) is absent.
	ErrMissingImage = errors.New("missing CRIU image")
)

// MaxEntrySize bounds one protobuf entry of an image. CRIU's largest entries (mm with
// thousands of VMAs, core with xsave state) stay far below it.
const MaxEntrySize = 64 << 20

// MaxPayloadSize bounds one extra payload that Payload loads into memory (ghost file
// content, at most CRIU's ghost limit): queued pipe and socket data is not loaded but read on
// demand (Bytes), bounded by MaxBufferBytes.
const MaxPayloadSize = 64 << 20

var magics = magic.LoadMagic()

// Reader reads the length-prefixed entries of one CRIU image file through an io.ReaderAt.
// It never trusts a length prefix: a prefix larger than what remains of the file is an
// ErrBadImage, not an allocation.
type Reader struct {
	name  string
	r     io.ReaderAt
	size  int64
	off   int64
	n     int // entries read
	Magic string
	buf   []byte
	// win caches the bytes at winOff: images are read front to back in small pieces, and one
	// read of the archive per length prefix would cost a system call each.
	win    []byte
	winOff int64
}

// readAt reads len(p) bytes at off through the read-ahead window.
func (ir *Reader) readAt(p []byte, off int64) error {
	const window = 64 << 10
	if off >= ir.winOff && off+int64(len(p)) <= ir.winOff+int64(len(ir.win)) {
		copy(p, ir.win[off-ir.winOff:])
		return nil
	}
	if len(p) > window/2 {
		_, err := ir.r.ReadAt(p, off)
		return err
	}
	n := min(window, ir.size-off)
	if cap(ir.win) < window {
		ir.win = make([]byte, window)
	}
	ir.win = ir.win[:n]
	k, err := ir.r.ReadAt(ir.win, off)
	ir.win, ir.winOff = ir.win[:k], off
	if k < len(p) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	copy(p, ir.win)
	return nil
}

// NewReader reads the image's magic (one or two 32-bit words: IMG_COMMON/IMG_SERVICE then
// the image's own) and positions at the first entry. name is used in errors.
func NewReader(name string, r io.ReaderAt, size int64) (*Reader, error) {
	ir := &Reader{name: name, r: r, size: size}
	m, err := ir.u32()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: no magic (%v)", name, ErrBadImage, err)
	}
	if uint64(m) == magics.ByName["IMG_COMMON"] || uint64(m) == magics.ByName["IMG_SERVICE"] {
		if m, err = ir.u32(); err != nil {
			return nil, fmt.Errorf("%s: %w: no magic after header (%v)", name, ErrBadImage, err)
		}
	}
	mn, ok := magics.ByValue[uint64(m)]
	if !ok {
		return nil, fmt.Errorf("%s: %w: unknown magic 0x%08x", name, ErrBadImage, m)
	}
	ir.Magic = mn
	return ir, nil
}

// OpenImage opens a CRIU image from the archive and checks that its magic is want (for
// example "PSTREE"); want "" accepts any magic.
func OpenImage(a *archive.Archive, name, want string) (*Reader, error) {
	r, size, err := a.Image(name)
	if err != nil {
		if errors.Is(err, archive.ErrNotFound) {
			return nil, fmt.Errorf("%s: %w", name, ErrMissingImage)
		}
		return nil, err
	}
	ir, err := NewReader(name, r, size)
	if err != nil {
		return nil, err
	}
	if want != "" && ir.Magic != want {
		return nil, fmt.Errorf("%s: %w: magic %s, want %s", name, ErrBadImage, ir.Magic, want)
	}
	return ir, nil
}

func (ir *Reader) u32() (uint32, error) {
	var b [4]byte
	if ir.size-ir.off < 4 {
		return 0, io.ErrUnexpectedEOF
	}
	if err := ir.readAt(b[:], ir.off); err != nil {
		return 0, err
	}
	ir.off += 4
	return binary.LittleEndian.Uint32(b[:]), nil
}

// Offset is the current read position.
func (ir *Reader) Offset() int64 { return ir.off }

// Next decodes the next entry into m. It returns io.EOF at the clean end of the image.
func (ir *Reader) Next(m proto.Message) error {
	if ir.off == ir.size {
		return io.EOF
	}
	at := ir.off
	n, err := ir.u32()
	if err != nil {
		return fmt.Errorf("%s: %w: entry %d at offset %d: truncated length prefix", ir.name, ErrBadImage, ir.n, at)
	}
	left := ir.size - ir.off
	if int64(n) > left || n > MaxEntrySize {
		return fmt.Errorf("%s: %w: entry %d at offset %d: length prefix %d exceeds the %d bytes left", ir.name, ErrBadImage, ir.n, at, n, left)
	}
	if cap(ir.buf) < int(n) {
		ir.buf = make([]byte, n)
	}
	b := ir.buf[:n]
	if err := ir.readAt(b, ir.off); err != nil {
		return fmt.Errorf("%s: %w: entry %d at offset %d: %v", ir.name, ErrBadImage, ir.n, at, err)
	}
	ir.off += int64(n)
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, m); err != nil {
		return fmt.Errorf("%s: %w: entry %d at offset %d: %v", ir.name, ErrBadImage, ir.n, at, err)
	}
	ir.n++
	return nil
}

// Skip passes over the next entry without decoding it. It returns io.EOF at the clean end.
func (ir *Reader) Skip() error {
	if ir.off == ir.size {
		return io.EOF
	}
	at := ir.off
	n, err := ir.u32()
	if err != nil {
		return fmt.Errorf("%s: %w: entry %d at offset %d: truncated length prefix", ir.name, ErrBadImage, ir.n, at)
	}
	if left := ir.size - ir.off; int64(n) > left {
		return fmt.Errorf("%s: %w: entry %d at offset %d: length prefix %d exceeds the %d bytes left", ir.name, ErrBadImage, ir.n, at, n, left)
	}
	ir.off += int64(n)
	ir.n++
	return nil
}

// Payload reads n bytes of extra data that follow the last entry (pipe data, queued socket
// data), bounded by what is left in the image.
func (ir *Reader) Payload(n uint64) ([]byte, error) {
	left := ir.size - ir.off
	if n > uint64(left) || n > MaxPayloadSize {
		return nil, fmt.Errorf("%s: %w: payload of %d bytes at offset %d exceeds the %d bytes left", ir.name, ErrBadImage, n, ir.off, left)
	}
	b := make([]byte, n)
	if n == 0 {
		return b, nil
	}
	if _, err := ir.r.ReadAt(b, ir.off); err != nil {
		return nil, fmt.Errorf("%s: %w: payload at offset %d: %v", ir.name, ErrBadImage, ir.off, err)
	}
	ir.off += int64(n)
	return b, nil
}

// PayloadRange returns where n bytes of extra data lie and skips them, without reading them.
func (ir *Reader) PayloadRange(n uint64) (off int64, err error) {
	left := ir.size - ir.off
	if n > uint64(left) {
		return 0, fmt.Errorf("%s: %w: payload of %d bytes at offset %d exceeds the %d bytes left", ir.name, ErrBadImage, n, ir.off, left)
	}
	off = ir.off
	ir.off += int64(n)
	return off, nil
}

// ReadAll decodes every entry of an image whose entries are all of one type.
func ReadAll[T proto.Message](ir *Reader, newT func() T) ([]T, error) {
	var out []T
	for {
		m := newT()
		err := ir.Next(m)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

// readImage opens an image by name and decodes all its entries. A missing image yields
// (nil, ErrMissingImage).
func readImage[T proto.Message](a *archive.Archive, name, magicName string, newT func() T) ([]T, error) {
	ir, err := OpenImage(a, name, magicName)
	if err != nil {
		return nil, err
	}
	return ReadAll(ir, newT)
}

// readOne decodes the first entry of an image.
func readOne[T proto.Message](a *archive.Archive, name, magicName string, newT func() T) (T, error) {
	var zero T
	ir, err := OpenImage(a, name, magicName)
	if err != nil {
		return zero, err
	}
	m := newT()
	if err := ir.Next(m); err != nil {
		if errors.Is(err, io.EOF) {
			return zero, fmt.Errorf("%s: %w: no entries", name, ErrBadImage)
		}
		return zero, err
	}
	return m, nil
}

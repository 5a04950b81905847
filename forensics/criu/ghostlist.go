package criu

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"time"

	ghost_file "github.com/checkpoint-restore/go-criu/v8/crit/images/ghost-file"
	remap_file_path "github.com/checkpoint-restore/go-criu/v8/crit/images/remap-file-path"

	"github.com/podsleuth/podsleuth/forensics/archive"
)

// maxGhostChunks bounds the chunk list of one sparse ghost file (each chunk is a few bytes of
// index in memory; CRIU writes one per data extent).
const maxGhostChunks = 1 << 20

// Ghost is a deleted file CRIU saved because a process still held it open or mapped, with a
// reader of its content that reads the image on demand (a gigabyte ghost file is never loaded).
type Ghost struct {
	// FileID is the CRIU file id of the open file (FD.FileID of its descriptors).
	FileID uint32
	// Image is the ghost image's name, "ghost-file-N.img".
	Image   string
	Mode    fs.FileMode
	UID     uint32
	GID     uint32
	Size    int64
	ModTime time.Time
	// SymlinkTarget is set when the deleted file was a symbolic link.
	SymlinkTarget string
	// Content reads the file's bytes at offsets [0, Size); holes of a sparse file read as zeros.
	Content io.ReaderAt
}

// Ghosts lists every ghost file of the checkpoint (remap-fpath.img entries of type GHOST),
// sorted by file id. A checkpoint without remap-fpath.img has none. Ghost images that cannot be
// read are reported in the error; the others are returned.
func Ghosts(a *archive.Archive) ([]Ghost, error) {
	remaps, err := readImage(a, "remap-fpath.img", "REMAP_FPATH", func() *remap_file_path.RemapFilePathEntry { return &remap_file_path.RemapFilePathEntry{} })
	if errors.Is(err, ErrMissingImage) {
		return nil, nil
	}
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	var out []Ghost
	for _, r := range remaps {
		if r.GetRemapType() != remap_file_path.RemapType_GHOST {
			continue
		}
		name := fmt.Sprintf("ghost-file-%d.img", r.GetRemapId()&^(1<<31))
		ir, size, err := a.Image(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		g, err := ParseGhost(name, ir, size)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		g.FileID = r.GetOrigId()
		out = append(out, *g)
	}
	slices.SortFunc(out, func(x, y Ghost) int { return cmp.Compare(x.FileID, y.FileID) })
	return out, errors.Join(errs...)
}

// ParseGhost reads one ghost image (name is used in errors) of size bytes through r: its
// entry and, for a sparse file, its chunk list; the content itself is read only through the
// returned Ghost's Content. FileID is left 0 (remap-fpath.img knows it).
func ParseGhost(name string, r io.ReaderAt, size int64) (*Ghost, error) {
	ir, err := NewReader(name, r, size)
	if err != nil {
		return nil, err
	}
	if ir.Magic != "GHOST_FILE" {
		return nil, fmt.Errorf("%s: %w: magic %s, want GHOST_FILE", name, ErrBadImage, ir.Magic)
	}
	var e ghost_file.GhostFileEntry
	if err := ir.Next(&e); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w: no entries", name, ErrBadImage)
		}
		return nil, err
	}
	g := &Ghost{Image: name, Mode: unixMode(e.GetMode()), UID: e.GetUid(), GID: e.GetGid(), SymlinkTarget: e.GetSymlnkTarget()}
	if mt := e.GetMtim(); mt != nil {
		g.ModTime = time.Unix(int64(mt.GetTvSec()), int64(mt.GetTvUsec())*1000).UTC()
	}
	if !e.GetChunks() {
		g.Size = ir.size - ir.off
		g.Content = io.NewSectionReader(ir.r, ir.off, g.Size)
		return g, nil
	}
	g.Size = int64(e.GetSize())
	if e.GetSize() > MaxPayloadSize*64 {
		return nil, fmt.Errorf("%s: %w: file size %d", name, ErrBadImage, e.GetSize())
	}
	sp := &sparse{r: ir.r, size: g.Size}
	var end uint64
	for {
		var c ghost_file.GhostChunkEntry
		if err := ir.Next(&c); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		off, err := ir.PayloadRange(c.GetLen())
		if err != nil {
			return nil, err
		}
		if c.GetOff() < end || c.GetLen() > uint64(g.Size) || c.GetOff() > uint64(g.Size)-c.GetLen() {
			return nil, fmt.Errorf("%s: %w: chunk %d+%d overlaps the previous one or lies past the %d-byte file", name, ErrBadImage, c.GetOff(), c.GetLen(), g.Size)
		}
		if len(sp.chunks) >= maxGhostChunks {
			return nil, fmt.Errorf("%s: %w: more than %d chunks", name, ErrBadImage, maxGhostChunks)
		}
		end = c.GetOff() + c.GetLen()
		if c.GetLen() > 0 {
			sp.chunks = append(sp.chunks, chunk{off: int64(c.GetOff()), n: int64(c.GetLen()), at: off})
		}
	}
	g.Content = sp
	return g, nil
}

// sparse reads a chunked ghost file: data chunks at their offsets, zeros in between.
type sparse struct {
	r      io.ReaderAt
	size   int64
	chunks []chunk // sorted by off, not overlapping
}

type chunk struct{ off, n, at int64 }

func (s *sparse) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset %d", off)
	}
	if off >= s.size {
		return 0, io.EOF
	}
	want := len(b)
	if int64(want) > s.size-off {
		b = b[:s.size-off]
	}
	done := 0
	for done < len(b) {
		pos := off + int64(done)
		i, _ := slices.BinarySearchFunc(s.chunks, pos, func(c chunk, p int64) int {
			switch {
			case c.off+c.n <= p:
				return -1
			case c.off > p:
				return 1
			}
			return 0
		})
		if i < len(s.chunks) && s.chunks[i].off <= pos {
			c := s.chunks[i]
			n := int(min(int64(len(b)-done), c.off+c.n-pos))
			m, err := s.r.ReadAt(b[done:done+n], c.at+pos-c.off)
			done += m
			if m < n {
				if err == nil || errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return done, err
			}
			continue
		}
		// a hole up to the next chunk (or the end)
		next := s.size
		if i < len(s.chunks) {
			next = s.chunks[i].off
		}
		n := int(min(int64(len(b)-done), next-pos))
		clear(b[done : done+n])
		done += n
	}
	if done < want {
		return done, io.EOF
	}
	return done, nil
}

package criu

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	ghost_file "github.com/checkpoint-restore/go-criu/v8/crit/images/ghost-file"
	remap_file_path "github.com/checkpoint-restore/go-criu/v8/crit/images/remap-file-path"

	"github.com/podsleuth/podsleuth/forensics/archive"
)

// ErrNotGhost is returned by ReadGhostFile for a file CRIU did not save as a ghost file (it
// was not deleted, or was link-remapped instead).
var ErrNotGhost = errors.New("no ghost file")

// GhostFile is the saved content of a file that was deleted while a process held it open:
// CRIU copies such files into ghost-file-<id>.img so that restore can recreate them, which
// makes them recoverable evidence.
type GhostFile struct {
	// Image is the ghost image's name.
	Image   string
	Mode    fs.FileMode
	UID     uint32
	GID     uint32
	Size    int64
	ModTime time.Time
	// Content holds up to the requested number of bytes; Truncated says there were more.
	Content   []byte
	Truncated bool
	// SymlinkTarget is set when the deleted file was a symbolic link.
	SymlinkTarget string
}

// ReadGhostFile returns the saved content of the deleted file with CRIU file id fileID (the
// FD.FileID of a descriptor with Deleted set), reading at most maxBytes of it.
func ReadGhostFile(a *archive.Archive, fileID uint32, maxBytes int64) (*GhostFile, error) {
	remaps, err := readImage(a, "remap-fpath.img", "REMAP_FPATH", func() *remap_file_path.RemapFilePathEntry { return &remap_file_path.RemapFilePathEntry{} })
	if err != nil {
		if errors.Is(err, ErrMissingImage) {
			return nil, fmt.Errorf("file id %d: %w", fileID, ErrNotGhost)
		}
		return nil, err
	}
	var remapID uint32
	found := false
	for _, r := range remaps {
		if r.GetOrigId() == fileID && r.GetRemapType() == remap_file_path.RemapType_GHOST {
			remapID, found = r.GetRemapId(), true
		}
	}
	if !found {
		return nil, fmt.Errorf("file id %d: %w", fileID, ErrNotGhost)
	}
	name := fmt.Sprintf("ghost-file-%d.img", remapID&^(1<<31))
	ir, err := OpenImage(a, name, "GHOST_FILE")
	if err != nil {
		return nil, err
	}
	var e ghost_file.GhostFileEntry
	if err := ir.Next(&e); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w: no entries", name, ErrBadImage)
		}
		return nil, err
	}
	g := &GhostFile{Image: name, Mode: unixMode(e.GetMode()), UID: e.GetUid(), GID: e.GetGid(), SymlinkTarget: e.GetSymlnkTarget()}
	if mt := e.GetMtim(); mt != nil {
		g.ModTime = time.Unix(int64(mt.GetTvSec()), int64(mt.GetTvUsec())*1000).UTC()
	}
	if !e.GetChunks() {
		// The content follows the entry up to the end of the image.
		n := ir.size - ir.Offset()
		g.Size = n
		if n > maxBytes {
			n, g.Truncated = maxBytes, true
		}
		if g.Content, err = ir.Payload(uint64(n)); err != nil {
			return nil, err
		}
		return g, nil
	}
	// Chunked (sparse) ghost files: {len, off} entries, each followed by its bytes.
	g.Size = int64(e.GetSize())
	if g.Size < 0 || g.Size > MaxPayloadSize {
		return nil, fmt.Errorf("%s: %w: file size %d", name, ErrBadImage, e.GetSize())
	}
	buf := make([]byte, min(g.Size, maxBytes))
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
		if c.GetOff() >= uint64(len(buf)) {
			if c.GetLen() > 0 {
				g.Truncated = true
			}
			continue
		}
		n := min(c.GetLen(), uint64(len(buf))-c.GetOff())
		if n < c.GetLen() {
			g.Truncated = true
		}
		if _, err := ir.r.ReadAt(buf[c.GetOff():c.GetOff()+n], off); err != nil {
			return nil, fmt.Errorf("%s: %w: chunk at %d: %v", name, ErrBadImage, off, err)
		}
	}
	if g.Size > maxBytes {
		g.Truncated = true
	}
	g.Content = buf
	return g, nil
}

// unixMode converts st_mode bits to an fs.FileMode.
func unixMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & 0o170000 {
	case 0o040000:
		mode |= fs.ModeDir
	case 0o120000:
		mode |= fs.ModeSymlink
	case 0o010000:
		mode |= fs.ModeNamedPipe
	case 0o140000:
		mode |= fs.ModeSocket
	case 0o020000:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case 0o060000:
		mode |= fs.ModeDevice
	}
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

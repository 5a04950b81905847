package criu

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

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
// FD.FileID of a descriptor with Deleted set), reading at most maxBytes of it. It is ParseGhost
// (the one reader of ghost images) with the content loaded.
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
	r, size, err := a.Image(name)
	if err != nil {
		if errors.Is(err, archive.ErrNotFound) {
			return nil, fmt.Errorf("%s: %w", name, ErrMissingImage)
		}
		return nil, err
	}
	gh, err := ParseGhost(name, r, size)
	if err != nil {
		return nil, err
	}
	g := &GhostFile{Image: name, Mode: gh.Mode, UID: gh.UID, GID: gh.GID, Size: gh.Size, ModTime: gh.ModTime,
		SymlinkTarget: gh.SymlinkTarget, Truncated: gh.Size > maxBytes}
	g.Content = make([]byte, max(0, min(gh.Size, maxBytes)))
	if n, err := gh.Content.ReadAt(g.Content, 0); err != nil && !(errors.Is(err, io.EOF) && n == len(g.Content)) {
		return nil, fmt.Errorf("%s: %w: content: %v", name, ErrBadImage, err)
	}
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

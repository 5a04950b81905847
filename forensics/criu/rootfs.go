package criu

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	metadata "github.com/checkpoint-restore/checkpointctl/lib"
	"github.com/klauspost/compress/zstd"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
)

// Rootfs diff limits: the diff is only listed, never extracted, but a compressed diff has to
// be decompressed to walk it.
const (
	maxRootfsEntries = 250_000
	maxRootfsBytes   = 64 << 30
	// maxRootfsName cuts longer names (PATH_MAX); maxRootfsNameBytes bounds the names read
	// in total, long or not.
	maxRootfsName      = 4096
	maxRootfsNameBytes = 64 << 20
)

// rootfs lists rootfs-diff.tar (plain, or gzip/zstd inside whatever its name says, as
// containerd writes it) and deleted.files.
func (d *decoder) rootfs() {
	changes, err := RootfsChanges(d.a)
	if err != nil {
		d.warnf("%v", err)
	}
	d.cp.Rootfs = changes
}

// RootfsChanges lists the container's root filesystem changes, sorted by path. Entries read
// before a damaged part of the diff are returned with the error.
func RootfsChanges(a *archive.Archive) ([]forensics.RootfsChange, error) {
	var out []forensics.RootfsChange
	var errs []error
	if r, size, err := a.Member(metadata.RootFsDiffTar); err == nil {
		ch, err := listRootfsDiff(io.NewSectionReader(r, 0, size))
		out = append(out, ch...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", metadata.RootFsDiffTar, err))
		}
	} else if !errors.Is(err, archive.ErrNotFound) {
		errs = append(errs, err)
	}
	var deleted []string
	if ok, err := readJSON(a, metadata.DeletedFilesFile, &deleted); err != nil {
		errs = append(errs, err)
	} else if ok {
		for _, p := range deleted {
			out = append(out, forensics.RootfsChange{Path: path.Clean("/" + p), Kind: forensics.RootfsDeleted, Type: "file"})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, errors.Join(errs...)
}

// countingReader fails once more than max bytes were read.
type countingReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.n >= c.max {
		return 0, fmt.Errorf("%w: more than %d decompressed bytes", archive.ErrTooLarge, c.max)
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func listRootfsDiff(sr *io.SectionReader) ([]forensics.RootfsChange, error) {
	br := bufio.NewReaderSize(sr, 64<<10)
	head, _ := br.Peek(4)
	var r io.Reader = br
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", archive.ErrCorrupt, err)
		}
		defer zr.Close()
		r = &countingReader{r: zr, max: maxRootfsBytes}
	case len(head) >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(128<<20), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", archive.ErrCorrupt, err)
		}
		defer zr.Close()
		r = &countingReader{r: zr, max: maxRootfsBytes}
	}
	tr := tar.NewReader(r)
	var out []forensics.RootfsChange
	var nameBytes int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return out, fmt.Errorf("%w: after %d entries", archive.ErrTruncated, len(out))
			}
			return out, fmt.Errorf("%w: after %d entries: %v", archive.ErrCorrupt, len(out), err)
		}
		if len(out) >= maxRootfsEntries {
			return out, fmt.Errorf("%w: more than %d entries; the first %d are listed", archive.ErrTooLarge, maxRootfsEntries, len(out))
		}
		nameBytes += int64(len(h.Name) + len(h.Linkname))
		if nameBytes > maxRootfsNameBytes {
			return out, fmt.Errorf("%w: names add up to more than %d bytes after %d entries; the first %d are listed", archive.ErrTooLarge, maxRootfsNameBytes, len(out), len(out))
		}
		name, link, long := h.Name, h.Linkname, 0
		if len(name) > maxRootfsName || len(link) > maxRootfsName {
			long = max(len(name), len(link))
			name, link = cutName(name), cutName(link)
		}
		p := path.Clean("/" + name)
		if p == "/" {
			continue
		}
		c := forensics.RootfsChange{
			Path: p, Kind: forensics.RootfsAdded, Size: h.Size, UID: h.Uid, GID: h.Gid,
			ModTime: h.ModTime.UTC(), Traversal: escapes(name), NameBytes: long,
		}
		mode := h.FileInfo().Mode()
		c.Mode = mode.String()
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			c.Type = "file"
			c.Executable = mode&0o111 != 0
		case tar.TypeDir:
			c.Type, c.Size = "dir", 0
		case tar.TypeSymlink:
			c.Type, c.LinkTarget = "symlink", link
		case tar.TypeLink:
			c.Type, c.LinkTarget = "hardlink", path.Clean("/"+link)
			c.Traversal = c.Traversal || escapes(link)
		case tar.TypeChar:
			c.Type = "char"
			if h.Devmajor == 0 && h.Devminor == 0 {
				// overlayfs whiteout: the file was deleted from the image layer.
				c.Kind = forensics.RootfsDeleted
			}
		case tar.TypeBlock:
			c.Type = "block"
		case tar.TypeFifo:
			c.Type = "fifo"
		default:
			c.Type = string(h.Typeflag)
		}
		out = append(out, c)
	}
}

// escapes reports whether a diff name is absolute or climbs out of the root with "..".
func escapes(name string) bool {
	if strings.HasPrefix(name, "/") {
		return true
	}
	depth := 0
	for _, el := range strings.Split(name, "/") {
		switch el {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return true
			}
		default:
			depth++
		}
	}
	return false
}

// cutName cuts a name to maxRootfsName bytes, visibly.
func cutName(s string) string {
	if len(s) <= maxRootfsName {
		return s
	}
	return strings.ToValidUTF8(s[:maxRootfsName], "") + fmt.Sprintf("...[name cut: %d bytes]", len(s))
}

// Package base reads a container's base image, so that the rootfs changes of a checkpoint can
// be told apart honestly: "modified" when the path exists in the image, "added" when it does
// not (without a base, podsleuth says "added or modified"), with a diff for modified text files.
//
// The base comes from what the analyst gives: a registry reference (fetched with
// google/go-containerregistry and the analyst's own credentials: the Docker config keychain), a
// docker-archive or OCI tarball, an OCI image layout directory, or a plain root filesystem (a
// directory or a tar, as restore takes it). It never reads the node's container storage.
//
// It imports the forensics model only: never k8s.io/..., charm.land/..., cmd or tui packages.
package base

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/podsleuth/podsleuth/forensics"
)

// Defaults bound what a base image may cost.
const (
	// DefaultMaxFile is the largest file whose content is kept for comparison and diffs.
	DefaultMaxFile = 1 << 20
	// DefaultMaxEntries bounds the number of paths indexed.
	DefaultMaxEntries = 4 << 20
)

// ErrTooManyEntries is returned when an image holds more paths than Options.MaxEntries.
var ErrTooManyEntries = errors.New("base image: too many files")

// Options tune Load.
type Options struct {
	// Want says which files' contents to keep (the checkpoint's changed paths); nil keeps
	// none: only the index of paths.
	Want func(path string) bool
	// MaxFile and MaxEntries default to DefaultMaxFile and DefaultMaxEntries.
	MaxFile    int64
	MaxEntries int
	// Keychain gives registry credentials (authn.DefaultKeychain: the analyst's Docker
	// config) when nil.
	Keychain authn.Keychain
	// Insecure allows plain HTTP registries (a local test registry).
	Insecure bool
	// Platform picks an image of a multi-platform index (linux/GOARCH when empty).
	Platform string
}

// Entry is one path of the base image.
type Entry struct {
	// Type is "file", "dir", "symlink", "hardlink", "char", "block" or "fifo".
	Type string
	Size int64
	Mode fs.FileMode
}

// Image is the flattened file system of a base image: every path, and the contents of the
// wanted regular files.
type Image struct {
	// Source says what was read ("registry example.com/app:1 (sha256:...)", "image tarball
	// base.tar", "oci-layout dir", "rootfs dir dir", "rootfs tar base.tar").
	Source string
	// Digest is the image manifest's digest when the base is an image ("" for a plain rootfs).
	Digest  string
	entries map[string]Entry
	data    map[string][]byte
}

// Load reads a base image from src: an existing directory (an OCI image layout when it holds
// index.json and oci-layout, else a root filesystem), an existing file (a docker-archive or OCI
// tarball with a manifest, else a root filesystem tar; either may be gzip-compressed, as
// `docker save | gzip` writes it), or else a registry reference.
func Load(ctx context.Context, src string, o Options) (*Image, error) {
	if o.MaxFile <= 0 {
		o.MaxFile = DefaultMaxFile
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	st, err := os.Stat(src)
	switch {
	case err == nil && st.IsDir():
		if _, err := os.Stat(filepath.Join(src, "oci-layout")); err == nil {
			img, digest, err := fromLayout(src, o)
			if err != nil {
				return nil, fmt.Errorf("base image: OCI layout %s: %w", src, err)
			}
			return flatten(ctx, img, "oci-layout "+src, digest, o)
		}
		return fromDir(ctx, src, o)
	case err == nil:
		gz := isGzip(src)
		opener := func() (io.ReadCloser, error) { return openMaybeGzip(src, gz) }
		img, err := tarball.Image(opener, nil)
		if err == nil {
			digest := ""
			if d, err := img.Digest(); err == nil {
				digest = d.String()
			}
			return flatten(ctx, img, "image tarball "+src, digest, o)
		}
		f, ferr := opener()
		if ferr != nil {
			return nil, fmt.Errorf("base image: %w", ferr)
		}
		defer f.Close()
		out, terr := index(ctx, tar.NewReader(f), "rootfs tar "+src, "", o)
		if terr != nil {
			return nil, fmt.Errorf("base image %s: neither an image tarball (%v) nor a root filesystem tar: %w", src, err, terr)
		}
		return out, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("base image: %w", err)
	case pathLike(src):
		return nil, fmt.Errorf("base image: %w", err) // a missing file, not a registry name
	}
	var nopts []name.Option
	if o.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	ref, perr := name.ParseReference(src, nopts...)
	if perr != nil {
		return nil, fmt.Errorf("base image %q: not a file, a directory or an image reference: %w", src, perr)
	}
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	plat, err := platform(o.Platform)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithPlatform(*plat))
	if err != nil {
		return nil, fmt.Errorf("base image: fetch %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("base image: %s: %w", ref, err)
	}
	return flatten(ctx, img, "registry "+ref.Name()+" ("+d.String()+")", d.String(), o)
}

// isGzip says whether the file starts with the gzip magic (`docker save | gzip`, a rootfs
// tar.gz).
func isGzip(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [2]byte
	_, err = io.ReadFull(f, b[:])
	return err == nil && b[0] == 0x1f && b[1] == 0x8b
}

// openMaybeGzip opens p, decompressing it when gz.
func openMaybeGzip(p string, gz bool) (io.ReadCloser, error) {
	f, err := os.Open(p)
	if err != nil || !gz {
		return f, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return gzipFile{zr, f}, nil
}

type gzipFile struct {
	*gzip.Reader
	f *os.File
}

func (g gzipFile) Close() error { g.Reader.Close(); return g.f.Close() }

// pathLike says whether src names a file rather than an image reference.
func pathLike(src string) bool {
	return strings.HasPrefix(src, "/") || strings.HasPrefix(src, ".") || strings.HasPrefix(src, "~") ||
		strings.HasSuffix(src, ".tar") || strings.HasSuffix(src, ".tar.gz") || strings.HasSuffix(src, ".tgz")
}

func platform(s string) (*v1.Platform, error) {
	if s == "" {
		return &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}, nil
	}
	p, err := v1.ParsePlatform(s)
	if err != nil {
		return nil, fmt.Errorf("base image: platform %q: %w", s, err)
	}
	return p, nil
}

// fromLayout picks the image of an OCI layout: the only one, or the one for the platform.
func fromLayout(dir string, o Options) (v1.Image, string, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, "", err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, "", err
	}
	plat, err := platform(o.Platform)
	if err != nil {
		return nil, "", err
	}
	var pick *v1.Descriptor
	for i := range im.Manifests {
		d := &im.Manifests[i]
		if !d.MediaType.IsImage() {
			continue
		}
		if pick == nil || d.Platform != nil && d.Platform.Satisfies(*plat) {
			pick = d
		}
	}
	if pick == nil {
		return nil, "", errors.New("no image manifest in index.json")
	}
	img, err := idx.Image(pick.Digest)
	return img, pick.Digest.String(), err
}

func flatten(ctx context.Context, img v1.Image, source, digest string, o Options) (*Image, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	out, err := index(ctx, tar.NewReader(rc), source, digest, o)
	if err != nil {
		return nil, fmt.Errorf("base image %s: %w", source, err)
	}
	return out, nil
}

// index reads a flattened file system tar.
func index(ctx context.Context, tr *tar.Reader, source, digest string, o Options) (*Image, error) {
	img := &Image{Source: source, Digest: digest, entries: map[string]Entry{}, data: map[string][]byte{}}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := Clean(h.Name)
		if p == "" {
			continue
		}
		if len(img.entries) >= o.MaxEntries {
			return nil, fmt.Errorf("%w (more than %d)", ErrTooManyEntries, o.MaxEntries)
		}
		e := Entry{Type: typeOf(h.Typeflag), Size: h.Size, Mode: h.FileInfo().Mode()}
		img.entries[p] = e
		if e.Type == "file" && o.Want != nil && h.Size <= o.MaxFile && o.Want(p) {
			b, err := io.ReadAll(io.LimitReader(tr, o.MaxFile+1))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			img.data[p] = b
		}
	}
	if len(img.entries) == 0 {
		return nil, errors.New("no files")
	}
	return img, nil
}

func fromDir(ctx context.Context, dir string, o Options) (*Image, error) {
	img := &Image{Source: "rootfs dir " + dir, entries: map[string]Entry{}, data: map[string][]byte{}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		q := Clean(filepath.ToSlash(rel))
		if q == "" {
			return nil
		}
		if len(img.entries) >= o.MaxEntries {
			return fmt.Errorf("%w (more than %d)", ErrTooManyEntries, o.MaxEntries)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := Entry{Type: modeType(info.Mode()), Size: info.Size(), Mode: info.Mode()}
		img.entries[q] = e
		if e.Type == "file" && o.Want != nil && e.Size <= o.MaxFile && o.Want(q) {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			img.data[q] = b
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("base image %s: %w", dir, err)
	}
	return img, nil
}

// Clean turns a tar member name or relative path into the absolute path the checkpoint uses
// ("./etc/passwd" -> "/etc/passwd"); "" for the root itself.
func Clean(n string) string {
	p := path.Clean("/" + strings.TrimPrefix(n, "./"))
	if p == "/" {
		return ""
	}
	return p
}

func typeOf(t byte) string {
	switch t {
	case tar.TypeReg, tar.TypeRegA:
		return "file"
	case tar.TypeDir:
		return "dir"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeLink:
		return "hardlink"
	case tar.TypeChar:
		return "char"
	case tar.TypeBlock:
		return "block"
	case tar.TypeFifo:
		return "fifo"
	}
	return "other"
}

func modeType(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "file"
	case m.IsDir():
		return "dir"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m&fs.ModeCharDevice != 0:
		return "char"
	case m&fs.ModeDevice != 0:
		return "block"
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	}
	return "other"
}

// Lookup returns the base image's entry of a path.
func (img *Image) Lookup(p string) (Entry, bool) {
	e, ok := img.entries[Clean(p)]
	return e, ok
}

// Len is the number of paths in the image.
func (img *Image) Len() int { return len(img.entries) }

// File returns the content of a wanted regular file of the base image (findings.BaseFile):
// false when the image has no such file or its content was not kept.
func (img *Image) File(p string) ([]byte, bool) {
	b, ok := img.data[Clean(p)]
	return b, ok
}

// Classify sets the kind of every rootfs change of cp that is not a deletion: "modified" when
// the base image has the path, "added" when it does not, and names the base in cp.RootfsBase.
// It returns how many are modified.
func (img *Image) Classify(cp *forensics.Checkpoint) int {
	cp.RootfsBase = img.Source
	n := 0
	for i := range cp.Rootfs {
		c := &cp.Rootfs[i]
		if c.Kind == forensics.RootfsDeleted {
			continue
		}
		if _, ok := img.Lookup(c.Path); ok {
			c.Kind = forensics.RootfsModified
			n++
		} else {
			c.Kind = forensics.RootfsAdded
		}
	}
	return n
}

// Wanted returns a Want function for the non-deleted rootfs changes of cp.
func Wanted(cp *forensics.Checkpoint) func(string) bool {
	want := map[string]bool{}
	for _, c := range cp.Rootfs {
		if c.Kind != forensics.RootfsDeleted && c.Type == "file" {
			want[Clean(c.Path)] = true
		}
	}
	return func(p string) bool { return want[p] }
}

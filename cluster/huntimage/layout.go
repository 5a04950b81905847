package huntimage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations of the image's entry in an OCI layout's index.json: containerd (ctr import)
// names the image by the first, the OCI spec's ref.name holds the tag.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// ErrBadArchive: what Load was given is not an OCI image layout holding one image, or a blob
// does not match its digest.
var ErrBadArchive = errors.New("not a valid OCI image archive")

// maxArchive bounds what Load extracts (an analyzer image is ~30 MB compressed).
const maxArchive = 4 << 30

// Reference is the tagged name the image is stored under in a layout or archive: ref itself
// when it names a repository (a tag is added when missing: the binary's version or "latest").
func Reference(ref, tag string) (name.Tag, error) {
	if ref == "" {
		ref = DefaultRepository
	}
	if tag == "" {
		tag = "latest"
	}
	t, err := name.NewTag(ref, name.WithDefaultTag(tag))
	if err != nil {
		return name.Tag{}, fmt.Errorf("image name %q: %w", ref, err)
	}
	return t, nil
}

// Pinned is the reference a pod uses: the repository of ref at the image's digest.
func (i *Image) Pinned(ref name.Reference) string {
	return ref.Context().Name() + "@" + i.Digest.String()
}

// WriteArchive writes the image as an OCI image layout in one tar file (what `ctr images
// import`, `docker load`, podman and skopeo take), named ref. The file is the same bytes for
// the same image and name: entries sorted, fixed times and owners.
func (i *Image) WriteArchive(file string, ref name.Tag) error {
	blobs, index, err := i.layoutFiles(ref)
	if err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	epoch := time.Unix(0, 0)
	add := func(n string, mode int64, r io.Reader, size int64) error {
		h := &tar.Header{Name: n, Mode: mode, Size: size, ModTime: epoch, Typeflag: tar.TypeReg}
		if r == nil {
			h.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if r != nil {
			_, err := io.Copy(tw, r)
			return err
		}
		return nil
	}
	werr := func() error {
		for _, d := range []string{"blobs/", "blobs/sha256/"} {
			if err := add(d, 0o755, nil, 0); err != nil {
				return err
			}
		}
		for _, b := range blobs {
			rc, err := b.open()
			if err != nil {
				return err
			}
			err = add("blobs/sha256/"+b.hex, 0o644, rc, b.size)
			rc.Close()
			if err != nil {
				return err
			}
		}
		layoutFile := []byte(`{"imageLayoutVersion":"1.0.0"}`)
		if err := add("index.json", 0o644, bytes.NewReader(index), int64(len(index))); err != nil {
			return err
		}
		return add("oci-layout", 0o644, bytes.NewReader(layoutFile), int64(len(layoutFile)))
	}()
	if werr == nil {
		werr = tw.Close()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(file)
		return fmt.Errorf("write %s: %w", file, werr)
	}
	return nil
}

// WriteLayout writes the image into an OCI image layout directory (created, or added to when
// it is one already), named ref.
func (i *Image) WriteLayout(dir string, ref name.Tag) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return fmt.Errorf("layout %s: %w", dir, err)
		}
	}
	if err := p.AppendImage(i.Image, layout.WithAnnotations(annotations(ref))); err != nil {
		return fmt.Errorf("layout %s: %w", dir, err)
	}
	return nil
}

func annotations(ref name.Tag) map[string]string {
	return map[string]string{annotationContainerdName: ref.Name(), annotationRefName: ref.TagStr()}
}

// blob is one file of blobs/sha256.
type blob struct {
	hex  string
	size int64
	open func() (io.ReadCloser, error)
}

// layoutFiles lists the image's blobs (config, layers, manifest, sorted by digest) and the
// index.json naming it.
func (i *Image) layoutFiles(ref name.Tag) ([]blob, []byte, error) {
	raw, err := i.Image.RawManifest()
	if err != nil {
		return nil, nil, err
	}
	cfg, err := i.Image.RawConfigFile()
	if err != nil {
		return nil, nil, err
	}
	mt, err := i.Image.MediaType()
	if err != nil {
		return nil, nil, err
	}
	bytesBlob := func(b []byte) blob {
		s := sha256.Sum256(b)
		return blob{hex: hex.EncodeToString(s[:]), size: int64(len(b)), open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
	}
	blobs := []blob{bytesBlob(raw), bytesBlob(cfg)}
	layers, err := i.Image.Layers()
	if err != nil {
		return nil, nil, err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, nil, err
		}
		sz, err := l.Size()
		if err != nil {
			return nil, nil, err
		}
		blobs = append(blobs, blob{hex: d.Hex, size: sz, open: l.Compressed})
	}
	seen := map[string]bool{}
	var uniq []blob
	for _, b := range blobs {
		if !seen[b.hex] {
			seen[b.hex] = true
			uniq = append(uniq, b)
		}
	}
	sortBlobs(uniq)
	idx := emptyIndexManifest()
	idx.Manifests = []v1.Descriptor{{MediaType: mt, Size: int64(len(raw)), Digest: i.Digest, Annotations: annotations(ref)}}
	index, err := json.Marshal(idx)
	if err != nil {
		return nil, nil, err
	}
	return uniq, index, nil
}

func sortBlobs(b []blob) {
	slices.SortFunc(b, func(x, y blob) int { return strings.Compare(x.hex, y.hex) })
}

func emptyIndexManifest() v1.IndexManifest {
	return v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
}

var blobName = regexp.MustCompile(`^blobs/sha256/([0-9a-f]{64})$`)

// Load reads an image that WriteArchive or WriteLayout wrote (or any OCI image layout, as a
// directory or a tar, holding one image): the tar is extracted into a temporary directory
// (Close removes it), accepting only the layout's own names, regular files and directories,
// at most 4 GiB, every blob checked against its digest.
func Load(p string) (*Image, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return loadLayout(p, nil)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dir, err := os.MkdirTemp("", "podsleuth-image-")
	if err != nil {
		return nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	if err := extract(f, dir); err != nil {
		cleanup()
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	img, err := loadLayout(dir, cleanup)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return img, nil
}

// extract writes an OCI layout tar into dir (see Load).
func extract(r io.Reader, dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	var total int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadArchive, err)
		}
		n := filepath.ToSlash(filepath.Clean(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if n != "blobs" && n != "blobs/sha256" && n != "." {
				return fmt.Errorf("%w: unexpected directory %q", ErrBadArchive, h.Name)
			}
			continue
		case tar.TypeReg:
		default:
			return fmt.Errorf("%w: %q is not a regular file", ErrBadArchive, h.Name)
		}
		m := blobName.FindStringSubmatch(n)
		if m == nil && n != "index.json" && n != "oci-layout" {
			return fmt.Errorf("%w: unexpected file %q", ErrBadArchive, h.Name)
		}
		if h.Size < 0 || total+h.Size > maxArchive {
			return fmt.Errorf("%w: larger than %d bytes", ErrBadArchive, int64(maxArchive))
		}
		total += h.Size
		f, err := os.OpenFile(filepath.Join(dir, filepath.FromSlash(n)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("%w: %q: %v", ErrBadArchive, h.Name, err)
		}
		hs := sha256.New()
		_, err = io.Copy(io.MultiWriter(f, hs), io.LimitReader(tr, h.Size))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%w: %q: %v", ErrBadArchive, h.Name, err)
		}
		if m != nil && hex.EncodeToString(hs.Sum(nil)) != m[1] {
			return fmt.Errorf("%w: blob %s does not match its digest", ErrBadArchive, m[1])
		}
	}
}

// loadLayout reads the one image of an OCI layout directory.
func loadLayout(dir string, cleanup func()) (*Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadArchive, err)
	}
	ii, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadArchive, err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%w: index.json: %v", ErrBadArchive, err)
	}
	if len(im.Manifests) != 1 || !im.Manifests[0].MediaType.IsImage() {
		return nil, fmt.Errorf("%w: want one image in index.json, found %d entries", ErrBadArchive, len(im.Manifests))
	}
	img, err := ii.Image(im.Manifests[0].Digest)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadArchive, err)
	}
	out, err := describe(img, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadArchive, err)
	}
	if out.Digest != im.Manifests[0].Digest {
		return nil, fmt.Errorf("%w: manifest digest %s, index says %s", ErrBadArchive, out.Digest, im.Manifests[0].Digest)
	}
	out.cleanup = cleanup
	return out, nil
}

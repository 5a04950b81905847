package huntimage

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// What every analyzer image holds and how it runs.
const (
	// DefaultRepository is the image's name where no registry is involved (the test cluster
	// imports it under this name; `hunt image push` gives it the registry's).
	DefaultRepository = "podsleuth.local/podsleuth-analyzer"
	// BinaryPath is the podsleuth binary in the image (the entrypoint).
	BinaryPath = "/usr/bin/podsleuth"
	// LibDir holds a dynamic binary's shared libraries (LD_LIBRARY_PATH points there).
	LibDir = "/usr/lib/podsleuth"
	// UID and GID are the default user: non-root, numeric (runAsNonRoot can check it without
	// an /etc/passwd lookup), the conventional "nonroot" of distroless images.
	UID, GID = 65532, 65532
	// Home is HOME and TMPDIR: mount an emptyDir there when the root filesystem is read-only.
	Home = "/tmp"
)

// Label keys set on every image.
const (
	LabelTitle       = "org.opencontainers.image.title"
	LabelDescription = "org.opencontainers.image.description"
	LabelRevision    = "org.opencontainers.image.revision"
	LabelVersion     = "org.opencontainers.image.version"
	LabelCreated     = "org.opencontainers.image.created"
	LabelSource      = "org.opencontainers.image.source"
	LabelBinarySHA   = "io.podsleuth.binary.sha256"
	LabelLinking     = "io.podsleuth.linking"
	LabelYARA        = "io.podsleuth.yara"
	LabelModified    = "io.podsleuth.source.modified"
)

// Config says what to build.
type Config struct {
	// Binary is the podsleuth executable to ship ("": this process's own executable). It must
	// be built with -tags yara; static (make analyzer-image) or dynamic (its interpreter and
	// libraries are copied in).
	Binary string
	// LibDirs are searched for a dynamic binary's libraries (empty: the system search path).
	LibDirs []string
	// Revision, Version and Source become labels; Revision defaults to the binary's
	// vcs.revision.
	Revision, Version, Source string
	// Created is the image's creation time and every file's modification time. Zero: the
	// binary's vcs.time (its commit's time), else the Unix epoch. Nothing else varies, so the
	// same binary gives the same digest.
	Created time.Time
}

// Image is a built (or loaded) analyzer image.
type Image struct {
	// Image is the go-containerregistry image.
	Image v1.Image
	// Digest is the manifest's digest: what a pod pins (name@Digest).
	Digest v1.Hash
	// Binary describes the shipped binary (nil for a loaded image).
	Binary *Binary
	// Size is the sum of the manifest, config and layer blobs (what a node stores).
	Size int64
	// Files are the layer's paths in tar order.
	Files []string
	// cleanup removes what Load extracted.
	cleanup func()
}

// Close releases what the image holds on disk (a loaded archive's extracted blobs).
func (i *Image) Close() {
	if i.cleanup != nil {
		i.cleanup()
		i.cleanup = nil
	}
}

// Build builds the analyzer image: one layer holding the binary at BinaryPath (and, for a
// dynamic binary, its interpreter at its PT_INTERP path and its libraries in LibDir), an
// /etc/passwd and /etc/group naming the user, and an empty /tmp; no shell. Every entry has
// the Created time, owner 0:0 and a fixed mode, entries are sorted, the config's times are
// Created: the digest depends only on the binary and the Config.
func Build(ctx context.Context, cfg Config) (*Image, error) {
	if cfg.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find this executable: %w", err)
		}
		cfg.Binary = exe
	}
	bin, err := Inspect(cfg.Binary, cfg.LibDirs)
	if err != nil {
		return nil, err
	}
	if !bin.YARA() {
		return nil, fmt.Errorf("%s: %w", cfg.Binary, ErrNoYARA)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	created := cfg.Created
	if created.IsZero() {
		created = bin.Time
	}
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	created = created.UTC().Truncate(time.Second)
	layerTar, files, err := layerBytes(bin, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created:   v1.Time{Time: created},
		CreatedBy: "podsleuth hunt image build",
		Comment:   "podsleuth " + bin.SHA256,
	}})
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = bin.Arch, "linux"
	cf.Created = v1.Time{Time: created}
	cf.Config = imageConfig(bin, cfg, created)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	return describe(img, bin, files)
}

// describe computes what Image reports about img.
func describe(img v1.Image, bin *Binary, files []string) (*Image, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("image digest: %w", err)
	}
	out := &Image{Image: img, Digest: d, Binary: bin, Files: files}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	out.Size = int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		out.Size += l.Size
	}
	return out, nil
}

// imageConfig is the runtime configuration: podsleuth as the entrypoint (a Job gives only
// args), `version` by default, the non-root user, HOME and TMPDIR in /tmp, the labels.
func imageConfig(bin *Binary, cfg Config, created time.Time) v1.Config {
	env := []string{"PATH=/usr/bin", "HOME=" + Home, "TMPDIR=" + Home}
	linking := "static"
	if !bin.Static {
		linking = "dynamic"
		env = append(env, "LD_LIBRARY_PATH="+LibDir)
	}
	rev := cfg.Revision
	if rev == "" {
		rev = bin.Revision
	}
	labels := map[string]string{
		LabelTitle:       "podsleuth-analyzer",
		LabelDescription: "podsleuth's node-side analyzer for fleet hunts (podsleuth built with YARA; no shell)",
		LabelCreated:     created.Format(time.RFC3339),
		LabelBinarySHA:   bin.SHA256,
		LabelLinking:     linking,
		LabelYARA:        strconv.FormatBool(bin.YARA()),
	}
	for k, v := range map[string]string{LabelRevision: rev, LabelVersion: cfg.Version, LabelSource: cfg.Source} {
		if v != "" {
			labels[k] = v
		}
	}
	if bin.Modified && cfg.Revision == "" {
		labels[LabelModified] = "true"
	}
	return v1.Config{
		Entrypoint: []string{BinaryPath},
		Cmd:        []string{"version"},
		Env:        env,
		User:       fmt.Sprintf("%d:%d", UID, GID),
		WorkingDir: "/",
		Labels:     labels,
	}
}

// entry is one file of the layer.
type entry struct {
	name string // absolute path in the image
	mode int64
	data []byte
	dir  bool
}

// layerBytes writes the layer's tar: directories first where needed, every entry sorted by
// name, owner 0:0, mtime created, no user or group names, PAX-free USTAR where possible.
func layerBytes(bin *Binary, created time.Time) ([]byte, []string, error) {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:%s:/sbin/nologin\n", UID, GID, Home)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", GID)
	es := []entry{
		{name: BinaryPath, mode: 0o755, data: bin.data},
		{name: "/etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "/etc/group", mode: 0o644, data: []byte(group)},
		{name: "/tmp", mode: 0o1777, dir: true},
	}
	if !bin.Static {
		interp, err := readLib(bin.Interp)
		if err != nil {
			return nil, nil, err
		}
		es = append(es, entry{name: bin.Interp, mode: 0o755, data: interp})
		for _, l := range bin.Libs {
			b, err := readLib(l.Path)
			if err != nil {
				return nil, nil, err
			}
			es = append(es, entry{name: path.Join(LibDir, path.Base(l.Name)), mode: 0o755, data: b})
		}
	}
	// parent directories
	dirs := map[string]bool{}
	for _, e := range es {
		if e.dir {
			dirs[e.name] = true
		}
	}
	for _, e := range es {
		for d := path.Dir(e.name); d != "/"; d = path.Dir(d) {
			if !dirs[d] {
				dirs[d] = true
				es = append(es, entry{name: d, mode: 0o755, dir: true})
			}
		}
	}
	slices.SortFunc(es, func(a, b entry) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var names []string
	for _, e := range es {
		h := &tar.Header{Name: e.name[1:], Mode: e.mode, ModTime: created, Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		if e.dir {
			h.Typeflag, h.Name, h.Size = tar.TypeDir, h.Name+"/", 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, nil, fmt.Errorf("layer %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, nil, fmt.Errorf("layer %s: %w", e.name, err)
		}
		names = append(names, e.name)
	}
	if err := tw.Close(); err != nil {
		return nil, nil, fmt.Errorf("layer: %w", err)
	}
	return buf.Bytes(), names, nil
}

// readLib reads a library or the interpreter, following symbolic links (the image holds the
// file itself).
func readLib(p string) ([]byte, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	b, err := os.ReadFile(real)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return b, nil
}

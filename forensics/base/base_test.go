package base_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/base"
	"github.com/podsleuth/podsleuth/forensics/findings"
	"github.com/podsleuth/podsleuth/test/fixture"
)

// oldInfo is the base image's version of /work/target.info: the image of the podman fixtures
// (gen.sh make_rootfs: busybox, /target, /etc/passwd, /etc/group, /var/log/auth.log), here with
// a /work/target.info the container then rewrote, so that one change is a modification.
const oldInfo = "workdir=/work\nmode=shipped-with-the-image\n"

// rootfsTar writes the base file system: the layout gen.sh's make_rootfs gives the podman
// fixtures' image (without its two binaries), plus the old target.info.
func rootfsTar(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin/", "work/", "tmp/", "proc/", "sys/", "dev/", "etc/", "var/", "var/log/", "root/"} {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: "./" + d, Typeflag: tar.TypeDir, Mode: 0o755}))
	}
	for n, s := range map[string]string{
		"etc/passwd":       "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":        "root:x:0:\n",
		"var/log/auth.log": "Jan 10 03:14:07 web-7f9c sshd[811]: Accepted publickey for deploy from 198.51.100.23 port 52144\n",
		"work/target.info": oldInfo,
	} {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: "./" + n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(s))}))
		_, err := tw.Write([]byte(s))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

func image(t *testing.T) v1.Image {
	t.Helper()
	b := rootfsTar(t)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	require.NoError(t, err)
	img, err := mutate.AppendLayers(empty.Image, l)
	require.NoError(t, err)
	return img
}

// sources writes the base image every way an analyst may give it: pushed to a registry (the
// library's in-process registry), a docker-archive tarball, an OCI layout, a rootfs tar and a
// rootfs directory.
func sources(t *testing.T) map[string]string {
	t.Helper()
	img := image(t)
	dir := t.TempDir()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	ref := strings.TrimPrefix(srv.URL, "http://") + "/fixture/base:1"
	r, err := name.ParseReference(ref)
	require.NoError(t, err)
	require.NoError(t, remote.Write(r, img))

	tb := filepath.Join(dir, "base-docker.tar")
	require.NoError(t, tarball.WriteToFile(tb, r, img))
	lp, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	require.NoError(t, err)
	require.NoError(t, lp.AppendImage(img))
	rt := filepath.Join(dir, "rootfs.tar")
	require.NoError(t, os.WriteFile(rt, rootfsTar(t), 0o600))
	rd := filepath.Join(dir, "rootfs")
	tr := tar.NewReader(bytes.NewReader(rootfsTar(t)))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		p := filepath.Join(rd, h.Name)
		if h.Typeflag == tar.TypeDir {
			require.NoError(t, os.MkdirAll(p, 0o755))
			continue
		}
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(p, b, 0o644))
	}
	return map[string]string{"registry": ref, "docker-archive": tb, "oci-layout": filepath.Join(dir, "oci"), "rootfs tar": rt, "rootfs dir": rd,
		"docker-archive.gz": gzipFile(t, tb), "rootfs tar.gz": gzipFile(t, rt)}
}

// gzipFile writes p gzip-compressed beside it (`docker save | gzip`) and returns its path.
func gzipFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err = zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(p+".gz", buf.Bytes(), 0o600))
	return p + ".gz"
}

func podman(t *testing.T) (*archive.Archive, *forensics.Checkpoint) {
	t.Helper()
	return fixture.Decode(t, "archives/podman-crun.tar")
}

func kinds(cp *forensics.Checkpoint) map[string]string {
	out := map[string]string{}
	for _, c := range cp.Rootfs {
		out[c.Path] = c.Kind
	}
	return out
}

// TestClassify: against its base image, each rootfs change of the real Podman checkpoint is
// "modified" when the image has the path and "added" when it does not, whichever way the base
// is given; the modified text file diffs against the image's copy.
func TestClassify(t *testing.T) {
	for how, src := range sources(t) {
		t.Run(how, func(t *testing.T) {
			_, cp := podman(t)
			img, err := base.Load(context.Background(), src, base.Options{Want: base.Wanted(cp)})
			require.NoError(t, err)
			require.Contains(t, img.Source, src)
			if how == "registry" || strings.HasPrefix(how, "docker-archive") || how == "oci-layout" {
				require.True(t, strings.HasPrefix(img.Digest, "sha256:"), img.Digest)
			}
			require.Equal(t, 1, img.Classify(cp))
			k := kinds(cp)
			require.Equal(t, forensics.RootfsModified, k["/work/target.info"])
			require.Equal(t, forensics.RootfsAdded, k["/tmp/.x/miner"])
			require.Equal(t, forensics.RootfsAdded, k["/work/target-data.txt"])
			require.Equal(t, forensics.RootfsDeleted, k["/var/log/auth.log"], "a deletion stays one")

			old, ok := img.File("/work/target.info")
			require.True(t, ok)
			require.Equal(t, oldInfo, string(old))
			_, ok = img.File("/etc/passwd")
			require.False(t, ok, "only the changed paths' contents are kept")
			d, err := img.Diff("/work/target.info", []byte("workdir=/work\nmode=full\n"))
			require.NoError(t, err)
			require.Contains(t, d, "--- base:/work/target.info")
			require.Contains(t, d, "-mode=shipped-with-the-image\n+mode=full\n")
			_, err = img.Diff("/tmp/.x/miner", []byte("x"))
			require.ErrorIs(t, err, base.ErrNoBase)
		})
	}
}

// TestAnalysisWithBase: analysis.Run with Options.Rootfs (a registry reference) classifies the
// rootfs changes before the rules run: the dropped miner is "added", and the result keeps the
// base for diffs.
func TestAnalysisWithBase(t *testing.T) {
	src := sources(t)["registry"]
	a, cp := podman(t)
	res, err := analysis.Run(context.Background(), cp, nil, analysis.Options{Archive: a, Rootfs: src})
	require.NoError(t, err)
	defer res.Close()
	require.NotNil(t, res.Base)
	require.Equal(t, forensics.RootfsModified, kinds(cp)["/work/target.info"])
	var got bool
	for _, f := range res.Findings {
		if f.Rule == findings.RuleRootfsNewExec && f.Location.Path == "/tmp/.x/miner" {
			require.Contains(t, f.Reason, "(added,")
			got = true
		}
	}
	require.True(t, got)
}

// TestLoadErrors: a base that cannot be read is a named error, never a silent "no base".
func TestLoadErrors(t *testing.T) {
	ctx := context.Background()
	garbage := filepath.Join(t.TempDir(), "garbage.tar")
	require.NoError(t, os.WriteFile(garbage, bytes.Repeat([]byte("not a tar "), 100), 0o600))
	_, err := base.Load(ctx, garbage, base.Options{})
	require.ErrorContains(t, err, "neither an image tarball")

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	_, err = base.Load(ctx, strings.TrimPrefix(srv.URL, "http://")+"/no/such:image", base.Options{})
	require.ErrorContains(t, err, "fetch")

	_, err = base.Load(ctx, "base.tar", base.Options{})
	require.ErrorIs(t, err, os.ErrNotExist, "a missing file is not looked up in a registry")

	_, err = base.Load(ctx, "Not A Reference!", base.Options{})
	require.ErrorContains(t, err, "not a file, a directory or an image reference")

	_, err = base.Load(ctx, sources(t)["rootfs tar"], base.Options{MaxEntries: 3})
	require.ErrorIs(t, err, base.ErrTooManyEntries)
}

// FuzzLoadTar: whatever a file given as the base holds (an image tarball, a rootfs tar or
// garbage), Load returns an image or an error, never a panic, within its bounds.
func FuzzLoadTar(f *testing.F) {
	f.Add(rootfsTar(f))
	f.Add(rootfsTar(f)[:700])
	f.Add([]byte("not a tar"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(rootfsTar(f))
	_ = zw.Close()
	f.Add(gz.Bytes())
	f.Add(gz.Bytes()[:gz.Len()/2])
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "base.tar")
		require.NoError(t, os.WriteFile(p, b, 0o600))
		img, err := base.Load(context.Background(), p, base.Options{Want: func(string) bool { return true }, MaxFile: 1 << 16, MaxEntries: 1 << 12})
		if err == nil {
			require.Positive(t, img.Len())
		}
	})
}

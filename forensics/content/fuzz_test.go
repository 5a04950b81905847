package content

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

// realRootfsDiff is the rootfs-diff.tar of the real Podman checkpoint.
func realRootfsDiff(f *testing.F) []byte {
	f.Helper()
	a, err := archive.Open(context.Background(), filepath.Join(fixtures.Dir(), "archives/podman-crun.tar"), archive.DefaultLimits(), f.TempDir())
	require.NoError(f, err)
	defer a.Close()
	r, size, err := a.Member("rootfs-diff.tar")
	require.NoError(f, err)
	b, err := io.ReadAll(io.NewSectionReader(r, 0, size))
	require.NoError(f, err)
	return b
}

// FuzzTarListing: the listing of a rootfs-diff.tar, /dev/shm or tmpfs tar (plain, gzip or zstd)
// never panics, reads at most MaxEntries entries, and every object it calls saved reads exactly
// its size from inside the tar; hostile names stay under the tar's prefix.
func FuzzTarListing(f *testing.F) {
	real := realRootfsDiff(f)
	f.Add(real)
	f.Add(real[:len(real)/2])
	f.Add(real[:1024])
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(real)
	_ = zw.Close()
	f.Add(gz.Bytes())
	f.Add(gz.Bytes()[:gz.Len()/2])
	f.Add([]byte("not a tar"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		l := &lister{ctx: context.Background(), cp: &forensics.Checkpoint{}, s: &Set{},
			opt: Options{CacheDir: dir, MaxSpool: 16 << 20, MaxEntries: 64}}
		defer l.s.Close()
		src := tarSource{member: "rootfs-diff.tar", kind: KindRootfs, prefix: "/"}
		r, size, err := l.uncompressed(src.member, bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		l.entries(src, r, size)
		require.LessOrEqual(t, len(l.s.Objects), 64)
		for _, o := range l.s.Objects {
			require.True(t, strings.HasPrefix(o.Path, "/"), o.Path)
			require.NotContains(t, o.Path, "..")
			if !o.Saved {
				continue
			}
			n, err := io.Copy(io.Discard, o.Reader())
			require.NoError(t, err)
			require.Equal(t, o.Size, n)
		}
	})
}

package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/test/fixtures"
)

func fx(name string) string { return filepath.Join(fixtures.Dir(), name) }

func readAll(t *testing.T, r io.ReaderAt, n int64) []byte {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(r, 0, n))
	require.NoError(t, err)
	return b
}

func TestOpenFormats(t *testing.T) {
	tests := []struct {
		name, format, imageDir string
		container              bool
	}{
		{"archives/podman-crun.tar", FormatTar, "checkpoint/", true},
		{"archives/podman-crun.tar.gz", FormatTarGzip, "checkpoint/", true},
		{"archives/podman-crun.tar.zst", FormatTarZstd, "checkpoint/", true},
		{"archives/containerd-busybox.tar", FormatTar, "checkpoint/", true},
		{"images/full", FormatDir, "", false},
		{"images/criu41", FormatDir, "", false},
		{"images/fds", FormatDir, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := t.TempDir()
			a, err := Open(context.Background(), fx(tt.name), DefaultLimits(), cache)
			require.NoError(t, err)
			defer a.Close()
			require.Equal(t, tt.format, a.Format())
			require.Equal(t, tt.imageDir, a.ImageDir())
			require.True(t, slices.IsSorted(a.Names()))
			require.Contains(t, a.ImageNames(), "pstree.img")
			require.Contains(t, a.ImageNames(), "inventory.img")
			require.Equal(t, tt.container, a.Has("config.dump") || a.Has("spec.dump"))
			r, n, err := a.Image("pstree.img")
			require.NoError(t, err)
			b := readAll(t, r, n)
			require.Equal(t, []byte{0x19, 0x43, 0x56, 0x54}, b[:4], "IMG_COMMON magic")
			_, _, err = a.Image("no-such.img")
			require.True(t, errors.Is(err, ErrNotFound))
			require.Contains(t, err.Error(), "no-such.img")
			// decompressed copies are unlinked at once: the cache dir stays empty
			ents, err := os.ReadDir(cache)
			require.NoError(t, err)
			require.Empty(t, ents)
		})
	}
}

// TestCompressedMatchesPlain: the same member read through tar.gz and tar.zst is byte-identical
// to itself and the three archives index the same members (they are consecutive checkpoints of
// one container, so the image sets match in name).
func TestCompressedMatchesPlain(t *testing.T) {
	var names [][]string
	for _, n := range []string{"archives/podman-crun.tar", "archives/podman-crun.tar.gz", "archives/podman-crun.tar.zst"} {
		a, err := Open(context.Background(), fx(n), DefaultLimits(), t.TempDir())
		require.NoError(t, err)
		names = append(names, a.ImageNames())
		r, size, err := a.Member("config.dump")
		require.NoError(t, err)
		require.Contains(t, string(readAll(t, r, size)), `"fx-crun"`)
		require.NoError(t, a.Close())
		require.NoError(t, a.Close(), "Close is idempotent")
	}
	require.Equal(t, names[0], names[1])
	require.Equal(t, names[0], names[2])
}

func TestSHA256(t *testing.T) {
	for _, n := range []string{"archives/podman-crun.tar", "archives/podman-crun.tar.gz", "archives/podman-crun.tar.zst"} {
		t.Run(n, func(t *testing.T) {
			b, err := os.ReadFile(fx(n))
			require.NoError(t, err)
			want := sha256.Sum256(b)
			a, err := Open(context.Background(), fx(n), DefaultLimits(), t.TempDir())
			require.NoError(t, err)
			defer a.Close()
			got, err := a.SHA256(context.Background())
			require.NoError(t, err)
			require.Equal(t, hex.EncodeToString(want[:]), got)
		})
	}
}

func TestDirRefusesSymlinks(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pstree.img"), []byte("x"), 0o644))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(dir, "core-1.img")))
	a, err := Open(context.Background(), dir, DefaultLimits(), t.TempDir())
	require.NoError(t, err)
	defer a.Close()
	_, _, err = a.Image("core-1.img")
	require.True(t, errors.Is(err, ErrLink), "got %v", err)
	require.Contains(t, err.Error(), "core-1.img")
	r, n, err := a.Image("pstree.img")
	require.NoError(t, err)
	require.Equal(t, "x", string(readAll(t, r, n)))
}

func TestCleanName(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"checkpoint/pstree.img", "checkpoint/pstree.img", nil},
		{"./checkpoint//pstree.img", "checkpoint/pstree.img", nil},
		{"checkpoint/", "checkpoint", nil},
		{"../x", "", ErrPathTraversal},
		{"a/../../x", "", ErrPathTraversal},
		{"/etc/passwd", "", ErrPathTraversal},
		{"a\x00b", "", ErrPathTraversal},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := CleanName(tt.in)
			if tt.err != nil {
				require.True(t, errors.Is(err, tt.err))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestLimitsFromConfigDefaults(t *testing.T) {
	l := Limits{}.normalized()
	require.Equal(t, DefaultLimits(), l)
}

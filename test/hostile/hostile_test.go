package hostile

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/criu"
)

var (
	writeDir    = flag.String("write", "", "write the corpus into this directory and exit")
	writeCostly = flag.Bool("costly", false, "with -write: also write the costly inputs (WriteCostly; ~6 GiB through zstd, a minute)")
)

func TestMain(m *testing.M) {
	flag.Parse()
	if p := os.Getenv(childEnv); p != "" {
		os.Exit(costlyChild(p, os.Getenv(childCacheEnv)))
	}
	if *writeDir != "" {
		if err := Write(*writeDir, append(Build(), Bombs()...)); err != nil {
			panic(err)
		}
		if *writeCostly {
			if err := WriteCostly(*writeDir); err != nil {
				panic(err)
			}
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// limits small enough that the bombs trip them quickly.
var limits = archive.Limits{MaxMemberBytes: 32 << 20, MaxTotalBytes: 64 << 20, MaxEntries: 1000}

// openAndDecode runs what `podsleuth inspect` runs, returning the first error.
func openAndDecode(t *testing.T, path, cache string) (warnings []string, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panic on %s: %v", path, r)
		}
	}()
	a, err := archive.Open(context.Background(), path, limits, cache)
	if err != nil {
		return nil, err
	}
	defer func() { require.NoError(t, a.Close()) }()
	cp, err := criu.Decode(context.Background(), a)
	if err != nil {
		return nil, err
	}
	return cp.Warnings, nil
}

func TestHostileCorpus(t *testing.T) {
	tests := []struct {
		file    string
		want    error  // nil: decodes, with the warning below
		mention string // the member or stream the message must name
		warning string
	}{
		{"traversal.tar", archive.ErrPathTraversal, "checkpoint/../../evil", ""},
		{"absolute.tar", archive.ErrPathTraversal, "/etc/cron.d/evil", ""},
		{"symlink.tar", archive.ErrLink, "checkpoint/core-1.img", ""},
		{"hardlink.tar", archive.ErrLink, "checkpoint/core-1.img", ""},
		{"duplicate.tar", archive.ErrDuplicate, "checkpoint/pstree.img", ""},
		{"truncated.tar", archive.ErrTruncated, "checkpoint/pages-1.img", ""},
		{"truncated.tar.gz", archive.ErrTruncated, "(gzip stream)", ""},
		{"truncated.tar.zst", archive.ErrTruncated, "(zstd stream)", ""},
		{"garbage-pstree.tar", criu.ErrBadImage, "pstree.img", ""},
		{"bad-magic-pstree.tar", criu.ErrBadImage, "pstree.img", ""},
		{"absurd-length.tar", criu.ErrBadImage, "pstree.img", ""},
		{"missing-pstree.tar", criu.ErrMissingImage, "pstree.img", ""},
		{"not-a-tar.bin", archive.ErrNotArchive, "not-a-tar.bin", ""},
		{"empty.tar", archive.ErrNotArchive, "empty", ""},
		{"zeros.tar", archive.ErrNotArchive, "zeros.tar", ""},
		{"garbage-core.tar", nil, "", "core-1.img"},
		{"garbage-config.tar", nil, "", "config.dump"},
		{"valid.tar", nil, "", ""},
	}
	root := t.TempDir()
	in := filepath.Join(root, "in")
	cache := filepath.Join(root, "cache")
	require.NoError(t, os.MkdirAll(in, 0o755))
	require.NoError(t, Write(in, Build()))
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			warnings, err := openAndDecode(t, filepath.Join(in, tt.file), cache)
			if tt.want == nil {
				require.NoError(t, err)
				if tt.warning != "" {
					require.NotEmpty(t, warnings)
					require.Contains(t, strings.Join(warnings, "\n"), tt.warning)
				}
				return
			}
			require.Error(t, err)
			require.True(t, errors.Is(err, tt.want), "want %v, got %v", tt.want, err)
			require.Contains(t, err.Error(), tt.mention)
			require.NotContains(t, err.Error(), "\n", "one line")
		})
	}
	assertNothingWritten(t, root, in, cache)
}

// assertNothingWritten checks that the inputs are unchanged in number and that the cache
// directory holds nothing once the archives are closed (decompressed copies are unlinked).
func assertNothingWritten(t *testing.T, root, in, cache string) {
	t.Helper()
	var extra []string
	require.NoError(t, filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p == root || p == in || p == cache || filepath.Dir(p) == in {
			return nil
		}
		extra = append(extra, p)
		return nil
	}))
	require.Empty(t, extra, "files written outside the inputs")
	for _, p := range []string{"/etc/cron.d/evil", filepath.Join(root, "evil"), filepath.Join(filepath.Dir(root), "evil")} {
		_, err := os.Lstat(p)
		require.True(t, os.IsNotExist(err), "%s must not exist", p)
	}
}

func TestDecompressionBombs(t *testing.T) {
	root := t.TempDir()
	in := filepath.Join(root, "in")
	cache := filepath.Join(root, "cache")
	require.NoError(t, os.MkdirAll(in, 0o755))
	require.NoError(t, Write(in, Bombs()))
	for _, name := range []string{"bomb.tar.gz", "bomb.tar.zst"} {
		t.Run(name, func(t *testing.T) {
			st, err := os.Stat(filepath.Join(in, name))
			require.NoError(t, err)
			require.Less(t, st.Size(), int64(2<<20), "the bomb is small on disk")
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err = openAndDecode(t, filepath.Join(in, name), cache)
			runtime.ReadMemStats(&after)
			require.True(t, errors.Is(err, archive.ErrTooLarge), "got %v", err)
			require.Contains(t, err.Error(), "limits.max_") // the header already says too large
			// Decompression streams into the (unlinked) cache file: the heap does not grow with
			// the bomb.
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(96<<20), "allocated bytes")
		})
	}
	assertNothingWritten(t, root, in, cache)
}

func TestMemberLimits(t *testing.T) {
	dir := t.TempDir()
	big := tarOf(validCheckpoint(member{name: "checkpoint/pages-1.img", body: make([]byte, 2<<20)})...)
	p := filepath.Join(dir, "big.tar")
	require.NoError(t, os.WriteFile(p, big, 0o644))
	tests := []struct {
		name    string
		lim     archive.Limits
		mention string
	}{
		{"member", archive.Limits{MaxMemberBytes: 1 << 20}, "limits.max_member_bytes"},
		{"total", archive.Limits{MaxTotalBytes: 1 << 20}, "limits.max_total_bytes"},
		{"entries", archive.Limits{MaxEntries: 2}, "limits.max_entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := archive.Open(context.Background(), p, tt.lim, dir)
			require.True(t, errors.Is(err, archive.ErrTooLarge), "got %v", err)
			require.Contains(t, err.Error(), tt.mention)
			require.Contains(t, err.Error(), "checkpoint/pages-1.img")
		})
	}
}

// TestAbsurdLengthAllocatesNothing: a 4 GiB length prefix must be refused before allocation.
func TestAbsurdLengthAllocatesNothing(t *testing.T) {
	img := append(image(magicCommon, magicPstree), 0xff, 0xff, 0xff, 0x7f, 0x08)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r, err := criu.NewReader("pstree.img", strings.NewReader(string(img)), int64(len(img)))
	require.NoError(t, err)
	err = r.Next(nil)
	runtime.ReadMemStats(&after)
	require.True(t, errors.Is(err, criu.ErrBadImage))
	require.Contains(t, err.Error(), "length prefix")
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20))
}

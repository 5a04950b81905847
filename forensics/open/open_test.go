package open_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/forensics/open"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

func fixture(name string) string { return filepath.Join(fixtures.Dir(), name) }

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// opened returns the "by" of each opened event in an item's custody log.
func opened(t *testing.T, st *evidence.Store, id string) []string {
	t.Helper()
	evs, err := st.Custody(id)
	require.NoError(t, err)
	var by []string
	for _, e := range evs {
		if e.Action == evidence.ActionOpened {
			by = append(by, e.Details["by"])
		}
	}
	return by
}

// TestOpenPath: a file outside the store is opened, decoded and hashed (a plain tar too, unless
// NoHash); it is not evidence, so nothing is recorded and no store is created for it.
func TestOpenPath(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "no-store-here")
	tar := fixture("archives/podman-crun.tar")
	cs, err := open.Open(ctx, open.Config{Arg: tar, DataDir: data, CacheDir: t.TempDir(), By: "test"})
	require.NoError(t, err)
	defer cs.Close()
	require.Equal(t, tar, cs.Path)
	require.Nil(t, cs.Item)
	require.Nil(t, cs.Store)
	require.False(t, cs.Recorded)
	require.NotEmpty(t, cs.Checkpoint.Processes)
	require.Equal(t, fileSHA256(t, tar), cs.Checkpoint.Source.SHA256, "plain tars are hashed by default")
	require.Nil(t, cs.Memory, "memory indexed only when asked")
	_, err = os.Stat(data)
	require.ErrorIs(t, err, os.ErrNotExist, "opening a file creates no store")

	noHash, err := open.Open(ctx, open.Config{Arg: tar, NoHash: true})
	require.NoError(t, err)
	defer noHash.Close()
	require.Empty(t, noHash.Checkpoint.Source.SHA256)

	dir, err := open.Open(ctx, open.Config{Arg: fixture("images/full")})
	require.NoError(t, err)
	defer dir.Close()
	require.Empty(t, dir.Checkpoint.Source.SHA256, "an image directory has no file to hash")
}

// TestOpenCacheDir: a compressed archive is decompressed into the cache directory (the one rule),
// its hash taken while decompressing even with NoHash, and nothing is left there.
func TestOpenCacheDir(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "cache")
	zst := fixture("archives/podman-crun.tar.zst")
	cs, err := open.Open(context.Background(), open.Config{Arg: zst, CacheDir: cache, NoHash: true})
	require.NoError(t, err)
	require.Equal(t, fileSHA256(t, zst), cs.Checkpoint.Source.SHA256)
	st, err := os.Stat(cache)
	require.NoError(t, err)
	require.True(t, st.IsDir(), "created on demand")
	require.Equal(t, cache, open.CacheDir(cache))
	require.Equal(t, filepath.Join(os.TempDir(), "podsleuth"), open.CacheDir(""))
	require.NoError(t, cs.Close())
	left, err := os.ReadDir(cache)
	require.NoError(t, err)
	require.Empty(t, left, "the decompressed copy is unlinked")
}

// TestOpenEvidence: an evidence ID, a unique prefix of one and the archive's path in the store all
// open the stored archive and record an "opened" event naming who opened it; an empty By records
// nothing; NoStore treats the argument as a path only.
func TestOpenEvidence(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	st, err := evidence.Open(data)
	require.NoError(t, err)
	it, err := st.Import(ctx, fixture("archives/podman-crun.tar"), evidence.Manifest{CaseID: "IR-1"})
	require.NoError(t, err)

	for _, tt := range []struct{ arg, by string }{
		{it.ID, "podsleuth findings"},
		{it.ID[:20], "podsleuth iocs"},
		{it.Archive, "podsleuth TUI"},
		{it.ID, ""},
	} {
		cs, err := open.Open(ctx, open.Config{Arg: tt.arg, DataDir: data, CacheDir: t.TempDir(), By: tt.by, Memory: true})
		require.NoError(t, err, tt.arg)
		require.Equal(t, it.Archive, cs.Path)
		require.NotNil(t, cs.Item)
		require.Equal(t, it.ID, cs.Item.ID)
		require.NotNil(t, cs.Store)
		require.Equal(t, tt.by != "", cs.Recorded)
		require.NoError(t, cs.CustodyErr)
		require.Equal(t, it.Manifest.LocalSHA256, cs.Checkpoint.Source.SHA256, "the decoder's hash is the store's")
		require.NotNil(t, cs.Memory)
		require.NoError(t, cs.MemoryErr)
		require.NoError(t, cs.Close())
	}
	require.Equal(t, []string{"podsleuth findings", "podsleuth iocs", "podsleuth TUI"}, opened(t, st, it.ID))
	res, err := st.Verify(ctx, it.ID)
	require.NoError(t, err)
	require.True(t, res.OK, "the custody chain still verifies: %+v", res)

	_, err = open.Open(ctx, open.Config{Arg: it.ID, DataDir: data, NoStore: true})
	require.ErrorIs(t, err, open.ErrNotFound)
}

// TestOpenNotFound: an argument that is neither a path nor an evidence ID is a named error, with
// or without a store; a missing path with a slash is the archive's own error.
func TestOpenNotFound(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	_, err := evidence.Open(data)
	require.NoError(t, err)
	for _, dir := range []string{data, filepath.Join(data, "absent"), ""} {
		_, err := open.Open(ctx, open.Config{Arg: "no-such-id", DataDir: dir})
		require.ErrorIs(t, err, open.ErrNotFound, dir)
		require.Contains(t, err.Error(), "no-such-id: no such file, and not an evidence ID")
	}
	_, err = open.Open(ctx, open.Config{Arg: "./no/such.tar", DataDir: data})
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NotErrorIs(t, err, open.ErrNotFound)
}

// TestOpenMemory: with Memory the index is built and every mapping's resident bytes are the
// index's count, the same number memdump --maps and the TUI show.
func TestOpenMemory(t *testing.T) {
	cs, err := open.Open(context.Background(), open.Config{Arg: fixture("archives/podman-crun.tar"), Memory: true})
	require.NoError(t, err)
	defer cs.Close()
	require.NotNil(t, cs.Memory)
	n := 0
	for _, p := range cs.Checkpoint.Processes {
		mp := cs.Memory.Proc(p.PID)
		require.NotNil(t, mp)
		for _, v := range p.Maps {
			require.Equal(t, mp.Resident(v.Start, v.End), v.ResidentBytes)
			n++
		}
	}
	require.Positive(t, n)
}

// TestOpenCancelled: a cancelled context is an error, and no archive is left open.
func TestOpenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := open.Open(ctx, open.Config{Arg: fixture("archives/podman-crun.tar.zst"), CacheDir: t.TempDir(), Memory: true})
	require.ErrorIs(t, err, context.Canceled)
}

// TestOpenBeside: with Beside the plain tar's hash runs beside the caller's work: Open returns
// the decoded model and memory, Settle fills the hash (the file's SHA-256), a second Settle is
// free, and a case closed without settling stops its hash (no goroutine left reading).
func TestOpenBeside(t *testing.T) {
	ctx := context.Background()
	tar := fixture("archives/podman-crun.tar")
	cs, err := open.Open(ctx, open.Config{Arg: tar, Memory: true, Beside: true})
	require.NoError(t, err)
	defer cs.Close()
	require.NotEmpty(t, cs.Checkpoint.Processes)
	require.NotNil(t, cs.Memory)
	require.NoError(t, cs.Settle(ctx))
	require.Equal(t, fileSHA256(t, tar), cs.Checkpoint.Source.SHA256)
	require.NoError(t, cs.Settle(ctx))

	unsettled, err := open.Open(ctx, open.Config{Arg: tar, Beside: true})
	require.NoError(t, err)
	require.NoError(t, unsettled.Close())

	noHash, err := open.Open(ctx, open.Config{Arg: tar, NoHash: true, Beside: true})
	require.NoError(t, err)
	defer noHash.Close()
	require.NoError(t, noHash.Settle(ctx))
	require.Empty(t, noHash.Checkpoint.Source.SHA256)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	late, err := open.Open(ctx, open.Config{Arg: tar, Beside: true})
	require.NoError(t, err)
	defer late.Close()
	if err := late.Settle(cctx); err != nil { // the hash may have ended already
		require.ErrorIs(t, err, context.Canceled)
	}
}

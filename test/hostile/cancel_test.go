package hostile

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/criu"
	"github.com/podsleuth/podsleuth/forensics/memory"
)

// TestLongScansStopOnCancel: a memory search and the string scan the indicator extraction
// runs, over a 1 GiB archive memory, stop as soon as their context is cancelled and return
// ctx.Err(): cancelled after the first chunk, they scan only the chunks already in flight, not
// the rest (without the checks they would scan the whole GiB and return nil).
func TestLongScansStopOnCancel(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 1 GiB through zstd; not in -short")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "memory-1gib.tar.zst")
	require.NoError(t, WriteLargeMemory(path))
	ctx := t.Context()
	a, err := archive.Open(ctx, path, archive.DefaultLimits(), t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	cp, err := criu.Decode(ctx, a)
	require.NoError(t, err)
	mem, err := memory.Open(ctx, a, cp)
	require.NoError(t, err)
	require.Len(t, mem.Procs, 1)
	require.EqualValues(t, LargeMemorySize, mem.Procs[0].Private.Size(), "the whole GiB is indexed")

	t.Run("search", func(t *testing.T) {
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		pat, err := memory.Literal("not in there", false)
		require.NoError(t, err)
		var done, total int64
		err = mem.Search(sctx, pat, memory.SearchOptions{Workers: 2, Progress: func(d, tot int64) {
			done, total = d, tot
			cancel()
		}}, func(memory.Hit) error { return nil })
		require.ErrorIs(t, err, context.Canceled)
		require.EqualValues(t, LargeMemorySize, total)
		require.Less(t, done, total/16, "stopped after the chunks in flight")
	})
	t.Run("strings", func(t *testing.T) {
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		n := 0
		err := mem.Strings(sctx, memory.Filter{}, 6, func(h memory.Hit) error {
			n++
			cancel()
			return nil
		})
		require.ErrorIs(t, err, context.Canceled)
		require.Less(t, n, 64, "no strings after the cancel but those in flight")
	})
}

package ioc_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/criu"
	"github.com/podsleuth/podsleuth/forensics/ioc"
	"github.com/podsleuth/podsleuth/forensics/memory"
)

// BenchmarkExtractBigmem: Extract on the 128 MiB bench checkpoint of `target --mode bigmem`
// (test/fixtures/gen.sh bigmem 128 DIR; cached at ~/.cache/podsleuth-dev/bench/bigmem-128).
func BenchmarkExtractBigmem(b *testing.B) {
	home, _ := os.UserHomeDir()
	dir := filepath.Join(home, ".cache/podsleuth-dev/bench/bigmem-128/images")
	if _, err := os.Stat(filepath.Join(dir, "inventory.img")); err != nil {
		b.Skipf("no bench input at %s (make it with test/fixtures/gen.sh bigmem 128 %s): %v", dir, filepath.Dir(dir), err)
	}
	ctx := context.Background()
	a, err := archive.Open(ctx, dir, archive.DefaultLimits(), b.TempDir())
	require.NoError(b, err)
	b.Cleanup(func() { _ = a.Close() })
	cp, err := criu.Decode(ctx, a)
	require.NoError(b, err)
	m, err := memory.Open(ctx, a, cp)
	require.NoError(b, err)
	m.FillResident(cp)
	var size int64
	for _, p := range cp.Processes {
		for _, v := range p.Maps {
			size += int64(v.ResidentBytes)
		}
	}
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		_, err := ioc.Extract(ctx, cp, m, ioc.Options{})
		require.NoError(b, err)
	}
}

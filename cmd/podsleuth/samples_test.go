package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/test/fixtures"
	"github.com/podsleuth/podsleuth/tui"
)

// TestShippedSamples: the binary ships the chosen samples only (not the test tree), and the
// demo's image directory extracts whole.
func TestShippedSamples(t *testing.T) {
	s, err := tui.Samples(fixtures.Sample)
	require.NoError(t, err)
	var names []string
	var total int64
	for _, x := range s {
		names = append(names, x.Name)
		total += x.Size
	}
	require.Equal(t, []string{"archives/podman-crun.tar.zst", "images/full"}, names)
	require.Less(t, total, int64(2<<20), "the shipped samples stay small")
	dir, err := tui.ExtractSample(context.Background(), fixtures.Sample, "images/full", t.TempDir())
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, "pstree.img"))
	require.NoError(t, err)
}

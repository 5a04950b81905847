package criu

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

// TestGhosts lists the fixtures' deleted-but-open file (fd 5 of the main process) and reads its
// content through the on-demand reader: the 25 bytes ReadGhostFile loads, for every format.
func TestGhosts(t *testing.T) {
	for _, name := range []string{"images/full", "images/criu41", "archives/podman-crun.tar", "archives/podman-crun.tar.zst"} {
		t.Run(name, func(t *testing.T) {
			a, err := archive.Open(context.Background(), filepath.Join(fixtures.Dir(), name), archive.DefaultLimits(), t.TempDir())
			require.NoError(t, err)
			defer a.Close()
			gs, err := Ghosts(a)
			require.NoError(t, err)
			require.Len(t, gs, 1)
			g := gs[0]
			require.Equal(t, "ghost-file-1.img", g.Image)
			require.EqualValues(t, 25, g.Size)
			b, err := io.ReadAll(io.NewSectionReader(g.Content, 0, g.Size))
			require.NoError(t, err)
			require.Equal(t, "DELETED-FILE-MARKER-77db\n", string(b))
			old, err := ReadGhostFile(a, g.FileID, 1<<20)
			require.NoError(t, err, "the file id is the open file's")
			require.Equal(t, old.Content, b)
		})
	}
	a, err := archive.Open(context.Background(), filepath.Join(fixtures.Dir(), "images/fds"), archive.DefaultLimits(), t.TempDir())
	require.NoError(t, err)
	defer a.Close()
	gs, err := Ghosts(a)
	require.NoError(t, err)
	require.Empty(t, gs, "no deleted file, no remap-fpath.img")
}

// FuzzParseGhost: any ghost image is an ErrBadImage or a Ghost whose content reads back exactly
// Size bytes (holes as zeros), never a panic or an allocation of the claimed size.
func FuzzParseGhost(f *testing.F) {
	addImageSeeds(f, func(_, n string) bool { return strings.HasPrefix(n, "ghost-file-") })
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := ParseGhost("ghost-file-1.img", bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrBadImage) {
				t.Fatalf("error without ErrBadImage: %v", err)
			}
			return
		}
		if g.Size < 0 {
			t.Fatalf("negative size %d", g.Size)
		}
		if g.Size > 1<<20 {
			return // a sparse file may claim a huge size: only its holes are zeros
		}
		b, err := io.ReadAll(io.NewSectionReader(g.Content, 0, g.Size))
		if err != nil {
			t.Fatalf("content of a parsed ghost: %v", err)
		}
		if int64(len(b)) != g.Size {
			t.Fatalf("read %d bytes of %d", len(b), g.Size)
		}
	})
}

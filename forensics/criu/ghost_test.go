package criu

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

// TestReadGhostFile recovers the deleted-but-open file of the fixtures (fd 5 of the main
// process: "DELETED-FILE-MARKER-77db\n", 25 bytes, mode 0600).
func TestReadGhostFile(t *testing.T) {
	for _, name := range []string{"images/full", "images/criu41", "archives/podman-crun.tar.zst"} {
		t.Run(name, func(t *testing.T) {
			cp := decodeFixture(t, name)
			a, err := archive.Open(context.Background(), filepath.Join(fixtures.Dir(), name), archive.DefaultLimits(), t.TempDir())
			require.NoError(t, err)
			defer a.Close()
			main := cp.Processes[0]
			del := fdByNum(&main, 5)
			require.True(t, del.Deleted)
			g, err := ReadGhostFile(a, del.FileID, 1<<20)
			require.NoError(t, err)
			require.Equal(t, "DELETED-FILE-MARKER-77db\n", string(g.Content))
			require.EqualValues(t, 25, g.Size)
			require.False(t, g.Truncated)
			require.Equal(t, "-rw-------", g.Mode.String())

			g, err = ReadGhostFile(a, del.FileID, 7)
			require.NoError(t, err)
			require.Equal(t, "DELETED", string(g.Content))
			require.True(t, g.Truncated)

			_, err = ReadGhostFile(a, fdByNum(&main, 4).FileID, 1<<20)
			require.True(t, errors.Is(err, ErrNotGhost), "a file that was not deleted has no ghost")
		})
	}
}

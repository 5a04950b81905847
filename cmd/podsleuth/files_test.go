package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFilesCatExtract views and extracts saved contents of a real CRIU dump: the ghost file of
// the deleted-but-open file (25 bytes the fixture wrote), as text, as a hexdump and cut by
// --max; extraction writes exactly those bytes with their SHA-256, never over an existing file;
// a content CRIU did not save is refused with the reason.
func TestFilesCatExtract(t *testing.T) {
	data := t.TempDir()
	full := fixture("images/full")
	const ghost, want = "ghost:/tmp/podsleuth-fx/deleted-evidence.bin", "DELETED-FILE-MARKER-77db\n"

	code, out, errOut := runCLI(t, data, "files", "cat", full, ghost)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, want, out)

	code, out, errOut = runCLI(t, data, "files", "cat", "--mode", "hex", full, ghost)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "00000000  44 45 4c 45 54 45 44 2d")

	code, out, errOut = runCLI(t, data, "files", "cat", "--max", "7", full, "1")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "DELETED\n", out)
	require.Contains(t, errOut, "(7 of 25 bytes shown")

	dst := filepath.Join(t.TempDir(), "ghost.bin")
	code, _, errOut = runCLI(t, data, "files", "extract", full, ghost, "-O", dst)
	require.Equal(t, 0, code, errOut)
	b, err := os.ReadFile(dst)
	require.NoError(t, err)
	require.Equal(t, want, string(b))
	require.Contains(t, errOut, fmt.Sprintf("25 bytes, sha256 %x", sha256.Sum256([]byte(want))))

	code, _, errOut = runCLI(t, data, "files", "extract", full, "memfd:payload", "-O", dst)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "file exists")
	b, err = os.ReadFile(dst)
	require.NoError(t, err)
	require.Equal(t, want, string(b), "a refused extraction leaves the existing file alone")

	const host = "file:/tmp/podsleuth-fx/target-data.txt"
	for _, args := range [][]string{{"cat", full, host}, {"extract", full, host, "-O", filepath.Join(t.TempDir(), "x")}} {
		code, _, errOut = runCLI(t, data, append([]string{"files"}, args...)...)
		require.Equal(t, 1, code, args[0])
		require.Contains(t, errOut, "not saved in this checkpoint: a file of the host's filesystem", args[0])
	}
}

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRootfsBase: with the container's base (here a root filesystem directory with the image's
// old /work/target.info), `files cat --diff` shows the real Podman checkpoint's change as a
// unified diff, says a file the image lacks is added, and `findings --rootfs` classifies the
// dropped miner as added; without --rootfs, --diff says what it needs.
func TestRootfsBase(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "work"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "work/target.info"), []byte("mode=shipped-with-the-image\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644))

	code, out, errOut := runCLI(t, t.TempDir(), "files", "cat", crunTar, "rootfs:/work/target.info", "--diff", "--rootfs", root)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "# /work/target.info: modified from the base image rootfs dir "+root)
	require.Contains(t, out, "--- base:/work/target.info")
	require.Contains(t, out, "-mode=shipped-with-the-image")

	code, out, errOut = runCLI(t, t.TempDir(), "files", "cat", crunTar, "rootfs:/work/target-data.txt", "--diff", "--rootfs", root)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "added (not in the base image")

	code, _, errOut = runCLI(t, t.TempDir(), "files", "cat", crunTar, "rootfs:/work/target.info", "--diff")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "--diff needs the base image: --rootfs BASE")

	code, out, errOut = runCLI(t, t.TempDir(), "findings", crunTar, "--rootfs", root, "--no-conclusion")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "/tmp/.x/miner (added, ")

	code, _, errOut = runCLI(t, t.TempDir(), "findings", crunTar, "--rootfs", filepath.Join(root, "missing.tar"))
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "missing.tar")
}

package content_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/content"
	"github.com/podsleuth/podsleuth/forensics/memory"
	"github.com/podsleuth/podsleuth/test/fixture"
)

func open(t *testing.T, name string) (*archive.Archive, *forensics.Checkpoint, *memory.Memory, *content.Set) {
	t.Helper()
	ctx := context.Background()
	a, cp, m := fixture.Open(t, name)
	s, err := content.List(ctx, a, cp, m, content.Options{CacheDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	require.Empty(t, s.Warnings)
	return a, cp, m, s
}

func read(t *testing.T, o *content.Object) string {
	t.Helper()
	r := o.Reader()
	require.NotNil(t, r, o.ID)
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	require.EqualValues(t, o.Size, len(b))
	return string(b)
}

// TestListPodman: every saved object of the Podman archive, with its content and the process
// and descriptor holding it (README of test/fixtures: fd 3 memfd, fd 5 deleted file, fds 6/7
// pipe, the rootfs changes), and the image's executable listed as not saved, with why.
func TestListPodman(t *testing.T) {
	for _, name := range []string{"archives/podman-crun.tar", "archives/podman-crun.tar.gz", "archives/podman-runc.tar"} {
		t.Run(name, func(t *testing.T) {
			_, _, _, s := open(t, name)
			g, err := s.Find("ghost:/work/deleted-evidence.bin")
			require.NoError(t, err)
			require.True(t, g.Saved)
			require.Equal(t, "DELETED-FILE-MARKER-77db\n", read(t, g))
			require.Equal(t, 1, g.Holders[0].PID)
			require.Equal(t, 5, g.Holders[0].FD)

			mf, err := s.Find("memfd:payload")
			require.NoError(t, err)
			body := read(t, mf)
			require.True(t, strings.HasPrefix(body, "\x7fELF\x02\x01\x01"))
			require.Equal(t, 64, strings.Index(body, "MEMFD-PAYLOAD-MARKER-9b2e"))
			what, ok := mf.Executable()
			require.True(t, ok)
			require.Equal(t, "ELF", what)
			fds := []int{}
			for _, h := range mf.Holders {
				fds = append(fds, h.FD)
			}
			require.Contains(t, fds, 3)

			var pipe *content.Object
			for _, o := range s.Objects {
				if o.Kind == content.KindPipe {
					pipe = o
				}
			}
			require.NotNil(t, pipe)
			require.Equal(t, "pipe-data-marker", read(t, pipe))

			miner, err := s.Find("/tmp/.x/miner")
			require.NoError(t, err)
			require.Equal(t, content.KindRootfs, miner.Kind)
			require.EqualValues(t, 785800, miner.Size)
			what, ok = miner.Executable()
			require.True(t, ok)
			require.Equal(t, "ELF", what)
			require.Equal(t, "-rwxr-xr-x", miner.Mode)

			data, err := s.Find("rootfs:/work/target-data.txt")
			require.NoError(t, err)
			require.Equal(t, "hello regular file\n", read(t, data))
			require.Equal(t, 4, data.Holders[0].FD, "fd 4 holds it")

			img, err := s.Find("file:/target")
			require.NoError(t, err)
			require.False(t, img.Saved)
			require.Nil(t, img.Reader())
			require.Contains(t, img.Note, "container image")
			require.Len(t, img.Holders, 3, "all three processes run it")

			_, err = s.Find("/nothing/here")
			require.ErrorIs(t, err, content.ErrNoObject)
			first, err := s.Find("1")
			require.NoError(t, err)
			require.Equal(t, s.Objects[0], first)
		})
	}
}

// TestListContainerd: containerd writes rootfs-diff.tar gzip-compressed (spooled and read at
// random), CRIU saved the /dev tmpfs, and the runtime's /dev/shm is an external mount whose
// files are not saved: listed with the reason.
func TestListContainerd(t *testing.T) {
	_, _, _, s := open(t, "archives/containerd-busybox.tar")
	notes, err := s.Find("/tmp/notes.txt")
	require.NoError(t, err)
	require.Equal(t, "exfil-target 10.0.0.99\n", read(t, notes))
	httpd, err := s.Find("rootfs:/tmp/.cache/httpd")
	require.NoError(t, err)
	require.Equal(t, 9, httpd.Holders[0].PID, "pid 9 runs the dropped copy")
	tl, err := s.Find("tmpfs:/dev/termination-log")
	require.NoError(t, err)
	require.True(t, tl.Saved)
	shm, err := s.Find("mount:/dev/shm")
	require.NoError(t, err)
	require.False(t, shm.Saved)
	require.Contains(t, shm.Note, "external")
}

// TestAttach: the saved files join the memory's objects, so a memory search finds a string
// that exists only in a ghost file and in a rootfs file, attributed to the object.
func TestAttach(t *testing.T) {
	_, _, m, s := open(t, "archives/containerd-busybox.tar")
	s.Attach(m)
	n := len(m.Objects)
	s.Attach(m)
	require.Len(t, m.Objects, n, "attaching twice adds nothing")
	pat, err := memory.Literal("exfil-target 10.0.0.99", false)
	require.NoError(t, err)
	var hits []memory.Hit
	require.NoError(t, m.Search(context.Background(), pat, memory.SearchOptions{}, func(h memory.Hit) error {
		hits = append(hits, h)
		return nil
	}))
	var files []memory.Hit
	for _, h := range hits {
		if h.Kind != memory.KindMemory {
			files = append(files, h)
		}
	}
	require.Len(t, files, 1, "once in the file (the shell's memory holds the command that wrote it)")
	require.Equal(t, content.KindRootfs, files[0].Kind)
	require.Equal(t, "rootfs:/tmp/notes.txt", files[0].Object)

	_, _, m, s = open(t, "images/full")
	s.Attach(m)
	pat, err = memory.Literal("DELETED-FILE-MARKER-77db", false)
	require.NoError(t, err)
	hits = nil
	require.NoError(t, m.Search(context.Background(), pat, memory.SearchOptions{}, func(h memory.Hit) error {
		hits = append(hits, h)
		return nil
	}))
	require.Len(t, hits, 1)
	require.Equal(t, content.KindGhost, hits[0].Kind)
	require.Equal(t, 15728, hits[0].PID)
}

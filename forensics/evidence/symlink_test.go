package evidence

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/archive"
)

// TestOpenRefusesSymlinkedStorePaths: a data directory or one of the store's own directories
// that is a symbolic link is refused by name, and the link's target is neither chmod'ed nor
// written.
func TestOpenRefusesSymlinkedStorePaths(t *testing.T) {
	for _, sub := range []string{"", "evidence", "incoming", "rejected"} {
		t.Run("link "+sub, func(t *testing.T) {
			root := t.TempDir()
			target := filepath.Join(root, "elsewhere")
			require.NoError(t, os.Mkdir(target, 0o755))
			store := filepath.Join(root, "store")
			if sub == "" {
				require.NoError(t, os.Symlink(target, store))
			} else {
				require.NoError(t, os.Mkdir(store, 0o700))
				require.NoError(t, os.Symlink(target, filepath.Join(store, sub)))
			}
			_, err := Open(store)
			require.ErrorIs(t, err, ErrSymlink)
			require.Contains(t, err.Error(), "symbolic link")
			st, err := os.Stat(target)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o755), st.Mode().Perm(), "the link's target is not chmod'ed")
			ents, err := os.ReadDir(target)
			require.NoError(t, err)
			require.Empty(t, ents, "nothing is written through the link")
		})
	}
}

// TestSymlinksInsideAnItemAreRefused: an item directory, an archive, an artifacts directory or a
// custody log replaced by a symbolic link is never followed: Get, Verify and the custody log
// name the link.
func TestSymlinksInsideAnItemAreRefused(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	it, err := s.Acquire(ctx, bytes.NewReader([]byte("archive")), Manifest{ArchiveName: "a.tar"})
	require.NoError(t, err)
	outside := t.TempDir()

	// the archive replaced by a link to an identical copy elsewhere: the hash would match
	copyPath := filepath.Join(outside, "a.tar")
	require.NoError(t, os.WriteFile(copyPath, []byte("archive"), 0o400))
	require.NoError(t, os.Chmod(it.Dir, 0o700))
	require.NoError(t, os.Remove(it.Archive))
	require.NoError(t, os.Symlink(copyPath, it.Archive))
	res, err := s.Verify(ctx, it.ID)
	require.ErrorIs(t, err, ErrTampered)
	require.Contains(t, strings.Join(res.Problems, "\n"), "symbolic link")

	// the custody log replaced by a link: no event is appended through it
	logCopy := filepath.Join(outside, "custody.jsonl")
	b, err := os.ReadFile(filepath.Join(it.Dir, custodyName))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(logCopy, b, 0o600))
	require.NoError(t, os.Remove(filepath.Join(it.Dir, custodyName)))
	require.NoError(t, os.Symlink(logCopy, filepath.Join(it.Dir, custodyName)))
	err = s.Log(it.ID, Event{Action: ActionOpened})
	require.ErrorIs(t, err, ErrSymlink)
	after, err := os.ReadFile(logCopy)
	require.NoError(t, err)
	require.Equal(t, b, after, "the link's target is unchanged")

	// an item directory that is a link: refused by Get, still listed
	other, err := s.Acquire(ctx, bytes.NewReader([]byte("other")), Manifest{ArchiveName: "o.tar"})
	require.NoError(t, err)
	moved := filepath.Join(outside, other.ID)
	require.NoError(t, os.Rename(other.Dir, moved))
	require.NoError(t, os.Symlink(moved, other.Dir))
	_, err = s.Get(other.ID)
	require.ErrorIs(t, err, ErrSymlink)
	items, err := s.List()
	require.NoError(t, err)
	var ids []string
	for _, i := range items {
		ids = append(ids, i.ID)
	}
	require.Contains(t, ids, other.ID, "a linked item is listed (as unreadable), never hidden")
}

// TestCaseIDsWithControlCharactersAreRefused: a case id is printed in lists and reports; one
// with escape sequences or newlines is refused on acquisition.
func TestCaseIDsWithControlCharactersAreRefused(t *testing.T) {
	s := newStore(t)
	for _, bad := range []string{"case\x1b]0;pwned\a", "case\nforged line", "case\u202eevil", "case\x9b"} {
		_, err := s.Acquire(context.Background(), strings.NewReader("a"), Manifest{ArchiveName: "a.tar", CaseID: bad})
		require.ErrorIs(t, err, ErrInvalidCaseID, "%q", bad)
	}
	ents, err := os.ReadDir(filepath.Join(s.Dir(), "evidence"))
	require.NoError(t, err)
	require.Empty(t, ents)
	_, err = s.Acquire(context.Background(), strings.NewReader("a"), Manifest{ArchiveName: "a.tar", CaseID: "IR-2026-0042 (prod)"})
	require.NoError(t, err)
}

// TestImportRefusesControlCharactersInIDAndCaseID: a bundle whose item ID or case id carries
// escape sequences or newlines is refused by name and leaves nothing in the store.
func TestImportRefusesControlCharactersInIDAndCaseID(t *testing.T) {
	_, it, b := bundleOf(t)
	renamed := func(newID string) []byte {
		var out bytes.Buffer
		tw := tar.NewWriter(&out)
		tr := tar.NewReader(bytes.NewReader(b))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			data, err := io.ReadAll(tr)
			require.NoError(t, err)
			h.Name = newID + strings.TrimPrefix(h.Name, it.ID)
			require.NoError(t, tw.WriteHeader(h))
			_, err = tw.Write(data)
			require.NoError(t, err)
		}
		require.NoError(t, tw.Close())
		return out.Bytes()
	}
	caseEdited := rewrite(t, b, func(name string, d []byte) []byte {
		if name == manifestName {
			return bytes.Replace(d, []byte(`"IR-9"`), []byte(`"IR-9\u001b]0;pwned\u0007\nforged"`), 1)
		}
		return d
	}, true)
	for name, tc := range map[string]struct {
		bundle []byte
		want   string
	}{
		"escape in id":   {renamed(it.ID + "\x1b[2J"), "is not an evidence ID"},
		"newline in id":  {renamed(it.ID + "\nforged"), "is not an evidence ID"},
		"escape in case": {caseEdited, "invalid case id"},
	} {
		t.Run(name, func(t *testing.T) {
			dst := newStore(t)
			_, err := dst.ImportBundle(context.Background(), writeBundle(t, tc.bundle), archive.DefaultLimits(), t.TempDir())
			require.ErrorIs(t, err, ErrBadBundle)
			require.ErrorContains(t, err, tc.want)
			items, err := dst.List()
			require.NoError(t, err)
			require.Empty(t, items)
		})
	}
}

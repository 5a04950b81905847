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

// bundleOf exports an item with artifacts from a fresh store and returns the store, the item and
// the bundle's bytes.
func bundleOf(t *testing.T) (*Store, *Item, []byte) {
	t.Helper()
	s := newStore(t)
	arts := []ArtifactData{{Artifact: Artifact{Name: "logs-app.txt", Description: "logs"}, Data: []byte("line 1\nline 2\n")}}
	it, err := s.AcquireWith(context.Background(), strings.NewReader(strings.Repeat("checkpoint ", 1000)), Manifest{ArchiveName: "checkpoint-web.tar", CaseID: "IR-9"},
		AcquireOptions{ArtifactsFunc: func(context.Context) ([]ArtifactData, error) { return arts, nil }})
	require.NoError(t, err)
	var b bytes.Buffer
	bsum, err := s.Export(context.Background(), it.ID, &b, ExportOptions{To: "/media/usb/web.evidence.tar"})
	require.NoError(t, err)
	require.Equal(t, bsum, sum(b.Bytes()))
	evs, err := s.Custody(it.ID)
	require.NoError(t, err)
	last := evs[len(evs)-1]
	require.Equal(t, ActionExported, last.Action)
	require.Equal(t, bsum, last.Details["bundle_sha256"])
	require.Equal(t, "/media/usb/web.evidence.tar", last.Details["to"])
	return s, it, b.Bytes()
}

func writeBundle(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "item.evidence.tar")
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

// TestBundleRoundTrip: an exported item imports into another store with the same ID, manifest,
// artifacts and custody log (plus "imported"), verifies there, and cannot be imported twice.
func TestBundleRoundTrip(t *testing.T) {
	_, it, b := bundleOf(t)
	dst := newStore(t)
	p := writeBundle(t, b)
	got, err := dst.ImportBundle(context.Background(), p, archive.DefaultLimits(), t.TempDir())
	require.NoError(t, err)
	require.Equal(t, it.ID, got.ID)
	require.Equal(t, it.Manifest.LocalSHA256, got.Manifest.LocalSHA256)
	require.Equal(t, it.Manifest.Artifacts, got.Manifest.Artifacts)
	require.Equal(t, "IR-9", got.Manifest.CaseID)
	vr, err := dst.Verify(context.Background(), got.ID)
	require.NoError(t, err)
	require.True(t, vr.OK, "%v", vr.Problems)
	evs, err := dst.Custody(got.ID)
	require.NoError(t, err)
	require.Equal(t, []string{ActionAcquired, ActionVerified, ActionImported, ActionVerified}, actions(evs))
	require.Equal(t, sum(b), evs[2].Details["bundle_sha256"])
	st, err := os.Stat(got.Archive)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o400), st.Mode().Perm())
	_, err = dst.ImportBundle(context.Background(), p, archive.DefaultLimits(), t.TempDir())
	require.ErrorIs(t, err, ErrBadBundle)
	require.ErrorContains(t, err, "already in this store")
}

// rewrite rebuilds a bundle, letting edit change one member's contents (name relative to the
// item); fixSums recomputes SHA256SUMS as an attacker would.
func rewrite(t *testing.T, b []byte, edit func(name string, data []byte) []byte, fixSums bool) []byte {
	t.Helper()
	type file struct {
		name string
		data []byte
	}
	var files []file
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		_, rel, _ := strings.Cut(h.Name, "/")
		files = append(files, file{h.Name, edit(rel, data)})
	}
	if fixSums {
		var sums strings.Builder
		for _, f := range files[:len(files)-1] {
			_, rel, _ := strings.Cut(f.name, "/")
			sums.WriteString(sum(f.data) + "  " + rel + "\n")
		}
		files[len(files)-1].data = []byte(sums.String())
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for _, f := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o400, Size: int64(len(f.data))}))
		_, err := tw.Write(f.data)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return out.Bytes()
}

// TestBundleTampering: a bundle whose archive, artifact, manifest or custody log was changed,
// with or without recomputed sums, is refused with the reason, and the store keeps nothing.
func TestBundleTampering(t *testing.T) {
	_, _, b := bundleOf(t)
	flip := func(target string) func(string, []byte) []byte {
		return func(name string, data []byte) []byte {
			if name == target {
				data = append([]byte(nil), data...)
				data[len(data)/2] ^= 1
			}
			return data
		}
	}
	orig := []byte(strings.Repeat("checkpoint ", 1000))
	tests := []struct {
		name    string
		bundle  []byte
		wantErr string
	}{
		{"archive byte flipped", rewrite(t, b, flip("checkpoint-web.tar"), false), "checkpoint-web.tar has sha256"},
		{"archive flipped, sums recomputed", rewrite(t, b, flip("checkpoint-web.tar"), true), "its manifest recorded"},
		{"artifact flipped, sums recomputed", rewrite(t, b, flip("artifacts/logs-app.txt"), true), "artifact logs-app.txt"},
		{"custody line edited, sums recomputed", rewrite(t, b, func(name string, d []byte) []byte {
			if name == custodyName {
				return bytes.Replace(d, []byte(`"analyst@ws1"`), []byte(`"mallory@ws9"`), 1)
			}
			return d
		}, true), "does not chain"},
		{"manifest and archive rewritten together", rewrite(t, b, func(name string, d []byte) []byte {
			switch name {
			case "checkpoint-web.tar":
				return []byte("a different archive")
			case manifestName:
				return bytes.Replace(d, []byte(sum(orig)), []byte(sum([]byte("a different archive"))), 1)
			}
			return d
		}, true), "does not start with the acquisition of sha256"},
		{"sums emptied", rewrite(t, b, func(name string, d []byte) []byte {
			if name == sumsName {
				return []byte("")
			}
			return d
		}, false), "lists no manifest.json"},
		{"not a tar", []byte("hello"), "evidence bundle rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := newStore(t)
			_, err := dst.ImportBundle(context.Background(), writeBundle(t, tt.bundle), archive.DefaultLimits(), t.TempDir())
			require.ErrorIs(t, err, ErrBadBundle)
			require.ErrorContains(t, err, tt.wantErr)
			items, err := dst.List()
			require.NoError(t, err)
			require.Empty(t, items)
			left, err := os.ReadDir(filepath.Join(dst.Dir(), "incoming"))
			require.NoError(t, err)
			require.Empty(t, left)
		})
	}
}

// TestExportRefusesTamperedItem: an item that no longer verifies is not exported (nothing is
// written, the error says why); with Force it is, the export is recorded with
// verification=MISMATCH and forced=true, the bundle's custody log holds the failed verification,
// and the receiving store refuses the bundle.
func TestExportRefusesTamperedItem(t *testing.T) {
	s, it, _ := bundleOf(t)
	require.NoError(t, os.Chmod(it.Archive, 0o600))
	require.NoError(t, os.WriteFile(it.Archive, []byte("changed"), 0o600))
	require.NoError(t, os.Chmod(it.Archive, 0o400))
	var b bytes.Buffer
	_, err := s.Export(context.Background(), it.ID, &b, ExportOptions{To: "x"})
	require.ErrorIs(t, err, ErrTampered)
	require.ErrorContains(t, err, "refused: altered evidence would be handed on as if intact")
	require.ErrorContains(t, err, "the manifest recorded "+it.Manifest.LocalSHA256)
	require.Zero(t, b.Len())
	evs, err := s.Custody(it.ID)
	require.NoError(t, err)
	require.Equal(t, ActionVerifyFailed, evs[len(evs)-1].Action, "no export recorded")

	bsum, err := s.Export(context.Background(), it.ID, &b, ExportOptions{To: "/media/usb/forced.tar", Force: true})
	require.NoError(t, err)
	require.Equal(t, bsum, sum(b.Bytes()))
	evs, err = s.Custody(it.ID)
	require.NoError(t, err)
	last := evs[len(evs)-1]
	require.Equal(t, ActionExported, last.Action)
	require.Equal(t, "MISMATCH", last.Details["verification"])
	require.Equal(t, "true", last.Details["forced"])
	require.Contains(t, last.Details["problems"], "archive sha256 is")
	require.Contains(t, string(b.Bytes()), `"action":"verify-failed"`, "the bundle's custody log says why")
	dst := newStore(t)
	_, err = dst.ImportBundle(context.Background(), writeBundle(t, b.Bytes()), archive.DefaultLimits(), t.TempDir())
	require.Error(t, err, "the receiving store refuses altered evidence")
	items, err := dst.List()
	require.NoError(t, err)
	require.Empty(t, items)
}

// FuzzImportBundle: whatever the bundle, import returns without a panic, and on an error the
// store holds nothing of it (no item, nothing left under incoming/). Seeds: a real bundle, its
// tampered variants, and a tar with a member outside the item.
func FuzzImportBundle(f *testing.F) {
	var seeds [][]byte
	{
		st, err := Open(filepath.Join(f.TempDir(), "seed"))
		if err != nil {
			f.Fatal(err)
		}
		it, err := st.Acquire(context.Background(), strings.NewReader("seed archive"), Manifest{ArchiveName: "seed.tar"})
		if err != nil {
			f.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := st.Export(context.Background(), it.ID, &b, ExportOptions{To: "seed"}); err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b.Bytes())
		flipped := append([]byte(nil), b.Bytes()...)
		flipped[len(flipped)/3] ^= 0x40
		seeds = append(seeds, flipped, b.Bytes()[:len(b.Bytes())/2])
	}
	var evil bytes.Buffer
	tw := tar.NewWriter(&evil)
	_ = tw.WriteHeader(&tar.Header{Name: "20260101T000000Z-abc/../../escape", Mode: 0o600, Size: 1})
	_, _ = tw.Write([]byte("x"))
	_ = tw.Close()
	seeds = append(seeds, evil.Bytes(), []byte("not a tar"))
	for _, sd := range seeds {
		f.Add(sd)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dst, err := Open(filepath.Join(t.TempDir(), "store"))
		require.NoError(t, err)
		p := filepath.Join(t.TempDir(), "b.tar")
		require.NoError(t, os.WriteFile(p, b, 0o600))
		lim := archive.Limits{MaxMemberBytes: 1 << 20, MaxTotalBytes: 4 << 20, MaxEntries: 100}
		it, err := dst.ImportBundle(context.Background(), p, lim, t.TempDir())
		left, rerr := os.ReadDir(filepath.Join(dst.Dir(), "incoming"))
		require.NoError(t, rerr)
		require.Empty(t, left, "nothing left under incoming/")
		items, lerr := dst.List()
		require.NoError(t, lerr)
		if err != nil {
			require.Empty(t, items, "a refused bundle leaves no item")
			return
		}
		require.Len(t, items, 1)
		vr, verr := dst.Verify(context.Background(), it.ID)
		require.NoError(t, verr, "an imported item verifies")
		require.True(t, vr.OK)
	})
}

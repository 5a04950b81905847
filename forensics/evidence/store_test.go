package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "store"))
	require.NoError(t, err)
	tick := time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC)
	s.now = func() time.Time { tick = tick.Add(time.Second); return tick }
	s.actor = func() string { return "analyst@ws1" }
	return s
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func TestAcquireWritesReadOnlyArchiveManifestAndCustody(t *testing.T) {
	s := newStore(t)
	data := bytes.Repeat([]byte("checkpoint-bytes"), 4096)
	m := Manifest{
		ArchiveName: "checkpoint-victim_default-app-2026-11-23T18:45:31Z.tar",
		NodeSHA256:  sum(data), Node: "node-1", Namespace: "default", Pod: "victim", PodUID: "uid-1",
		Container: "app", ContainerID: "containerd://abc", Image: "busybox:1", ImageDigest: "sha256:feed",
		Cluster:     &ClusterInfo{Server: "https://10.0.0.1:6443", Context: "prod", User: "alice", Groups: []string{"ir"}},
		PullStarted: s.now(),
	}
	it, err := s.Acquire(context.Background(), bytes.NewReader(data), m)
	require.NoError(t, err)

	st, err := os.Stat(it.Archive)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o400), st.Mode().Perm(), "archive must be read-only")
	for _, d := range []string{s.Dir(), filepath.Join(s.Dir(), "evidence"), it.Dir} {
		st, err := os.Stat(d)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o700), st.Mode().Perm(), d)
	}
	got, err := os.ReadFile(it.Archive)
	require.NoError(t, err)
	require.Equal(t, data, got)

	back, err := s.Get(it.ID)
	require.NoError(t, err)
	require.Equal(t, sum(data), back.Manifest.LocalSHA256)
	require.Equal(t, int64(len(data)), back.Manifest.Size)
	require.Equal(t, "alice", back.Manifest.Cluster.User)
	require.Equal(t, ManifestSchemaVersion, back.Manifest.SchemaVersion)
	require.True(t, back.Manifest.PullFinished.After(back.Manifest.PullStarted), "the end of the stream is the end of the pull")
	require.True(t, strings.HasSuffix(it.ID, sum(data)[:12]), it.ID)

	evs, err := s.Custody(it.ID)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, ActionAcquired, evs[0].Action)
	require.Equal(t, "analyst@ws1", evs[0].Actor)
	require.Equal(t, "node node-1: default/victim/app", evs[0].Details["source"])
}

func TestAcquireHashMismatchIsKeptAsideAndReported(t *testing.T) {
	s := newStore(t)
	it, err := s.Acquire(context.Background(), strings.NewReader("received"), Manifest{ArchiveName: "a.tar", NodeSHA256: sum([]byte("sent"))})
	require.ErrorIs(t, err, ErrHashMismatch)
	require.Contains(t, err.Error(), "kept in")
	require.NotNil(t, it)
	require.Contains(t, it.Dir, string(filepath.Separator)+"rejected"+string(filepath.Separator))
	_, statErr := os.Stat(it.Archive)
	require.NoError(t, statErr, "a mismatching archive is kept, never dropped")
	items, err := s.List()
	require.NoError(t, err)
	require.Empty(t, items, "a rejected archive is not listed as evidence")
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection reset")
	}
	f.n--
	return copy(p, "xxxx"), nil
}

func TestAcquireFailureLeavesNothing(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() context.Context
		r    io.Reader
	}{
		{"read error", context.Background, &failingReader{n: 3}},
		{"cancelled", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, strings.NewReader("data")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			_, err := s.Acquire(tt.ctx(), tt.r, Manifest{ArchiveName: "a.tar"})
			require.Error(t, err)
			for _, sub := range []string{"evidence", "incoming", "rejected"} {
				ents, err := os.ReadDir(filepath.Join(s.Dir(), sub))
				require.NoError(t, err)
				require.Empty(t, ents, sub)
			}
		})
	}
}

func TestVerifyCatchesFlippedByte(t *testing.T) {
	s := newStore(t)
	it, err := s.Acquire(context.Background(), strings.NewReader("original archive content"), Manifest{ArchiveName: "x.tar"})
	require.NoError(t, err)

	res, err := s.Verify(context.Background(), it.ID)
	require.NoError(t, err)
	require.True(t, res.OK)

	require.NoError(t, os.Chmod(it.Archive, 0o600))
	b, err := os.ReadFile(it.Archive)
	require.NoError(t, err)
	b[3] ^= 0x01
	require.NoError(t, os.WriteFile(it.Archive, b, 0o600))
	require.NoError(t, os.Chmod(it.Archive, 0o400))

	res, err = s.Verify(context.Background(), it.ID)
	require.ErrorIs(t, err, ErrTampered)
	require.False(t, res.OK)
	require.NotEqual(t, res.Expected, res.Actual)
	require.Contains(t, err.Error(), "the manifest recorded")

	evs, err := s.Custody(it.ID)
	require.NoError(t, err)
	require.Equal(t, []string{ActionAcquired, ActionVerified, ActionVerifyFailed}, actions(evs))
	back, err := s.Get(it.ID)
	require.NoError(t, err)
	require.False(t, back.LastVerifiedOK)
}

func TestVerifyCatchesWritableArchiveAndEditedCustodyLog(t *testing.T) {
	s := newStore(t)
	it, err := s.Acquire(context.Background(), strings.NewReader("content"), Manifest{ArchiveName: "x.tar"})
	require.NoError(t, err)
	require.NoError(t, s.Log(it.ID, Event{Action: ActionOpened}))
	require.NoError(t, s.Log(it.ID, Event{Action: ActionExported, Details: map[string]string{"file": "r.html"}}))

	// Remove the middle line: the chain breaks.
	p := filepath.Join(it.Dir, custodyName)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	lines := strings.SplitAfter(string(b), "\n")
	require.NoError(t, os.WriteFile(p, []byte(lines[0]+lines[2]), 0o600))
	require.NoError(t, os.Chmod(it.Archive, 0o644))

	res, err := s.Verify(context.Background(), it.ID)
	require.ErrorIs(t, err, ErrTampered)
	joined := strings.Join(res.Problems, "\n")
	require.Contains(t, joined, "does not chain")
	require.Contains(t, joined, "mode is 0644")
	require.Equal(t, res.Expected, res.Actual, "content itself is unchanged")
}

func TestGetByPrefixAndInvalidIDs(t *testing.T) {
	s := newStore(t)
	a, err := s.Acquire(context.Background(), strings.NewReader("a"), Manifest{ArchiveName: "a.tar"})
	require.NoError(t, err)
	_, err = s.Acquire(context.Background(), strings.NewReader("b"), Manifest{ArchiveName: "b.tar"})
	require.NoError(t, err)

	got, err := s.Get(a.Manifest.LocalSHA256[:8])
	require.NoError(t, err, "a unique hash prefix names an item")
	require.Equal(t, a.ID, got.ID)
	_, err = s.Get("20261123")
	require.ErrorIs(t, err, ErrNotFound)
	require.Contains(t, err.Error(), "ambiguous")
	for _, bad := range []string{"", "..", "../x", "a/b", ".hidden", "id\x1b]0;pwned\a", "id\nforged", "id\u202e", "id\x9b"} {
		_, err := s.Get(bad)
		require.ErrorIs(t, err, ErrInvalidID, bad)
	}
	byHash, err := s.FindBySHA256(strings.ToUpper(a.Manifest.LocalSHA256))
	require.NoError(t, err)
	require.Equal(t, a.ID, byHash.ID)
	byPath, err := s.ItemForPath(a.Archive)
	require.NoError(t, err)
	require.Equal(t, a.ID, byPath.ID)
	_, err = s.ItemForPath(filepath.Join(t.TempDir(), "elsewhere.tar"))
	require.ErrorIs(t, err, ErrNotFound)
}

func TestImportCopiesAndLeavesOriginal(t *testing.T) {
	s := newStore(t)
	src := filepath.Join(t.TempDir(), "podman.tar.zst")
	require.NoError(t, os.WriteFile(src, []byte("zstd bytes"), 0o644))
	it, err := s.Import(context.Background(), src, Manifest{CaseID: "IR-1"})
	require.NoError(t, err)
	require.Equal(t, "podman.tar.zst", filepath.Base(it.Archive))
	require.Equal(t, src, it.Manifest.SourcePath)
	_, err = os.Stat(src)
	require.NoError(t, err)
	_, err = s.Import(context.Background(), t.TempDir(), Manifest{})
	require.Error(t, err, "a directory is not an archive")
}

func actions(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Action)
	}
	return out
}

// TestAcquireLateNodeHash: a source hash that arrives after the stream (a collector that hashes
// beside it) decides between evidence/ and rejected/ only once the archive is complete and
// synced under incoming/; without it nothing is acquired.
func TestAcquireLateNodeHash(t *testing.T) {
	data := bytes.Repeat([]byte("late-hash"), 10000)
	boom := errors.New("exec: sha256sum: exit status 1")
	tests := []struct {
		name      string
		r         io.Reader
		node      string
		nodeErr   error
		wantErr   error
		wantIn    string // "evidence", "rejected" or "" (nothing left)
		wantCalls int
	}{
		{"matching hash: evidence", bytes.NewReader(data), sum(data), nil, nil, "evidence", 1},
		{"uppercase matching hash: evidence", bytes.NewReader(data), strings.ToUpper(sum(data)), nil, nil, "evidence", 1},
		{"different hash: rejected", bytes.NewReader(data), sum([]byte("what the node read")), nil, ErrHashMismatch, "rejected", 1},
		{"no hash from the node: nothing", bytes.NewReader(data), "", boom, boom, "", 1},
		{"empty hash: nothing", bytes.NewReader(data), " ", nil, nil, "", 1},
		{"stream fails first: nothing, no question asked", &failingReader{n: 3}, sum(data), nil, nil, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			calls := 0
			node := func(ctx context.Context) (string, error) {
				calls++
				// the archive is whole, synced and read-only in incoming/, and nothing is evidence yet
				ents, err := os.ReadDir(filepath.Join(s.Dir(), "incoming"))
				require.NoError(t, err)
				require.Len(t, ents, 1)
				st, err := os.Stat(filepath.Join(s.Dir(), "incoming", ents[0].Name()))
				require.NoError(t, err)
				require.EqualValues(t, len(data), st.Size())
				require.Equal(t, os.FileMode(0o400), st.Mode().Perm())
				for _, sub := range []string{"evidence", "rejected"} {
					ents, err := os.ReadDir(filepath.Join(s.Dir(), sub))
					require.NoError(t, err)
					require.Empty(t, ents, sub)
				}
				return tt.node, tt.nodeErr
			}
			m := Manifest{ArchiveName: "a.tar", NodeSHA256: "stale, replaced by the late hash", PullStarted: s.now()}
			it, err := s.AcquireWith(context.Background(), tt.r, m, AcquireOptions{NodeSHA256Func: node})
			require.Equal(t, tt.wantCalls, calls)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else if tt.wantIn != "evidence" {
				require.Error(t, err)
			}
			left := map[string]int{}
			for _, sub := range []string{"evidence", "incoming", "rejected"} {
				ents, err := os.ReadDir(filepath.Join(s.Dir(), sub))
				require.NoError(t, err)
				left[sub] = len(ents)
			}
			switch tt.wantIn {
			case "":
				require.Nil(t, it)
				require.Equal(t, map[string]int{"evidence": 0, "incoming": 0, "rejected": 0}, left)
			case "rejected":
				require.NotNil(t, it)
				require.Contains(t, err.Error(), "kept in")
				require.Equal(t, map[string]int{"evidence": 0, "incoming": 0, "rejected": 1}, left)
				require.Equal(t, tt.node, it.Manifest.NodeSHA256)
			case "evidence":
				require.NoError(t, err)
				require.Equal(t, map[string]int{"evidence": 1, "incoming": 0, "rejected": 0}, left)
				back, err := s.Get(it.ID)
				require.NoError(t, err)
				require.Equal(t, sum(data), back.Manifest.NodeSHA256, "the late hash is in the manifest")
				require.Equal(t, back.Manifest.NodeSHA256, back.Manifest.LocalSHA256)
				require.False(t, back.Manifest.PullFinished.IsZero())
				evs, err := s.Custody(it.ID)
				require.NoError(t, err)
				require.Equal(t, sum(data), evs[0].Details["node_sha256"])
			}
		})
	}
}

// TestAcquireLargeArchiveWritesBehind: an archive of several write-behind chunks (background
// fsyncs while it arrives) is stored whole.
func TestAcquireLargeArchiveWritesBehind(t *testing.T) {
	s := newStore(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), (3*writeBehindChunk+12345)/16)
	it, err := s.AcquireWith(context.Background(), io.MultiReader(bytes.NewReader(data), strings.NewReader("tail")),
		Manifest{ArchiveName: "big.tar"}, AcquireOptions{NodeSHA256Func: func(context.Context) (string, error) {
			return sum(append(append([]byte{}, data...), "tail"...)), nil
		}})
	require.NoError(t, err)
	require.EqualValues(t, len(data)+4, it.Manifest.Size)
	got, err := os.ReadFile(it.Archive)
	require.NoError(t, err)
	require.Equal(t, sum(got), it.Manifest.LocalSHA256)
}

// TestAcquireArtifacts: artifacts acquired with the archive are written read-only beside it and
// hashed into the manifest; verify re-hashes them and names one that was changed; a bad name or
// a failed collection acquires nothing.
func TestAcquireArtifacts(t *testing.T) {
	s := newStore(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	arts := []ArtifactData{
		{Artifact: Artifact{Name: "pod.json", Description: "the pod", Source: "GET /api/v1/namespaces/ns/pods/p", CollectedAt: now}, Data: []byte(`{"kind":"Pod"}`)},
		{Artifact: Artifact{Name: "logs-app.txt", Description: "logs of app", CollectedAt: now}, Data: []byte("2026-11-23T12:00:00Z hello\n")},
	}
	it, err := s.AcquireWith(context.Background(), strings.NewReader("archive bytes"), Manifest{ArchiveName: "a.tar"},
		AcquireOptions{ArtifactsFunc: func(context.Context) ([]ArtifactData, error) { return arts, nil }})
	require.NoError(t, err)
	require.Len(t, it.Manifest.Artifacts, 2)
	for i, a := range it.Manifest.Artifacts {
		require.Equal(t, arts[i].Name, a.Name)
		require.Equal(t, sum(arts[i].Data), a.SHA256)
		require.EqualValues(t, len(arts[i].Data), a.Size)
		require.Equal(t, now, a.CollectedAt)
		p := filepath.Join(it.Dir, "artifacts", a.Name)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.Equal(t, arts[i].Data, b)
		st, err := os.Stat(p)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o400), st.Mode().Perm())
	}
	got, err := s.Get(it.ID)
	require.NoError(t, err)
	require.Equal(t, it.Manifest.Artifacts, got.Manifest.Artifacts, "in the manifest on disk")
	vr, err := s.Verify(context.Background(), it.ID)
	require.NoError(t, err)
	require.True(t, vr.OK)

	p := filepath.Join(it.Dir, "artifacts", "logs-app.txt")
	require.NoError(t, os.Chmod(p, 0o600))
	require.NoError(t, os.WriteFile(p, []byte("2026-11-23T12:00:00Z hellO\n"), 0o600))
	require.NoError(t, os.Chmod(p, 0o400))
	vr, err = s.Verify(context.Background(), it.ID)
	require.ErrorIs(t, err, ErrTampered)
	require.Contains(t, strings.Join(vr.Problems, "\n"), "artifact logs-app.txt is 27 bytes with sha256")

	for name, f := range map[string]func(context.Context) ([]ArtifactData, error){
		"traversal": func(context.Context) ([]ArtifactData, error) {
			return []ArtifactData{{Artifact: Artifact{Name: "../escape"}}}, nil
		},
		"duplicate": func(context.Context) ([]ArtifactData, error) {
			return []ArtifactData{{Artifact: Artifact{Name: "a"}}, {Artifact: Artifact{Name: "a"}}}, nil
		},
		"collection failed": func(context.Context) ([]ArtifactData, error) { return nil, errors.New("apiserver gone") },
	} {
		before, err := s.List()
		require.NoError(t, err)
		_, err = s.AcquireWith(context.Background(), strings.NewReader(name), Manifest{ArchiveName: "b.tar"}, AcquireOptions{ArtifactsFunc: f})
		require.Error(t, err, name)
		after, err := s.List()
		require.NoError(t, err)
		require.Len(t, after, len(before), "%s: nothing acquired", name)
		left, err := os.ReadDir(filepath.Join(s.Dir(), "incoming"))
		require.NoError(t, err)
		require.Empty(t, left, name)
	}
}

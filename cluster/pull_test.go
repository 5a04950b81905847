package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/evidence"
)

// fakeNodeHash answers like the collector's `stat` + `sha256sum` beside the stream.
type fakeNodeHash struct {
	size  int64
	sum   string
	err   error
	asked int
}

func (f *fakeNodeHash) knownSize() int64 { return f.size }
func (f *fakeNodeHash) sizeOf(context.Context) (int64, error) {
	if f.err != nil {
		return 0, f.err
	}
	return f.size, nil
}
func (f *fakeNodeHash) sha256(context.Context) (string, error) { f.asked++; return f.sum, f.err }

func hexSum(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// TestStreamIntoLateNodeHash: the store takes the stream from its first byte and asks for the
// node's hash at the end. A stream that broke and was resumed is proved whole only by a hash of
// the whole file on the node (its own read of it, as startNodeHash does); a hash of what the first
// attempt sent (what a single-pass `cat | tee | sha256sum` collector would have) does not match
// and the archive is kept aside.
func TestStreamIntoLateNodeHash(t *testing.T) {
	const archive = "0123456789abcdefghijklmnopqrstuvwxyz"
	reset := errors.New("stream reset by peer")
	gone := errors.New("archive stream failed: hash on the node: stat: can't stat: No such file or directory")
	tests := []struct {
		name    string
		first   *stream
		node    *fakeNodeHash
		wantIn  string // "evidence", "rejected" or "" (nothing)
		wantErr error
		resumes int
	}{
		{"whole stream, node hash matches", fakeStream(archive, nil),
			&fakeNodeHash{size: int64(len(archive)), sum: hexSum(archive)}, "evidence", nil, 0},
		{"broken and resumed, whole-file node hash matches", fakeStream(archive[:10], reset),
			&fakeNodeHash{size: int64(len(archive)), sum: hexSum(archive)}, "evidence", nil, 1},
		{"broken and resumed, hash of the first attempt only is rejected", fakeStream(archive[:10], reset),
			&fakeNodeHash{size: int64(len(archive)), sum: hexSum(archive[:10])}, "rejected", evidence.ErrHashMismatch, 1},
		{"node hash differs", fakeStream(archive, nil),
			&fakeNodeHash{size: int64(len(archive)), sum: hexSum("other")}, "rejected", evidence.ErrHashMismatch, 0},
		{"stat fails on the node: no resume, nothing acquired", fakeStream("", reset),
			&fakeNodeHash{err: gone}, "", gone, 0},
		{"more bytes than the node has: nothing acquired", fakeStream(archive+"extra", nil),
			&fakeNodeHash{size: int64(len(archive)), sum: hexSum(archive)}, "", ErrStream, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := evidence.Open(filepath.Join(t.TempDir(), "store"))
			require.NoError(t, err)
			var offsets []int64
			rr := &resumingReader{ctx: context.Background(), cur: tt.first, sizeOf: tt.node.sizeOf, max: 2,
				open: func(off int64) *stream { offsets = append(offsets, off); return fakeStream(archive[off:], nil) }}
			var last Progress
			started := time.Now()
			item, finished, err := (&Conn{}).streamInto(context.Background(), st, rr, tt.node, nil, started,
				evidence.Manifest{ArchiveName: "c.tar", PullStarted: started.UTC()}, func(p Progress) { last = p })
			require.Equal(t, tt.resumes, rr.resumes)
			if tt.resumes > 0 {
				require.Equal(t, []int64{10}, offsets, "resumed from the byte it reached")
			}
			left := map[string]int{}
			for _, sub := range []string{"evidence", "incoming", "rejected"} {
				ents, err := os.ReadDir(filepath.Join(st.Dir(), sub))
				require.NoError(t, err)
				left[sub] = len(ents)
			}
			switch tt.wantIn {
			case "evidence":
				require.NoError(t, err)
				require.Equal(t, 1, tt.node.asked)
				require.Equal(t, map[string]int{"evidence": 1, "incoming": 0, "rejected": 0}, left)
				require.Equal(t, hexSum(archive), item.Manifest.NodeSHA256)
				require.Equal(t, item.Manifest.NodeSHA256, item.Manifest.LocalSHA256)
				require.False(t, finished.IsZero())
				require.EqualValues(t, len(archive), last.Bytes)
				require.EqualValues(t, len(archive), last.Total)
			case "rejected":
				require.ErrorIs(t, err, tt.wantErr)
				require.Equal(t, map[string]int{"evidence": 0, "incoming": 0, "rejected": 1}, left)
			default:
				require.Error(t, err)
				require.True(t, errors.Is(err, tt.wantErr) || strings.Contains(err.Error(), tt.wantErr.Error()), err)
				require.Nil(t, item)
				require.Equal(t, map[string]int{"evidence": 0, "incoming": 0, "rejected": 0}, left)
			}
		})
	}
}

// TestLineWatcher: the size (stat's line) is known as soon as it arrives, before sha256sum ends.
func TestLineWatcher(t *testing.T) {
	var got []string
	w := &lineWatcher{first: func(l string) { got = append(got, l) }}
	for _, chunk := range []string{"2689", "90976\ncd59", "62  /checkpoints/c.tar\n"} {
		_, err := w.Write([]byte(chunk))
		require.NoError(t, err)
	}
	require.Equal(t, []string{"268990976"}, got, "called once, with the whole first line")
	require.Equal(t, "268990976\ncd5962  /checkpoints/c.tar\n", w.buf.String())
	size, err := parseSize(got[0])
	require.NoError(t, err)
	require.EqualValues(t, 268990976, size)
	for _, bad := range []string{"", "-1", "12 MB"} {
		_, err := parseSize(bad)
		require.ErrorIs(t, err, ErrStream, bad)
	}
}

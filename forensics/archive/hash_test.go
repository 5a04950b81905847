package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// TestSHA256Reader: the pipelined hash equals crypto/sha256 of the same bytes at every size
// around its buffer boundaries, from a file and from a reader that returns one byte at a time;
// a read error and a cancelled context are returned, not hidden.
func TestSHA256Reader(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, (hashBufs+1)*hashBuf+5)
	for i := range data {
		data[i] = byte(r.IntN(256))
	}
	for _, n := range []int{0, 1, hashBuf - 1, hashBuf, hashBuf + 1, hashBufs * hashBuf, len(data)} {
		want := sha256.Sum256(data[:n])
		p := filepath.Join(t.TempDir(), "f")
		require.NoError(t, os.WriteFile(p, data[:n], 0o600))
		f, err := os.Open(p)
		require.NoError(t, err)
		sum, got, err := SHA256Reader(ctx, f)
		f.Close()
		require.NoError(t, err)
		require.Equal(t, hex.EncodeToString(want[:]), sum, "size %d", n)
		require.EqualValues(t, n, got)
	}
	want := sha256.Sum256(data[:1000])
	sum, _, err := SHA256Reader(ctx, iotest.OneByteReader(strings.NewReader(string(data[:1000]))))
	require.NoError(t, err)
	require.Equal(t, hex.EncodeToString(want[:]), sum)

	boom := errors.New("disk gone")
	_, _, err = SHA256Reader(ctx, io.MultiReader(strings.NewReader(string(data[:hashBuf+7])), iotest.ErrReader(boom)))
	require.ErrorIs(t, err, boom)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err = SHA256Reader(cctx, strings.NewReader(string(data)))
	require.ErrorIs(t, err, context.Canceled)
}

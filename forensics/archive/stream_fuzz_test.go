package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fixturePagemaps returns the real CRIU 4.2.1 pagemap images of images/full by name.
func fixturePagemaps(t testing.TB) map[string][]byte {
	dir := fx("images/full")
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string][]byte{}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "pagemap-") {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			require.NoError(t, err)
			out[e.Name()] = b
		}
	}
	require.NotEmpty(t, out)
	return out
}

// TestPagemapDeclaredMatchesPages: on a real dump, what each process pagemap declares is
// exactly the size of the pages image it names (CRIU writes the present pages, nothing else),
// which is what the streaming reader keeps of a pages member.
func TestPagemapDeclaredMatchesPages(t *testing.T) {
	checked := 0
	for name, b := range fixturePagemaps(t) {
		if strings.HasPrefix(name, "pagemap-shmem-") {
			continue
		}
		id, n, err := PagemapDeclared(bytes.NewReader(b), int64(len(b)))
		require.NoError(t, err, name)
		st, err := os.Stat(fx(fmt.Sprintf("images/full/pages-%d.img", id)))
		require.NoError(t, err, name)
		require.Equal(t, st.Size(), n, "%s declares its pages-%d.img", name, id)
		checked++
	}
	require.NotZero(t, checked)
}

// FuzzPagemapDeclared: the streaming reader's pagemap pre-read on arbitrary bytes never panics,
// never allocates beyond its 1 MiB entry bound, and returns a whole number of pages or -1
// (overflow); a damaged image is ErrCorrupt or a short read, never a made-up size; a real
// image with bytes appended declares no less than before when it still parses.
func FuzzPagemapDeclared(f *testing.F) {
	for _, b := range fixturePagemaps(f) {
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{0x19, 0x43, 0x56, 0x54, 0x25, 0x40, 0x08, 0x56, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, n, err := PagemapDeclared(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) &&
				!strings.Contains(err.Error(), "proto") {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if n != -1 && (n < 0 || n%4096 != 0) {
			t.Fatalf("declared %d bytes: not -1 nor a whole number of pages", n)
		}
	})
}

// gzipOf compresses b as one gzip member.
func gzipOf(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}

// readMembers runs gzMembers over data as the streaming reader does.
func readMembers(data []byte) (*gzMembers, []byte, error) {
	src := bufio.NewReader(bytes.NewReader(data))
	zr, err := gzip.NewReader(src)
	if err != nil {
		return nil, nil, err
	}
	g := &gzMembers{zr: zr, src: src}
	out, err := io.ReadAll(io.LimitReader(g, 64<<20))
	return g, out, err
}

// FuzzGzipMembers: the gzip member reader, on members built from the fuzzed parts and a
// fuzzed tail, returns exactly the concatenated content, records where each later member
// starts, counts a non-gzip tail as garbage (as gunzip's "trailing garbage ignored"), and on
// arbitrary bytes never panics and counts every byte it returns.
func FuzzGzipMembers(f *testing.F) {
	f.Add([]byte("tar content"), []byte("smuggled"), []byte{}, []byte{})
	f.Add([]byte{}, []byte("x"), []byte("garbage after"), gzipOf([]byte("raw")))
	f.Add([]byte("a"), []byte{}, []byte{0x1f}, []byte{0x1f, 0x8b, 0x08, 0x00})
	f.Fuzz(func(t *testing.T, first, second, tail, raw []byte) {
		data := append(gzipOf(first), gzipOf(second)...)
		garbage := len(tail) > 0 && !bytes.HasPrefix(tail, []byte{0x1f, 0x8b})
		if garbage {
			data = append(data, tail...)
		}
		g, out, err := readMembers(data)
		if err != nil {
			t.Fatalf("two valid members: %v", err)
		}
		if !bytes.Equal(out, append(append([]byte{}, first...), second...)) {
			t.Fatalf("content: got %d bytes, want %d+%d", len(out), len(first), len(second))
		}
		if len(g.starts) != 1 || g.starts[0] != int64(len(first)) {
			t.Fatalf("second member starts %v, want [%d]", g.starts, len(first))
		}
		if m, n := g.after(int64(len(first))); m != 1 || n != int64(len(second)) {
			t.Fatalf("after(%d) = %d members, %d bytes", len(first), m, n)
		}
		if garbage && g.garbage != int64(len(tail)) {
			t.Fatalf("garbage %d of a %d-byte tail", g.garbage, len(tail))
		}
		if !garbage && g.garbage != 0 {
			t.Fatalf("garbage %d without a tail", g.garbage)
		}

		// arbitrary bytes
		g, out, _ = readMembers(raw)
		if g != nil && g.total != int64(len(out)) {
			t.Fatalf("counted %d of %d bytes returned", g.total, len(out))
		}
	})
}

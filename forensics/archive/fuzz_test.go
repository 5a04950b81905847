package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// seedTar packs the small image files of a real fixture dump into a container-style tar.
func seedTar(t testing.TB) []byte {
	dir := fx("images/full")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Size() > 8<<10 {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		_ = tw.WriteHeader(&tar.Header{Name: "checkpoint/" + e.Name(), Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		_, _ = tw.Write(data)
	}
	_ = tw.Close()
	return b.Bytes()
}

// FuzzOpenArchive opens arbitrary bytes as an archive and reads every member: no panic, and
// every member read stays within its indexed size.
func FuzzOpenArchive(f *testing.F) {
	seed := seedTar(f)
	f.Add(seed)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(seed)
	_ = w.Close()
	f.Add(gz.Bytes())
	var zs bytes.Buffer
	zw, _ := zstd.NewWriter(&zs)
	_, _ = zw.Write(seed)
	_ = zw.Close()
	f.Add(zs.Bytes())
	f.Add([]byte{})
	f.Add(seed[:700])
	lim := Limits{MaxMemberBytes: 4 << 20, MaxTotalBytes: 8 << 20, MaxEntries: 256}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "in")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := Open(context.Background(), p, lim, dir)
		if err != nil {
			return
		}
		defer a.Close()
		for _, n := range a.Names() {
			r, size, err := a.Member(n)
			if err != nil {
				t.Fatalf("indexed member %s unreadable: %v", n, err)
			}
			if size > lim.MaxMemberBytes {
				t.Fatalf("member %s larger than the limit", n)
			}
			got, err := io.Copy(io.Discard, io.NewSectionReader(r, 0, size))
			if err != nil || got != size {
				t.Fatalf("member %s: read %d of %d: %v", n, got, size, err)
			}
		}
	})
}

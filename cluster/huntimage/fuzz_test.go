package huntimage

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
)

// FuzzInspect: any bytes as a binary give an Image-less error or a description, never a panic.
// Seeds: real ELF executables of this machine, cut at several places.
func FuzzInspect(f *testing.F) {
	for _, p := range []string{"/bin/true", "/usr/bin/env"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		f.Add(b)
		f.Add(b[:64])
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte("\x7fELF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := inspectBytes(data, []string{t.TempDir()})
		if err == nil && b.Main != MainPackage {
			t.Fatalf("accepted a binary of %q", b.Main)
		}
	})
}

// FuzzLoad: any bytes as an OCI archive are loaded or refused, never a panic, never a file
// outside the extraction directory. Seeds: a real (random-content) image written by
// WriteArchive, and pieces of it.
func FuzzLoad(f *testing.F) {
	img, err := random.Image(512, 2)
	if err != nil {
		f.Fatal(err)
	}
	im, err := describe(img, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	ref, _ := Reference("", "seed")
	p := filepath.Join(f.TempDir(), "seed.tar")
	if err := im.WriteArchive(p, ref); err != nil {
		f.Fatal(err)
	}
	seed, _ := os.ReadFile(p)
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	var one bytes.Buffer
	tw := tar.NewWriter(&one)
	tw.WriteHeader(&tar.Header{Name: "../evil", Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	f.Add(one.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "in.tar")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Load(p)
		if err == nil {
			l.Close()
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 1 {
			t.Fatalf("Load wrote beside its input: %v", ents)
		}
	})
}

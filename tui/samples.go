package tui

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/podsleuth/podsleuth/tui/screens/evidence"
)

// Samples lists the bundled sample checkpoints of fsys: the archives under archives/ and the
// CRIU image directories under images/. Run it inside a Cmd.
func Samples(fsys fs.FS) ([]evidence.Sample, error) {
	var out []evidence.Sample
	arch, err := fs.ReadDir(fsys, "archives")
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("list bundled archives: %w", err)
	}
	for _, e := range arch {
		n := e.Name()
		if e.IsDir() || !(strings.HasSuffix(n, ".tar") || strings.HasSuffix(n, ".tar.gz") || strings.HasSuffix(n, ".tar.zst")) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		out = append(out, evidence.Sample{Name: "archives/" + n, Size: info.Size(), Note: "container checkpoint archive"})
	}
	imgs, err := fs.ReadDir(fsys, "images")
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("list bundled images: %w", err)
	}
	for _, e := range imgs {
		if !e.IsDir() {
			continue
		}
		var size int64
		_ = fs.WalkDir(fsys, "images/"+e.Name(), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if i, err := d.Info(); err == nil {
					size += i.Size()
				}
			}
			return nil
		})
		out = append(out, evidence.Sample{Name: "images/" + e.Name(), Size: size, Note: "bare CRIU image directory"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ExtractSample writes the bundled sample name (as listed by Samples) under dir and returns
// its path. An already extracted copy of the same size is reused. Run it inside a Cmd.
func ExtractSample(ctx context.Context, fsys fs.FS, name, dir string) (string, error) {
	clean := path.Clean(name)
	if clean != name || strings.HasPrefix(clean, "..") || path.IsAbs(clean) {
		return "", fmt.Errorf("bundled sample %q: bad name", name)
	}
	st, err := fs.Stat(fsys, clean)
	if err != nil {
		return "", fmt.Errorf("bundled sample %q: %w", name, err)
	}
	dst := filepath.Join(dir, "samples", filepath.FromSlash(clean))
	if !st.IsDir() {
		return dst, copyFile(fsys, clean, dst, st.Size())
	}
	err = fs.WalkDir(fsys, clean, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		target := filepath.Join(dir, "samples", filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		i, err := d.Info()
		if err != nil {
			return err
		}
		return copyFile(fsys, p, target, i.Size())
	})
	if err != nil {
		return "", fmt.Errorf("extract bundled sample %s: %w", name, err)
	}
	return dst, nil
}

func copyFile(fsys fs.FS, src, dst string, size int64) error {
	if st, err := os.Stat(dst); err == nil && st.Size() == size && st.Mode().IsRegular() {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	in, err := fsys.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".part"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

package local

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// baseRootfs copies a base root filesystem (a directory, or a tar that may be gzip-compressed)
// into dst.
func baseRootfs(ctx context.Context, src, dst string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if st.IsDir() {
		out, err := exec.CommandContext(ctx, "cp", "-a", "--", src+"/.", dst).CombinedOutput()
		if err != nil {
			return fmt.Errorf("cp -a: %w: %s", err, out)
		}
		return nil
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return extractTar(f, dst, src)
}

// applyRootfsDiff extracts rootfs-diff.tar (gzip despite its name when containerd wrote it)
// over the rootfs and removes the paths listed in deleted.files.
func applyRootfsDiff(bundle, rootfs string) error {
	if f, err := os.Open(filepath.Join(bundle, "rootfs-diff.tar")); err == nil {
		defer f.Close()
		if err := extractTar(f, rootfs, "rootfs-diff.tar"); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	b, err := os.ReadFile(filepath.Join(bundle, "deleted.files"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var deleted []string
	if err := json.Unmarshal(b, &deleted); err != nil {
		return fmt.Errorf("deleted.files: %w", err)
	}
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, d := range deleted {
		name := strings.TrimPrefix(path.Clean("/"+d), "/")
		if name == "" {
			continue
		}
		if err := root.RemoveAll(name); err != nil {
			return fmt.Errorf("deleted.files: %s: %w", d, err)
		}
	}
	return nil
}

// extractTar extracts a (possibly gzip-compressed) tar into dst through os.Root: no member
// can be written outside dst, symlinks are created as links but never followed.
func extractTar(r io.Reader, dst, what string) error {
	br := bufio.NewReader(r)
	var in io.Reader = br
	if m, _ := br.Peek(2); len(m) == 2 && m[0] == 0x1f && m[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		defer gz.Close()
		in = gz
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(in)
	type dirTime struct {
		name string
		t    time.Time
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if name == "" {
			continue
		}
		if d := path.Dir(name); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("%s: %s: %w", what, h.Name, err)
			}
		}
		mode := fs.FileMode(h.Mode).Perm() | fs.FileMode(h.Mode)&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.Mkdir(name, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s: %s: %w", what, h.Name, err)
			}
			_ = root.Chmod(name, tarMode(h))
		case tar.TypeReg:
			_ = root.Remove(name)
			f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", what, h.Name, err)
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%s: %s: %w", what, h.Name, err)
			}
			_ = root.Chmod(name, tarMode(h))
		case tar.TypeSymlink:
			_ = root.Remove(name)
			if err := root.Symlink(h.Linkname, name); err != nil {
				return fmt.Errorf("%s: %s: %w", what, h.Name, err)
			}
		case tar.TypeLink:
			_ = root.Remove(name)
			target := strings.TrimPrefix(path.Clean("/"+h.Linkname), "/")
			if err := root.Link(target, name); err != nil {
				return fmt.Errorf("%s: %s: %w", what, h.Name, err)
			}
		default:
			continue // devices and FIFOs: the runtime creates /dev itself
		}
		_ = root.Lchown(name, h.Uid, h.Gid)
		if h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeDir {
			_ = root.Chmod(name, mode)
			_ = root.Chtimes(name, h.ModTime, h.ModTime)
		}
	}
}

func tarMode(h *tar.Header) fs.FileMode {
	m := fs.FileMode(h.Mode).Perm()
	if h.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if h.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if h.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

type sanitized struct{ setid, owners int }

// sanitizeRootfs clears setuid and setgid bits and resets owners other than root to root on
// every file of the rebuilt rootfs, except the paths the process held (CRIU compares their
// modes with the recorded ones; fixModes gives them those). With no_new_privs on every restored
// task a setuid bit would be inert anyway; this keeps the copy from holding one at all.
func sanitizeRootfs(rootfs string, held []HeldPath) (sanitized, error) {
	var n sanitized
	keep := map[string]bool{}
	for _, h := range held {
		keep[filepath.Join(rootfs, filepath.Clean("/"+h.Path))] = true
	}
	err := filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if keep[p] {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && (st.Uid != 0 || st.Gid != 0) {
			if err := os.Lchown(p, 0, 0); err != nil {
				return err
			}
			n.owners++
		}
		if d.Type()&fs.ModeSymlink == 0 && info.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			if err := os.Chmod(p, info.Mode()&^(fs.ModeSetuid|fs.ModeSetgid)); err != nil {
				return err
			}
			n.setid++
		}
		return nil
	})
	return n, err
}

// fixModes sets the permission bits of the held paths present in rootfs to the recorded ones.
func fixModes(rootfs string, held []HeldPath) error {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, h := range held {
		if h.Mode == 0 || h.Kind == "ghost" || h.Kind == "socket" || isSystemDir(h.Path) {
			continue
		}
		name := strings.TrimPrefix(path.Clean(h.Path), "/")
		if name == "" {
			name = "."
		}
		st, err := root.Lstat(name)
		if err != nil || st.Mode()&fs.ModeSymlink != 0 {
			continue // missing ones are CRIU's to report (with the path)
		}
		want := fs.FileMode(h.Mode & 0o777)
		if h.Mode&0o4000 != 0 {
			want |= fs.ModeSetuid
		}
		if h.Mode&0o2000 != 0 {
			want |= fs.ModeSetgid
		}
		if h.Mode&0o1000 != 0 {
			want |= fs.ModeSticky
		}
		if st.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != want {
			if err := root.Chmod(name, want); err != nil {
				return fmt.Errorf("chmod %s: %w", h.Path, err)
			}
		}
	}
	return nil
}

package sandbox

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/podsleuth/podsleuth/forensics/archive"
)

// Unpack writes every member of an opened checkpoint archive under dir (which must exist),
// through os.Root so no member can land outside it. Member names were already cleaned and
// checked by archive.Open (traversal and links refused).
func Unpack(ctx context.Context, a *archive.Archive, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, name := range a.Names() {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, size, err := a.Member(name)
		if err != nil {
			continue // a directory entry
		}
		if d := path.Dir(name); d != "." {
			if err := root.MkdirAll(d, 0o700); err != nil {
				return fmt.Errorf("unpack %s: %w", name, err)
			}
		}
		f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("unpack %s: %w", name, err)
		}
		_, err = io.Copy(f, io.NewSectionReader(r, 0, size))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("unpack %s: %w", name, err)
		}
	}
	return nil
}

package evidence

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Brief is an item's ID and a one-line description of what it holds (namespace/pod/container,
// else the archive's name): what completion offers.
type Brief struct {
	ID   string
	Desc string
}

// Briefs lists the items of the store under dir, sorted by ID, without opening the store: it
// creates nothing, changes no mode and writes no custody (shell completion runs it on every
// tab). A missing store has no items.
func Briefs(dir string) ([]Brief, error) {
	if dir == "" || !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("list evidence: directory must be absolute, got %q", dir)
	}
	ents, err := os.ReadDir(filepath.Join(filepath.Clean(dir), "evidence"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list evidence: %w", err)
	}
	var out []Brief
	for _, e := range ents {
		if !e.IsDir() || validID(e.Name()) != nil {
			continue
		}
		b := Brief{ID: e.Name()}
		if m, err := readManifest(filepath.Join(dir, "evidence", e.Name())); err == nil {
			b.Desc = m.describe()
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// describe names what the manifest's archive holds in one plain line.
func (m Manifest) describe() string {
	var parts []string
	for _, p := range []string{m.Namespace, m.Pod, m.Container} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	d := strings.Join(parts, "/")
	if d == "" {
		d = filepath.Base(m.ArchiveName)
	}
	if m.CaseID != "" {
		d += " (case " + m.CaseID + ")"
	}
	if !plainText(d) {
		return ""
	}
	return d
}

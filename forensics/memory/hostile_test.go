package memory_test

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/checkpoint-restore/go-criu/v8/crit/images/pagemap"
	"github.com/checkpoint-restore/go-criu/v8/magic"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/criu"
	"github.com/podsleuth/podsleuth/forensics/memory"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

// copyDir copies the real image dir so one image can be replaced by a hostile one.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644))
	}
	return dst
}

// rewritePagemap keeps the magic and head of a real pagemap image and replaces its entries.
func rewritePagemap(t *testing.T, path string, edit func([]criu.PagemapEntry) []criu.PagemapEntry) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	off := 4
	if uint64(binary.LittleEndian.Uint32(b)) == magic.LoadMagic().ByName["IMG_COMMON"] {
		off = 8
	}
	off += 4 + int(binary.LittleEndian.Uint32(b[off:]))
	_, ents, _, err := criu.ReadPagemap(readerAt(b), int64(len(b)))
	require.NoError(t, err)
	out := append([]byte(nil), b[:off]...)
	for _, e := range edit(ents) {
		m, err := proto.Marshal(&pagemap.PagemapEntry{Vaddr: proto.Uint64(e.Vaddr), CompatNrPages: proto.Uint32(0), NrPages: proto.Uint64(e.NrPages), Flags: proto.Uint32(e.Flags)})
		require.NoError(t, err)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(m)))
		out = append(out, m...)
	}
	require.NoError(t, os.WriteFile(path, out, 0o644))
}

type readerAt []byte

func (r readerAt) ReadAt(p []byte, off int64) (int, error) { return copy(p, r[off:]), nil }

// TestHostilePagemaps: pagemaps that point past the pages image, are unsorted, or contradict
// the VMA list give named warnings; nothing panics and no wrong bytes come back.
func TestHostilePagemaps(t *testing.T) {
	const main, child = 15728, 15732
	tests := []struct {
		name    string
		edit    func([]criu.PagemapEntry) []criu.PagemapEntry
		warn    string
		mainErr bool
	}{
		{"past the end of the pages image", func(e []criu.PagemapEntry) []criu.PagemapEntry {
			return append(e, criu.PagemapEntry{Vaddr: 0x7ffff0000000, NrPages: 1000, Flags: criu.PE_PRESENT})
		}, "past the end of the pages image", true},
		{"unsorted", func(e []criu.PagemapEntry) []criu.PagemapEntry {
			e[0], e[1] = e[1], e[0]
			return e
		}, "pagemap-15728.img", true},
		{"overlapping", func(e []criu.PagemapEntry) []criu.PagemapEntry {
			e[1].Vaddr = e[0].Vaddr
			return e
		}, "pagemap-15728.img", true},
		{"pages no VMA maps", func(e []criu.PagemapEntry) []criu.PagemapEntry {
			return append([]criu.PagemapEntry{{Vaddr: 0x10000, NrPages: 2, Flags: criu.PE_PARENT}}, e...)
		}, "no VMA maps", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyDir(t, filepath.Join(fixtures.Dir(), "images", "full"))
			rewritePagemap(t, filepath.Join(dir, "pagemap-15728.img"), tt.edit)
			ctx := context.Background()
			a, err := archive.Open(ctx, dir, archive.DefaultLimits(), t.TempDir())
			require.NoError(t, err)
			defer a.Close()
			cp, err := criu.Decode(ctx, a)
			require.NoError(t, err)
			m, err := memory.Open(ctx, a, cp)
			require.NoError(t, err)
			require.True(t, strings.Contains(strings.Join(m.Warnings, "\n"), tt.warn), "warnings: %q", m.Warnings)
			p := m.Proc(main)
			if tt.mainErr {
				require.Error(t, p.Err)
				require.Nil(t, p.Private)
				_, err := m.ReadAt(main, 0x400000, make([]byte, 8))
				require.Error(t, err)
			} else {
				require.NoError(t, p.Err)
				require.Equal(t, memory.ReasonParent, p.Why(0x10000))
				require.Len(t, search(t, m, "CRIU-FORENSIC-MARKER-7f3a9c", memory.Filter{}), 17, "the rest is still right")
			}
			// the other processes are untouched
			require.Len(t, search(t, m, "CHILD-HEAP-MARKER-kw01", memory.Filter{}), 1)
			require.NoError(t, m.Proc(child).Err)
		})
	}
}

package hostile

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"
)

// Case is one hostile input.
type Case struct {
	// Name is the file name of the input in the corpus directory.
	Name string
	// Data is the file's content (nil for cases that Build writes itself).
	Data []byte
}

// member is one tar entry to write.
type member struct {
	name     string
	typ      byte
	body     []byte
	link     string
	sizeHint int64 // header size that differs from len(body), for lying headers
}

// tarOf writes members as a tar stream; it does not validate anything.
func tarOf(ms ...member) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, m := range ms {
		h := &tar.Header{Name: m.name, Typeflag: m.typ, Mode: 0o644, Size: int64(len(m.body)), Linkname: m.link, Format: tar.FormatPAX}
		if m.typ == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
		if h.Typeflag == tar.TypeReg {
			_, _ = tw.Write(m.body)
		}
	}
	_ = tw.Close()
	return b.Bytes()
}

// image builds a CRIU image: magics then length-prefixed entries (raw bytes).
func image(magic1, magic2 uint32, entries ...[]byte) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.LittleEndian, magic1)
	if magic2 != 0 {
		_ = binary.Write(&b, binary.LittleEndian, magic2)
	}
	for _, e := range entries {
		_ = binary.Write(&b, binary.LittleEndian, uint32(len(e)))
		b.Write(e)
	}
	return b.Bytes()
}

// CRIU magics (go-criu magic package): IMG_COMMON, PSTREE, INVENTORY, CORE.
const (
	magicCommon    = 0x54564319
	magicPstree    = 0x50273030
	magicInventory = 0x58313116
)

// pstreeEntry is a valid protobuf pstree_entry{pid, ppid, pgid, sid} (all varints).
func pstreeEntry(pid uint8) []byte {
	return []byte{0x08, pid, 0x10, 0, 0x18, pid, 0x20, pid}
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}

func zst(b []byte) []byte {
	var out bytes.Buffer
	w, _ := zstd.NewWriter(&out, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}

// bomb compresses a tar whose single member is size zero bytes; the stream is a few hundred
// KiB whatever the size.
func bomb(size int64, compress func(io.Writer) io.WriteCloser) []byte {
	var out bytes.Buffer
	w := compress(&out)
	tw := tar.NewWriter(w)
	_ = tw.WriteHeader(&tar.Header{Name: "checkpoint/pages-1.img", Typeflag: tar.TypeReg, Mode: 0o644, Size: size})
	zero := make([]byte, 1<<20)
	for n := int64(0); n < size; n += int64(len(zero)) {
		_, _ = tw.Write(zero[:min(int64(len(zero)), size-n)])
	}
	_ = tw.Close()
	_ = w.Close()
	return out.Bytes()
}

// validCheckpoint is a minimal structurally valid archive: an inventory and a one-process
// pstree.
func validCheckpoint(extra ...member) []member {
	ms := []member{
		{name: "checkpoint/inventory.img", body: image(magicInventory, 0, []byte{0x08, 0x02})},
		{name: "checkpoint/pstree.img", body: image(magicCommon, magicPstree, pstreeEntry(1))},
	}
	return append(ms, extra...)
}

// BombSize is the uncompressed size of the decompression bombs; tests open them with limits
// far below it.
const BombSize = 256 << 20

// Build returns the corpus. Bombs are built on demand because they cost a second of CPU.
func Build() []Case {
	valid := tarOf(validCheckpoint()...)
	full := tarOf(validCheckpoint(member{name: "checkpoint/pages-1.img", body: bytes.Repeat([]byte("A"), 64<<10)})...)
	return []Case{
		{"traversal.tar", tarOf(append(validCheckpoint(), member{name: "checkpoint/../../evil", body: []byte("x")})...)},
		{"absolute.tar", tarOf(append(validCheckpoint(), member{name: "/etc/cron.d/evil", body: []byte("x")})...)},
		{"symlink.tar", tarOf(append(validCheckpoint(), member{name: "checkpoint/core-1.img", typ: tar.TypeSymlink, link: "/etc/shadow"})...)},
		{"hardlink.tar", tarOf(append(validCheckpoint(), member{name: "checkpoint/core-1.img", typ: tar.TypeLink, link: "checkpoint/pstree.img"})...)},
		{"duplicate.tar", tarOf(append(validCheckpoint(), member{name: "./checkpoint/pstree.img", body: []byte("again")})...)},
		{"truncated.tar", full[:len(full)/2]},
		{"truncated.tar.gz", func() []byte { z := gz(full); return z[:len(z)/2] }()},
		{"truncated.tar.zst", func() []byte { z := zst(full); return z[:len(z)/2] }()},
		{"garbage-pstree.tar", tarOf(member{name: "checkpoint/pstree.img", body: image(magicCommon, magicPstree, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x07, 0x12})})},
		{"bad-magic-pstree.tar", tarOf(member{name: "checkpoint/pstree.img", body: []byte{0xde, 0xad, 0xbe, 0xef, 1, 0, 0, 0, 8}})},
		{"absurd-length.tar", tarOf(member{name: "checkpoint/pstree.img", body: append(image(magicCommon, magicPstree), 0xff, 0xff, 0xff, 0xff, 0x08, 0x01)})},
		{"missing-pstree.tar", tarOf(member{name: "checkpoint/inventory.img", body: image(magicInventory, 0, []byte{0x08, 0x02})}, member{name: "config.dump", body: []byte(`{"id":"x"}`)})},
		{"garbage-core.tar", tarOf(validCheckpoint(member{name: "checkpoint/core-1.img", body: image(magicCommon, 0x55055847, []byte{0x0a, 0xff, 0xff})})...)},
		{"garbage-config.tar", tarOf(validCheckpoint(member{name: "config.dump", body: []byte("{not json")})...)},
		{"not-a-tar.bin", []byte("this is not a checkpoint archive, just text that goes on for a while\n")},
		{"empty.tar", nil},
		{"zeros.tar", make([]byte, 10240)},
		{"valid.tar", valid},
	}
}

// Bombs returns the gzip and zstd decompression bombs (BombSize bytes of zeros each).
func Bombs() []Case {
	return []Case{
		{"bomb.tar.gz", bomb(BombSize, func(w io.Writer) io.WriteCloser { z, _ := gzip.NewWriterLevel(w, gzip.BestCompression); return z })},
		{"bomb.tar.zst", bomb(BombSize, func(w io.Writer) io.WriteCloser {
			z, _ := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
			return z
		})},
	}
}

// Write writes the corpus into dir.
func Write(dir string, cases []Case) error {
	for _, c := range cases {
		if err := os.WriteFile(filepath.Join(dir, c.Name), c.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

package hostile

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/checkpoint-restore/go-criu/v8/crit/images/mm"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/pagemap"
	pipe_data "github.com/checkpoint-restore/go-criu/v8/crit/images/pipe-data"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/pstree"
	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"

	"github.com/podsleuth/podsleuth/test/fixtures/hostilespec"
)

// The costly inputs of issue 12: small archives that made podsleuth spend gigabytes of
// memory, disk or output, or minutes of CPU. They are streamed to disk by WriteCostly (the
// uncompressed content is never in memory), so building them costs seconds, not gigabytes.

// More CRIU magics (go-criu magic package).
const (
	magicPagemap   = 0x56084025
	magicPipesData = 0x56453709
)

// Costly names the costly inputs and what each is.
var Costly = []struct{ Name, What string }{
	{"pages-4gib-zeros.tar.zst", "a pages member of 4 GiB of zeros whose pagemap declares one page"},
	{"pages-undeclared-1gib.tar.zst", "a pages member of 1 GiB of zeros that no pagemap names"},
	{"pipe-1gib.tar.zst", "a pipe buffer that claims (and holds) 1 GiB"},
	{"pax-names.tar.zst", "a rootfs-diff.tar with 1,200 PAX names of ~1 MB"},
	{"million-procs.tar.zst", "a pstree of 1,000,000 processes"},
	{"deep-chain.tar.zst", "a 120,000-deep process chain"},
	{"pagemap-overflow.tar", "pagemap entries whose present pages overflow int64"},
	{"trailing-data.tar", "data after the tar end marker"},
	{"extra-member.tar.gz", "a second gzip member after the one with the tar end marker"},
	{"rootfs-traversal.tar", "rootfs-diff.tar names with '..' and an absolute path"},
	{"metadata-flood.tar.zst", "config.dump and spec.dump with 300,000 labels and annotations, 4 MiB values, a million arguments and environment entries (hostilespec.Flood*)"},
}

func msg(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func u32(v uint32) *uint32 { return &v }
func u64(v uint64) *uint64 { return &v }

// pagemapImage is a pagemap-*.img naming pages-<id>.img, with present runs of n pages.
func pagemapImage(id uint32, runs ...uint64) []byte {
	entries := [][]byte{msg(&pagemap.PagemapHead{PagesId: u32(id)})}
	vaddr := uint64(0x400000)
	for _, n := range runs {
		entries = append(entries, msg(&pagemap.PagemapEntry{Vaddr: u64(vaddr), CompatNrPages: u32(0), NrPages: u64(n), Flags: u32(4)}))
		vaddr += (n + 1) * 4096
	}
	return image(magicCommon, magicPagemap, entries...)
}

func pstreeImage(n int, chain bool) []byte {
	var b bytes.Buffer
	_ = binaryU32(&b, magicCommon)
	_ = binaryU32(&b, magicPstree)
	for pid := 1; pid <= n; pid++ {
		ppid := 0
		if chain {
			ppid = pid - 1
		}
		e := msg(&pstree.PstreeEntry{Pid: u32(uint32(pid)), Ppid: u32(uint32(ppid)), Pgid: u32(1), Sid: u32(1)})
		_ = binaryU32(&b, uint32(len(e)))
		b.Write(e)
	}
	return b.Bytes()
}

func binaryU32(w io.Writer, v uint32) error {
	_, err := w.Write([]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)})
	return err
}

// zeroMember writes a member of size bytes: prefix, then zeros.
func zeroMember(tw *tar.Writer, name string, prefix []byte, size int64) {
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size}); err != nil {
		panic(err)
	}
	_, _ = tw.Write(prefix)
	zero := make([]byte, 4<<20)
	for n := int64(len(prefix)); n < size; n += int64(len(zero)) {
		_, _ = tw.Write(zero[:min(int64(len(zero)), size-n)])
	}
}

func add(tw *tar.Writer, ms ...member) {
	for _, m := range ms {
		h := &tar.Header{Name: m.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(m.body)), Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
		_, _ = tw.Write(m.body)
	}
}

// writeZst streams a tar built by fill through zstd into path.
func writeZst(path string, fill func(tw *tar.Writer)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	zw, err := zstd.NewWriter(f, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	fill(tw)
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// paxNamesDiff is a zstd-compressed rootfs diff (as containerd writes it) of n entries whose
// names are ~size bytes each (PAX headers).
func paxNamesDiff(n, size int) []byte {
	var out bytes.Buffer
	zw, _ := zstd.NewWriter(&out, zstd.WithEncoderLevel(zstd.SpeedDefault))
	tw := tar.NewWriter(zw)
	for i := range n {
		name := fmt.Sprintf("d%04d/", i) + strings.Repeat("n", size)
		_ = tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatPAX})
	}
	_ = tw.Close()
	_ = zw.Close()
	return out.Bytes()
}

// WriteCostly writes the costly inputs into dir; with names, only those.
func WriteCostly(dir string, names ...string) error {
	base := validCheckpoint()
	write := map[string]func(string) error{
		"pages-4gib-zeros.tar.zst": func(p string) error {
			return writeZst(p, func(tw *tar.Writer) {
				add(tw, base[0], member{name: "checkpoint/pagemap-1.img", body: pagemapImage(1, 1)})
				zeroMember(tw, "checkpoint/pages-1.img", nil, 4<<30)
				add(tw, base[1]) // pstree.img follows the pages, as in real archives
			})
		},
		"pages-undeclared-1gib.tar.zst": func(p string) error {
			return writeZst(p, func(tw *tar.Writer) {
				add(tw, base[0])
				zeroMember(tw, "checkpoint/pages-7.img", nil, 1<<30)
				add(tw, base[1])
			})
		},
		"pipe-1gib.tar.zst": func(p string) error {
			head := image(magicCommon, magicPipesData, msg(&pipe_data.PipeDataEntry{PipeId: u32(9), Bytes: u32(1 << 30)}))
			return writeZst(p, func(tw *tar.Writer) {
				add(tw, base...)
				zeroMember(tw, "checkpoint/pipes-data.img", append(head, "secret-in-pipe"...), int64(len(head))+1<<30)
			})
		},
		"pax-names.tar.zst": func(p string) error {
			return writeZst(p, func(tw *tar.Writer) {
				add(tw, base...)
				add(tw, member{name: "rootfs-diff.tar", body: paxNamesDiff(1200, 1000_000)})
			})
		},
		"million-procs.tar.zst": func(p string) error {
			return writeZst(p, func(tw *tar.Writer) {
				add(tw, base[0], member{name: "checkpoint/pstree.img", body: pstreeImage(1_000_000, false)})
			})
		},
		"deep-chain.tar.zst": func(p string) error {
			return writeZst(p, func(tw *tar.Writer) {
				add(tw, base[0], member{name: "checkpoint/pstree.img", body: pstreeImage(120_000, true)})
			})
		},
		"pagemap-overflow.tar": func(p string) error {
			runs := make([]uint64, 2100) // 2,100 runs of 2^40 pages: 2^63.04 bytes
			for i := range runs {
				runs[i] = 1 << 40
			}
			pm := pagemapImage(1, runs...)
			z := u64(0)
			mmEntry := msg(&mm.MmEntry{MmStartCode: z, MmEndCode: z, MmStartData: z, MmEndData: z, MmStartStack: z, MmStartBrk: z, MmBrk: z,
				MmArgStart: z, MmArgEnd: z, MmEnvStart: z, MmEnvEnd: z, ExeFileId: u32(0)})
			return os.WriteFile(p, tarOf(validCheckpoint(
				member{name: "checkpoint/pagemap-1.img", body: pm},
				member{name: "checkpoint/mm-1.img", body: image(magicCommon, 0x57492820, mmEntry)},
				member{name: "checkpoint/pages-1.img", body: make([]byte, 4096)})...), 0o644)
		},
		"trailing-data.tar": func(p string) error {
			return os.WriteFile(p, append(tarOf(validCheckpoint()...), []byte("hidden payload after the end marker")...), 0o644)
		},
		"extra-member.tar.gz": func(p string) error {
			return os.WriteFile(p, append(gz(tarOf(validCheckpoint()...)), gz(tarOf(member{name: "checkpoint/core-1.img", body: []byte("smuggled")}))...), 0o644)
		},
		"metadata-flood.tar.zst": func(p string) error {
			var cfg, spec bytes.Buffer
			if err := hostilespec.FloodConfig(&cfg); err != nil {
				return err
			}
			if err := hostilespec.FloodSpec(&spec); err != nil {
				return err
			}
			return writeZst(p, func(tw *tar.Writer) {
				add(tw, member{name: "config.dump", body: cfg.Bytes()}, member{name: "spec.dump", body: spec.Bytes()})
				add(tw, base...)
			})
		},
		"rootfs-traversal.tar": func(p string) error {
			diff := tarOf(member{name: "../../etc/cron.d/evil", body: []byte("* * * * * root sh\n")}, member{name: "/abs/evil", body: []byte("x")}, member{name: "usr/bin/ok", body: []byte("x")})
			return os.WriteFile(p, tarOf(validCheckpoint(member{name: "rootfs-diff.tar", body: diff})...), 0o644)
		},
	}
	for _, c := range Costly {
		if len(names) > 0 && !slices.Contains(names, c.Name) {
			continue
		}
		if err := write[c.Name](filepath.Join(dir, c.Name)); err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
	}
	return nil
}

var _ = gzip.NewWriter

// LargeMemorySize is the memory of WriteLargeMemory's process.
const LargeMemorySize = 1 << 30

// WriteLargeMemory writes a .tar.zst checkpoint whose process has LargeMemorySize bytes of
// dumped pages, all declared by its pagemap (so kept and searched): the input of the
// cancellation tests, not part of the costly corpus.
func WriteLargeMemory(path string) error {
	return writeZst(path, func(tw *tar.Writer) {
		add(tw, validCheckpoint(member{name: "checkpoint/pagemap-1.img", body: pagemapImage(1, LargeMemorySize/4096)})...)
		zeroMember(tw, "checkpoint/pages-1.img", []byte("first page of a large memory"), LargeMemorySize)
	})
}

package criu

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	criu_core "github.com/checkpoint-restore/go-criu/v8/crit/images/criu-core"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/fdinfo"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/mm"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/mnt"
	pipe_data "github.com/checkpoint-restore/go-criu/v8/crit/images/pipe-data"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/pstree"
	sk_packet "github.com/checkpoint-restore/go-criu/v8/crit/images/sk-packet"
	tcp_stream "github.com/checkpoint-restore/go-criu/v8/crit/images/tcp-stream"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/tty"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/podsleuth/podsleuth/test/fixtures"
)

// seedFixtures are the image directories the fuzz targets take seeds from: criu 4.2.1 and
// 4.1.1 dumps of target.c, and fds.c's eventfd, timerfd, signalfd, inotify, epoll and pty.
var seedFixtures = []string{"images/full", "images/criu41", "images/fds"}

// addImageSeeds adds every fixture image file whose name matches to the corpus; match gets
// the fixture directory and the file name.
func addImageSeeds(f *testing.F, match func(dir, name string) bool) {
	for _, d := range seedFixtures {
		ents, err := os.ReadDir(filepath.Join(fixtures.Dir(), d))
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range ents {
			if !match(d, e.Name()) {
				continue
			}
			b, err := os.ReadFile(filepath.Join(fixtures.Dir(), d, e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

// FuzzReadPagemap: no panic, and what decodes is a valid, sorted, non-overlapping page list.
func FuzzReadPagemap(f *testing.F) {
	addImageSeeds(f, func(_, n string) bool { return strings.HasPrefix(n, "pagemap-") })
	f.Fuzz(func(t *testing.T, data []byte) {
		_, entries, format, err := ReadPagemap(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrBadImage) {
				t.Fatalf("error without ErrBadImage: %v", err)
			}
			return
		}
		if len(entries) > 0 && format != FormatNrPages && format != FormatCompatNrPages {
			t.Fatalf("format %q", format)
		}
		for i, e := range entries {
			if e.Vaddr%PageSize != 0 || e.End() < e.Vaddr {
				t.Fatalf("entry %d invalid: %+v", i, e)
			}
			if i > 0 && e.Vaddr < entries[i-1].End() {
				t.Fatalf("entry %d overlaps", i)
			}
		}
	})
}

// messageFor picks the entry type by magic, as Decode does; unknown magics decode as an
// empty message (wire format only).
func messageFor(magic string) proto.Message {
	switch magic {
	case "PSTREE":
		return &pstree.PstreeEntry{}
	case "CORE":
		return &criu_core.CoreEntry{}
	case "IDS":
		return &criu_core.TaskKobjIdsEntry{}
	case "MM":
		return &mm.MmEntry{}
	case "FILES":
		return &fdinfo.FileEntry{}
	case "FDINFO":
		return &fdinfo.FdinfoEntry{}
	case "TTY_INFO":
		return &tty.TtyInfoEntry{}
	case "MNTS":
		return &mnt.MntEntry{}
	case "PIPES_DATA", "FIFO_DATA":
		return &pipe_data.PipeDataEntry{}
	case "SK_QUEUES":
		return &sk_packet.SkPacketEntry{}
	case "TCP_STREAM":
		return &tcp_stream.TcpStreamEntry{}
	}
	return &emptypb.Empty{}
}

// FuzzDecodeImage drives the generic image reader (magic, length-prefixed entries, extra
// payloads) over arbitrary bytes: no panic, errors are ErrBadImage, and the reader never
// reads past the image.
func FuzzDecodeImage(f *testing.F) {
	// One seed per image kind and fixture (the first of each prefix): enough to reach every
	// decoder with every kind of entry the fixtures hold (files.img differs between them).
	seen := map[string]bool{}
	addImageSeeds(f, func(dir, n string) bool {
		if !strings.HasSuffix(n, ".img") || strings.HasPrefix(n, "pages-") {
			return false
		}
		kind := dir + "/" + strings.TrimRight(strings.TrimSuffix(n, ".img"), "0123456789abcdef-")
		if seen[kind] {
			return false
		}
		seen[kind] = true
		return true
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader("fuzz.img", bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrBadImage) {
				t.Fatalf("error without ErrBadImage: %v", err)
			}
			return
		}
		for range 10000 {
			m := messageFor(r.Magic)
			err := r.Next(m)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrBadImage) {
					t.Fatalf("error without ErrBadImage: %v", err)
				}
				return
			}
			var extra uint64
			switch e := m.(type) {
			case *pipe_data.PipeDataEntry:
				extra = uint64(e.GetBytes())
			case *sk_packet.SkPacketEntry:
				extra = uint64(e.GetLength())
			case *tcp_stream.TcpStreamEntry:
				extra = uint64(e.GetInqLen()) + uint64(e.GetOutqLen())
			}
			if extra > 0 {
				if _, err := r.Payload(extra); err != nil {
					return
				}
			}
			if r.Offset() > int64(len(data)) {
				t.Fatalf("offset %d past the end %d", r.Offset(), len(data))
			}
		}
	})
}

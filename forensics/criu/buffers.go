package criu

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	pipe_data "github.com/checkpoint-restore/go-criu/v8/crit/images/pipe-data"
	sk_packet "github.com/checkpoint-restore/go-criu/v8/crit/images/sk-packet"
	tcp_stream "github.com/checkpoint-restore/go-criu/v8/crit/images/tcp-stream"

	"github.com/podsleuth/podsleuth/forensics/archive"
)

// MaxBufferBytes bounds the queued bytes of one pipe, FIFO or socket queue that podsleuth
// indexes: more than any kernel queue holds with realistic settings (pipe-max-size defaults to
// 1 MiB, rmem_max and tcp_rmem to a few MiB). An image claiming more keeps its first
// MaxBufferBytes readable, and a warning says so.
const MaxBufferBytes = 16 << 20

// Bytes is queued data read on demand from its image: a list of byte ranges of the archive,
// never loaded whole.
type Bytes struct {
	parts []bytesPart
	size  int64
}

type bytesPart struct {
	r      io.ReaderAt
	at, n  int64 // range in r
	offset int64 // offset of the part in the data
}

// BytesOf wraps b (tests, callers holding the data already).
func BytesOf(b []byte) *Bytes {
	x := &Bytes{}
	x.add(bytes.NewReader(b), 0, int64(len(b)))
	return x
}

func (b *Bytes) add(r io.ReaderAt, at, n int64) {
	if n <= 0 {
		return
	}
	b.parts = append(b.parts, bytesPart{r: r, at: at, n: n, offset: b.size})
	b.size += n
}

// Size is the number of bytes.
func (b *Bytes) Size() int64 {
	if b == nil {
		return 0
	}
	return b.size
}

// ReadAt reads from the image ranges.
func (b *Bytes) ReadAt(p []byte, off int64) (int, error) {
	if b == nil || off >= b.size {
		return 0, io.EOF
	}
	done := 0
	for _, pt := range b.parts {
		if done == len(p) {
			break
		}
		cur := off + int64(done)
		if cur >= pt.offset+pt.n || cur < pt.offset {
			continue
		}
		k := min(int64(len(p)-done), pt.offset+pt.n-cur)
		n, err := pt.r.ReadAt(p[done:done+int(k)], pt.at+cur-pt.offset)
		done += n
		if err != nil && !(errors.Is(err, io.EOF) && int64(n) == k) {
			return done, err
		}
	}
	if done < len(p) {
		return done, io.EOF
	}
	return done, nil
}

// Head returns the first n bytes (fewer when the data is shorter or unreadable).
func (b *Bytes) Head(n int) []byte {
	buf := make([]byte, min(int64(n), b.Size()))
	k, _ := b.ReadAt(buf, 0)
	return buf[:k]
}

// TCPStream is the queued data of one TCP connection (tcp-stream-<inode>.img).
type TCPStream struct {
	// InQ was received but not yet read by the process; OutQ was written by the process but
	// not yet acknowledged by the peer (UnsentLen bytes of it not even sent).
	InQ, OutQ *Bytes
	UnsentLen uint32
}

// payload records the n bytes of queued data that follow the last entry as a range of the
// image, keeping at most what MaxBufferBytes leaves of total; what is cut is reported in warn.
func (ir *Reader) payload(into **Bytes, n uint64, what string, warn *[]string) error {
	off, err := ir.PayloadRange(n)
	if err != nil {
		return err
	}
	if *into == nil {
		*into = &Bytes{}
	}
	keep := min(int64(n), max(0, MaxBufferBytes-(*into).size))
	if keep < int64(n) {
		*warn = append(*warn, fmt.Sprintf("%s: %s: %d bytes queued at offset %d, more than any kernel queue holds: only the first %d bytes of it are indexed",
			ir.name, what, n, off, MaxBufferBytes))
	}
	(*into).add(ir.r, off, keep)
	return nil
}

// ReadPipeData returns the unread bytes of every pipe and FIFO (pipes-data.img and
// fifo-data.img), by pipe id, read on demand. Images that are absent yield an empty map.
// warnings name queues cut to MaxBufferBytes.
func ReadPipeData(a *archive.Archive) (out map[uint32]*Bytes, warnings []string, err error) {
	out = map[uint32]*Bytes{}
	for _, name := range []string{"pipes-data.img", "fifo-data.img"} {
		ir, err := OpenImage(a, name, "")
		if errors.Is(err, ErrMissingImage) {
			continue
		}
		if err != nil {
			return out, warnings, err
		}
		if ir.Magic != "PIPES_DATA" && ir.Magic != "FIFO_DATA" {
			return out, warnings, fmt.Errorf("%s: %w: magic %s, want PIPES_DATA or FIFO_DATA", name, ErrBadImage, ir.Magic)
		}
		for {
			var e pipe_data.PipeDataEntry
			if err := ir.Next(&e); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return out, warnings, err
			}
			b := out[e.GetPipeId()]
			if err := ir.payload(&b, uint64(e.GetBytes()), fmt.Sprintf("pipe %d", e.GetPipeId()), &warnings); err != nil {
				return out, warnings, err
			}
			out[e.GetPipeId()] = b
		}
	}
	return out, warnings, nil
}

// ReadSocketQueues returns the queued (received, unread) bytes of unix and packet sockets
// (sk-queues.img), by socket id (the id of the file entry), read on demand. An absent image
// yields an empty map.
func ReadSocketQueues(a *archive.Archive) (out map[uint32]*Bytes, warnings []string, err error) {
	out = map[uint32]*Bytes{}
	ir, err := OpenImage(a, "sk-queues.img", "SK_QUEUES")
	if errors.Is(err, ErrMissingImage) {
		return out, nil, nil
	}
	if err != nil {
		return out, nil, err
	}
	for {
		var e sk_packet.SkPacketEntry
		if err := ir.Next(&e); errors.Is(err, io.EOF) {
			return out, warnings, nil
		} else if err != nil {
			return out, warnings, err
		}
		b := out[e.GetIdFor()]
		if err := ir.payload(&b, uint64(e.GetLength()), fmt.Sprintf("socket id %d", e.GetIdFor()), &warnings); err != nil {
			return out, warnings, err
		}
		out[e.GetIdFor()] = b
	}
}

// ReadTCPStreams returns the queues of every dumped TCP connection, by socket inode
// (tcp-stream-<inode in hex>.img), read on demand.
func ReadTCPStreams(a *archive.Archive) (out map[uint32]TCPStream, warnings []string, err error) {
	out = map[uint32]TCPStream{}
	for _, name := range a.ImageNames() {
		if !strings.HasPrefix(name, "tcp-stream-") || !strings.HasSuffix(name, ".img") {
			continue
		}
		ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, "tcp-stream-"), ".img"), 16, 32)
		if err != nil {
			return out, warnings, fmt.Errorf("%s: %w: name does not end in a hex inode", name, ErrBadImage)
		}
		s, err := readTCPStream(a, name, &warnings)
		if err != nil {
			return out, warnings, err
		}
		out[uint32(ino)] = s
	}
	return out, warnings, nil
}

func readTCPStream(a *archive.Archive, name string, warn *[]string) (TCPStream, error) {
	ir, err := OpenImage(a, name, "TCP_STREAM")
	if err != nil {
		return TCPStream{}, err
	}
	var e tcp_stream.TcpStreamEntry
	if err := ir.Next(&e); err != nil {
		if errors.Is(err, io.EOF) {
			return TCPStream{}, fmt.Errorf("%s: %w: no entries", name, ErrBadImage)
		}
		return TCPStream{}, err
	}
	var s TCPStream
	if err := ir.payload(&s.InQ, uint64(e.GetInqLen()), "receive queue", warn); err != nil {
		return TCPStream{}, err
	}
	if err := ir.payload(&s.OutQ, uint64(e.GetOutqLen()), "send queue", warn); err != nil {
		return TCPStream{}, err
	}
	s.UnsentLen = e.GetUnsqLen()
	return s, nil
}

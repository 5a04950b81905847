package criu

import (
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

// TCPStream is the queued data of one TCP connection (tcp-stream-<inode>.img).
type TCPStream struct {
	// InQ was received but not yet read by the process; OutQ was written by the process but
	// not yet acknowledged by the peer (UnsentLen bytes of it not even sent).
	InQ, OutQ []byte
	UnsentLen uint32
}

// ReadPipeData returns the unread bytes of every pipe and FIFO (pipes-data.img and
// fifo-data.img), by pipe id. Images that are absent yield an empty map.
func ReadPipeData(a *archive.Archive) (map[uint32][]byte, error) {
	out := map[uint32][]byte{}
	for _, name := range []string{"pipes-data.img", "fifo-data.img"} {
		ir, err := OpenImage(a, name, "")
		if errors.Is(err, ErrMissingImage) {
			continue
		}
		if err != nil {
			return out, err
		}
		if ir.Magic != "PIPES_DATA" && ir.Magic != "FIFO_DATA" {
			return out, fmt.Errorf("%s: %w: magic %s, want PIPES_DATA or FIFO_DATA", name, ErrBadImage, ir.Magic)
		}
		for {
			var e pipe_data.PipeDataEntry
			if err := ir.Next(&e); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return out, err
			}
			b, err := ir.Payload(uint64(e.GetBytes()))
			if err != nil {
				return out, err
			}
			out[e.GetPipeId()] = append(out[e.GetPipeId()], b...)
		}
	}
	return out, nil
}

// ReadSocketQueues returns the queued (received, unread) bytes of unix and packet sockets
// (sk-queues.img), by socket id (the id of the file entry). An absent image yields an empty
// map.
func ReadSocketQueues(a *archive.Archive) (map[uint32][]byte, error) {
	out := map[uint32][]byte{}
	ir, err := OpenImage(a, "sk-queues.img", "SK_QUEUES")
	if errors.Is(err, ErrMissingImage) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	for {
		var e sk_packet.SkPacketEntry
		if err := ir.Next(&e); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return out, err
		}
		b, err := ir.Payload(uint64(e.GetLength()))
		if err != nil {
			return out, err
		}
		out[e.GetIdFor()] = append(out[e.GetIdFor()], b...)
	}
}

// ReadTCPStreams returns the queues of every dumped TCP connection, by socket inode
// (tcp-stream-<inode in hex>.img).
func ReadTCPStreams(a *archive.Archive) (map[uint32]TCPStream, error) {
	out := map[uint32]TCPStream{}
	for _, name := range a.ImageNames() {
		if !strings.HasPrefix(name, "tcp-stream-") || !strings.HasSuffix(name, ".img") {
			continue
		}
		ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, "tcp-stream-"), ".img"), 16, 32)
		if err != nil {
			return out, fmt.Errorf("%s: %w: name does not end in a hex inode", name, ErrBadImage)
		}
		s, err := readTCPStream(a, name)
		if err != nil {
			return out, err
		}
		out[uint32(ino)] = s
	}
	return out, nil
}

func readTCPStream(a *archive.Archive, name string) (TCPStream, error) {
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
	in, err := ir.Payload(uint64(e.GetInqLen()))
	if err != nil {
		return TCPStream{}, err
	}
	outq, err := ir.Payload(uint64(e.GetOutqLen()))
	if err != nil {
		return TCPStream{}, err
	}
	return TCPStream{InQ: in, OutQ: outq, UnsentLen: e.GetUnsqLen()}, nil
}

package criu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"github.com/checkpoint-restore/go-criu/v8/crit/images/fdinfo"

	"github.com/podsleuth/podsleuth/forensics"
)

// Preview renders up to n bytes of b printable: ASCII graphic characters and spaces stay,
// everything else becomes '.'.
func Preview(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 0x20 && c < 0x7f {
			out[i] = c
		} else {
			out[i] = '.'
		}
	}
	return string(out)
}

func (d *decoder) buffer(b *Bytes) *forensics.Buffer {
	if b.Size() == 0 {
		return nil
	}
	return &forensics.Buffer{Size: b.Size(), Preview: Preview(b.Head(d.o.PreviewBytes), d.o.PreviewBytes)}
}

// inetAddr decodes CRIU's address words (the in_addr/in6_addr bytes as host-order uint32s).
func inetAddr(family uint32, words []uint32) string {
	switch {
	case family == 2 && len(words) >= 1:
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], words[0])
		return netip.AddrFrom4(b).String()
	case family == 10 && len(words) >= 4:
		var b [16]byte
		for i := range 4 {
			binary.LittleEndian.PutUint32(b[i*4:], words[i])
		}
		return netip.AddrFrom16(b).String()
	}
	return ""
}

// sockets builds Checkpoint.Sockets from every socket file entry, with owners and queues.
func (d *decoder) sockets() {
	tcp, w, err := ReadTCPStreams(d.a)
	d.warnErr(err)
	d.warn = append(d.warn, w...)
	queues, w, err := ReadSocketQueues(d.a)
	d.warnErr(err)
	d.warn = append(d.warn, w...)
	ids := make([]uint32, 0, len(d.files))
	for id := range d.files {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		f := d.files[id]
		var s forensics.Socket
		switch f.GetType() {
		case fdinfo.FdTypes_INETSK:
			e := f.GetIsk()
			s = forensics.Socket{
				Ino: e.GetIno(), FileID: id, Type: SockType(e.GetType()), Protocol: IPProto(e.GetProto()),
				LocalAddr: inetAddr(e.GetFamily(), e.GetSrcAddr()), LocalPort: e.GetSrcPort(),
				RemoteAddr: inetAddr(e.GetFamily(), e.GetDstAddr()), RemotePort: e.GetDstPort(),
			}
			s.Family = "inet"
			if e.GetFamily() == 10 {
				s.Family = "inet6"
			}
			if e.GetProto() == 6 {
				s.State = TCPState(e.GetState())
				if e.GetState() == 10 {
					// For other states the field holds queue sizes, not a backlog.
					s.Backlog = e.GetBacklog()
				}
			} else if e.GetState() == 1 || e.GetDstPort() != 0 {
				s.State = "CONNECTED"
			} else {
				s.State = "UNCONNECTED"
			}
			if s.RemotePort == 0 && (s.RemoteAddr == "0.0.0.0" || s.RemoteAddr == "::") {
				s.RemoteAddr = ""
			}
			s.SendBuf, s.RecvBuf = e.GetOpts().GetSoSndbuf(), e.GetOpts().GetSoRcvbuf()
			if q, ok := tcp[e.GetIno()]; ok {
				s.RecvQueue, s.SendQueue = d.buffer(q.InQ), d.buffer(q.OutQ)
			}
		case fdinfo.FdTypes_UNIXSK:
			e := f.GetUsk()
			s = forensics.Socket{Ino: e.GetIno(), FileID: id, Family: "unix", Type: SockType(e.GetType()),
				PeerIno: e.GetPeer()}
			switch {
			case e.GetState() == 10:
				s.State = "LISTEN"
				s.Backlog = e.GetBacklog()
			case e.GetState() == 1 || e.GetPeer() != 0:
				s.State = "CONNECTED"
			default:
				s.State = "UNCONNECTED"
			}
			if name := e.GetName(); len(name) > 0 {
				if name[0] == 0 {
					s.Path = "@" + string(name[1:])
				} else {
					name = bytes.TrimRight(name, "\x00")
					s.Path = string(name)
					if dir := e.GetNameDir(); dir != "" && name[0] != '/' {
						s.Path = dir + "/" + s.Path
					}
					if e.GetDeleted() {
						s.Path += " (deleted)"
					}
				}
			}
			s.SendBuf, s.RecvBuf = e.GetOpts().GetSoSndbuf(), e.GetOpts().GetSoRcvbuf()
			s.RecvQueue = d.buffer(queues[id])
		case fdinfo.FdTypes_NETLINKSK:
			e := f.GetNlsk()
			s = forensics.Socket{Ino: e.GetIno(), FileID: id, Family: "netlink", Type: "raw",
				Protocol: NetlinkProto(e.GetProtocol()), LocalPort: e.GetPortid(), RemotePort: e.GetDstPortid()}
			s.SendBuf, s.RecvBuf = e.GetOpts().GetSoSndbuf(), e.GetOpts().GetSoRcvbuf()
			s.State = "UNCONNECTED"
			if e.GetDstPortid() != 0 || e.GetDstGroup() != 0 {
				s.State = "CONNECTED"
			}
		case fdinfo.FdTypes_PACKETSK:
			e := f.GetPsk()
			s = forensics.Socket{Ino: e.GetId(), FileID: id, Family: "packet", Type: SockType(e.GetType()),
				Protocol: fmt.Sprintf("0x%04x", swap16(e.GetProtocol())), State: "UNCONNECTED"}
			if e.GetIfindex() != 0 {
				s.State = "CONNECTED"
				s.LocalAddr = fmt.Sprintf("ifindex %d", e.GetIfindex())
			}
			s.SendBuf, s.RecvBuf = e.GetOpts().GetSoSndbuf(), e.GetOpts().GetSoRcvbuf()
			s.RecvQueue = d.buffer(queues[id])
		default:
			continue
		}
		s.Owners = slices.Clone(d.owners[id])
		sort.Ints(s.Owners)
		d.cp.Sockets = append(d.cp.Sockets, s)
	}
	sort.SliceStable(d.cp.Sockets, func(i, j int) bool { return d.cp.Sockets[i].Ino < d.cp.Sockets[j].Ino })
}

// swap16 turns a network-order 16-bit protocol (as packet sockets keep it) into host order.
func swap16(v uint32) uint32 { return (v&0xff)<<8 | (v>>8)&0xff }

// pipes builds Checkpoint.Pipes: one per pipe id, with owners and unread data.
func (d *decoder) pipes() {
	data, w, err := ReadPipeData(d.a)
	d.warnErr(err)
	d.warn = append(d.warn, w...)
	byID := map[uint32]*forensics.Pipe{}
	var order []uint32
	ids := make([]uint32, 0, len(d.files))
	for id := range d.files {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		f := d.files[id]
		var pid uint32
		fifo := false
		path := ""
		switch f.GetType() {
		case fdinfo.FdTypes_PIPE:
			pid = f.GetPipe().GetPipeId()
		case fdinfo.FdTypes_FIFO:
			pid, fifo = f.GetFifo().GetPipeId(), true
			path, _ = d.regPath(f.GetFifo().GetRegfId())
		default:
			continue
		}
		p, ok := byID[pid]
		if !ok {
			p = &forensics.Pipe{ID: pid, FIFO: fifo, Path: path, Buffer: d.buffer(data[pid])}
			byID[pid] = p
			order = append(order, pid)
		}
		for _, o := range d.owners[id] {
			if !slices.Contains(p.Owners, o) {
				p.Owners = append(p.Owners, o)
			}
		}
	}
	slices.Sort(order)
	for _, id := range order {
		p := byID[id]
		sort.Ints(p.Owners)
		d.cp.Pipes = append(d.cp.Pipes, *p)
	}
}

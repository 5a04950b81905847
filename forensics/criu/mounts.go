package criu

import (
	"fmt"
	"sort"
	"strings"

	"github.com/checkpoint-restore/go-criu/v8/crit/images/mnt"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/utsns"

	"github.com/podsleuth/podsleuth/forensics"
)

// namespacesAndMounts lists the namespaces the tasks live in (from their ids), with the UTS
// hostname, and the mount tables of the dumped mount namespaces (mountpoints-<id>.img).
func (d *decoder) namespacesAndMounts() {
	type key struct {
		typ string
		id  uint32
	}
	seen := map[key]bool{}
	var mntIDs []uint32
	pids := make([]int, 0, len(d.ids))
	for pid := range d.ids {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	for _, pid := range pids {
		ids := d.ids[pid]
		for _, n := range []struct {
			typ string
			id  uint32
		}{
			{"pid", ids.GetPidNsId()}, {"net", ids.GetNetNsId()}, {"ipc", ids.GetIpcNsId()},
			{"uts", ids.GetUtsNsId()}, {"mnt", ids.GetMntNsId()}, {"user", ids.GetUserNsId()},
			{"cgroup", ids.GetCgroupNsId()}, {"time", ids.GetTimeNsId()},
		} {
			if n.id == 0 || seen[key{n.typ, n.id}] {
				continue
			}
			seen[key{n.typ, n.id}] = true
			ns := forensics.Namespace{Type: n.typ, ID: n.id}
			if n.typ == "uts" {
				name := fmt.Sprintf("utsns-%d.img", n.id)
				if d.a.HasImage(name) {
					u, err := readOne(d.a, name, "UTSNS", func() *utsns.UtsnsEntry { return &utsns.UtsnsEntry{} })
					if err != nil {
						d.warnErr(err)
					} else {
						ns.Hostname, ns.Domainname = u.GetNodename(), u.GetDomainname()
					}
				}
			}
			if n.typ == "mnt" {
				mntIDs = append(mntIDs, n.id)
			}
			d.cp.Namespaces = append(d.cp.Namespaces, ns)
		}
	}
	order := map[string]int{"pid": 0, "net": 1, "ipc": 2, "uts": 3, "mnt": 4, "user": 5, "cgroup": 6, "time": 7}
	sort.SliceStable(d.cp.Namespaces, func(i, j int) bool {
		a, b := d.cp.Namespaces[i], d.cp.Namespaces[j]
		if a.Type != b.Type {
			return order[a.Type] < order[b.Type]
		}
		return a.ID < b.ID
	})
	for _, id := range mntIDs {
		name := fmt.Sprintf("mountpoints-%d.img", id)
		if !d.a.HasImage(name) {
			continue
		}
		entries, err := readImage(d.a, name, "MNTS", func() *mnt.MntEntry { return &mnt.MntEntry{} })
		d.warnErr(err)
		for _, e := range entries {
			fstype := e.GetFsname()
			if fstype == "" {
				fstype = kernelFSName(mnt.Fstype(e.GetFstype()))
				if fstype == "" || strings.HasPrefix(fstype, "fstype(") {
					fstype = fmt.Sprintf("fstype-%d", e.GetFstype())
				}
			}
			m := forensics.Mount{
				ID: e.GetMntId(), ParentID: e.GetParentMntId(), Mountpoint: e.GetMountpoint(),
				Root: e.GetRoot(), FSType: fstype, Source: e.GetSource(), Options: e.GetOptions(),
				External: e.GetExtKey(),
			}
			if m.External == "" && e.GetExtMount() {
				m.External = e.GetRoot()
			}
			d.cp.Mounts = append(d.cp.Mounts, m)
		}
	}
}

// kernelFSName turns CRIU's fstype enum into the name the kernel uses in /proc/PID/mountinfo.
func kernelFSName(t mnt.Fstype) string {
	switch t {
	case mnt.Fstype_OVERLAYFS:
		return "overlay"
	case mnt.Fstype_BINFMT_MISC:
		return "binfmt_misc"
	case mnt.Fstype_UNSUPPORTED:
		return "unsupported"
	}
	return strings.ToLower(t.String())
}

package criu

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/checkpoint-restore/go-criu/v8/crit/images/fdinfo"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/memfd"
	"github.com/checkpoint-restore/go-criu/v8/crit/images/mm"

	"github.com/podsleuth/podsleuth/forensics/archive"
)

// VMA status bits (criu/include/image.h) that say a mapping's contents live in a shared
// memory object (pagemap-shmem-SHMID.img) rather than in the process's own pagemap.
const (
	vmaAnonShared = 1 << 8
	vmaFileShared = 1 << 7
	vmaAreaMemfd  = 1 << 14
)

// ShmemMap is a shared mapping of a shmem or memfd object by a process: Start..End maps the
// object from byte offset Pgoff.
type ShmemMap struct {
	PID        int
	Start, End uint64
	Pgoff      uint64
	// ShmID names the object's pagemap-shmem-SHMID.img.
	ShmID uint64
	// Memfd is set for memfd mappings (the object is a memfd, named in MemfdNames).
	Memfd bool
}

// ShmemInfo ties shared memory objects to the processes that map or hold them.
type ShmemInfo struct {
	Maps []ShmemMap
	// MemfdNames maps a memfd's shmid to its name (memfd.img), without the "memfd:" prefix.
	MemfdNames map[uint64]string
	// MemfdFiles maps the file id of a memfd file (files.img; FD.FileID) to its shmid.
	MemfdFiles map[uint32]uint64
}

// ReadShmem reads which shared anonymous and memfd objects the processes map (mm-PID.img),
// and the memfd inodes (memfd.img) and files (files.img) that name them. CRIU dumps the pages
// of such objects once, in pagemap-shmem-SHMID.img, not in each process's pagemap
// (criu/shmem.c, criu/memfd.c). Missing images yield empty results.
func ReadShmem(a *archive.Archive, pids []int) (*ShmemInfo, error) {
	si := &ShmemInfo{MemfdNames: map[uint64]string{}, MemfdFiles: map[uint32]uint64{}}
	inodes := map[uint64]uint64{} // memfd inode id -> shmid
	if ents, err := readImage(a, "memfd.img", "", func() *memfd.MemfdInodeEntry { return &memfd.MemfdInodeEntry{} }); err == nil {
		for _, e := range ents {
			si.MemfdNames[uint64(e.GetShmid())] = e.GetName()
			inodes[e.GetInodeId()] = uint64(e.GetShmid())
		}
	} else if !errors.Is(err, ErrMissingImage) {
		return si, err
	}
	if ents, err := readImage(a, "files.img", "FILES", func() *fdinfo.FileEntry { return &fdinfo.FileEntry{} }); err == nil {
		for _, e := range ents {
			if m := e.GetMemfd(); m != nil {
				if shmid, ok := inodes[uint64(m.GetInodeId())]; ok {
					si.MemfdFiles[e.GetId()] = shmid
				}
			}
		}
	} else if !errors.Is(err, ErrMissingImage) {
		return si, err
	}
	for _, pid := range pids {
		name := "mm-" + strconv.Itoa(pid) + ".img"
		e, err := readOne(a, name, "MM", func() *mm.MmEntry { return &mm.MmEntry{} })
		if errors.Is(err, ErrMissingImage) {
			continue
		}
		if err != nil {
			return si, err
		}
		for _, v := range e.GetVmas() {
			st := v.GetStatus()
			sm := ShmemMap{PID: pid, Start: v.GetStart(), End: v.GetEnd(), Pgoff: v.GetPgoff()}
			switch {
			case st&vmaAreaMemfd != 0 && st&vmaFileShared != 0:
				shmid, ok := si.MemfdFiles[uint32(v.GetShmid())]
				if !ok {
					return si, fmt.Errorf("%s: %w: memfd mapping 0x%x-0x%x refers to file id %d, which is no memfd in files.img",
						name, ErrBadImage, v.GetStart(), v.GetEnd(), v.GetShmid())
				}
				sm.ShmID, sm.Memfd = shmid, true
			case st&vmaAnonShared != 0:
				sm.ShmID = v.GetShmid()
			default: // private mappings (memfd ones too) keep their written pages in the pagemap
				continue
			}
			si.Maps = append(si.Maps, sm)
		}
	}
	return si, nil
}

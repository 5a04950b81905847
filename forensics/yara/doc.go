// Package yara runs YARA rules over a checkpoint: every process's memory, one scan per VMA with
// its resident pages as memory blocks at their real virtual addresses (fetched on demand from the
// pages images through forensics/memory, never written to disk), and every saved object's
// content: memfd and shared memory, pipe buffers and socket queues, ghost files (deleted files
// CRIU saved), tmpfs and /dev/shm images, and the files of the container's rootfs changes. Each
// hit names its rule (tags, meta), the process (pid, comm), address, region kind, permissions and
// backing file, or the object and the processes holding it, and becomes a forensics.Finding.
//
// The engine is libyara through go-yara, linked with cgo only when built with the "yara" build
// tag (the Debian packages libyara-dev and golang-github-hillu-go-yara-dev; see the README). A
// build without the tag compiles and reports ErrNotBuilt from Load and Scan.
//
// Rules see these externals besides their own strings, set for each scanned block or object:
//
//	filename, filepath, extension  the backing file ("" for anonymous memory); filepath is its path
//	filetype                       "memory" or the object kind (see Kind*)
//	owner                          the comm of the process (or first holder)
//	ps_kind                        Kind* of what is scanned: memory, memfd, shmem, pipe, socket,
//	                               ghost, tmpfs, devshm, rootfs
//	ps_region                      the VMA as memory.Region names it: heap, stack, anon, memfd:NAME,
//	                               file:/path, ... ("" for objects)
//	ps_perm                        the VMA's permissions, "rwxp" style ("" for objects)
//	ps_pid, ps_comm                the process (first holder for objects; 0 and "" when none)
//	ps_base                        the address of the scanned VMA (0 for objects): a header at the
//	                               start of a mapping is "$mz at ps_base"
//	ps_exec                        the mapping is executable
//
// It imports the forensics model, forensics/archive, forensics/criu and forensics/memory, never
// k8s.io/... or charm.land/....
package yara

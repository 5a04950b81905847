package forensics

import "time"

// SchemaVersion names the version of the JSON encoding of Checkpoint. It changes only when a
// field is removed or changes meaning; new fields are added without a version change.
const SchemaVersion = "podsleuth.checkpoint/v1"

// Checkpoint is the decoded content of one checkpoint: the single source of truth that the CLI
// (text and JSON), the TUI and the reports render from. It carries no styling and no handles to
// open files; memory contents are read on demand through forensics/memory.
type Checkpoint struct {
	SchemaVersion string `json:"schema_version"`
	// Source says which archive or image directory this was decoded from.
	Source Source `json:"source"`
	// Container is the container metadata of a container checkpoint archive (config.dump,
	// spec.dump, status); nil for a bare CRIU image directory.
	Container *Container `json:"container,omitempty"`
	// CRIU describes the CRIU images themselves (inventory, dump statistics).
	CRIU CRIUInfo `json:"criu"`
	// Processes is every process of the dumped tree, sorted by PID. The tree is PPID/Children.
	Processes []Process `json:"processes"`
	// Sockets is every socket any process holds, sorted by inode; FD.SocketIno points here.
	Sockets []Socket `json:"sockets,omitempty"`
	// Pipes is every pipe and FIFO any process holds, with unread buffered data.
	Pipes []Pipe `json:"pipes,omitempty"`
	// Mounts is the mount table of the dumped mount namespace(s), in CRIU's order.
	Mounts []Mount `json:"mounts,omitempty"`
	// Namespaces lists the namespaces CRIU recorded for the tree.
	Namespaces []Namespace `json:"namespaces,omitempty"`
	// Rootfs lists the changes to the container's root filesystem (rootfs-diff.tar and
	// deleted.files); empty for bare CRIU image directories.
	Rootfs []RootfsChange `json:"rootfs_changes,omitempty"`
	// RootfsBase names the base image the rootfs changes were classified against
	// (forensics/base: "rootfs tar base.tar", "registry ..."); "" when none was given, and then
	// an "added" change may as well be modified (RootfsKind).
	RootfsBase string `json:"rootfs_base,omitempty"`
	// Findings are the suspicious things analysis found, most severe first. Filled by
	// forensics/findings, not by the decoder.
	Findings []Finding `json:"findings,omitempty"`
	// Warnings are the parts of the input that could not be decoded; each names the image
	// member and the problem. A checkpoint with warnings is still usable.
	Warnings []string `json:"warnings,omitempty"`
	// InvalidUTF8 keeps every string of the model that is not valid UTF-8 recoverable: JSON
	// can only carry valid UTF-8 (each invalid byte becomes U+FFFD in the string itself), so
	// the exact bytes are here, base64, by the JSON pointer of the string
	// ("/processes/0/comm"). Empty when every string is valid.
	InvalidUTF8 map[string]string `json:"invalid_utf8,omitempty"`
}

// Source identifies the decoded input.
type Source struct {
	// Path is the archive file or image directory as given.
	Path string `json:"path"`
	// Format is one of "tar", "tar.gz", "tar.zst" or "dir" (bare CRIU image directory),
	// detected from content, not from the file name.
	Format string `json:"format"`
	// Size is the archive's size in bytes as stored (compressed); 0 for a directory.
	Size int64 `json:"size"`
	// SHA256 is the hex SHA-256 of the archive file; empty for a directory.
	SHA256 string `json:"sha256,omitempty"`
}

// Container is what the container engine recorded next to the CRIU images.
type Container struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	// Engine is "CRI-O", "containerd", "Podman" or "unknown", as checkpointctl names them.
	Engine string `json:"engine"`
	// Runtime is the OCI runtime (runc, crun) when recorded.
	Runtime  string `json:"runtime,omitempty"`
	Image    string `json:"image,omitempty"`
	ImageRef string `json:"image_ref,omitempty"`
	ImageID  string `json:"image_id,omitempty"`
	// Created and Checkpointed are in UTC; zero when not recorded.
	Created      time.Time `json:"created,omitzero"`
	Checkpointed time.Time `json:"checkpointed,omitzero"`
	// Kubernetes pod metadata from the runtime's annotations, when the container ran in a pod.
	Pod          *PodRef           `json:"pod,omitempty"`
	Hostname     string            `json:"hostname,omitempty"`
	Args         []string          `json:"args,omitempty"`
	Env          []string          `json:"env,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	RootfsDiffSz int64             `json:"rootfs_diff_size,omitempty"`
	// Networks are the container's network attachments as the engine recorded them
	// (Podman's network.status, CRI-O's io.kubernetes.cri-o.IP.N annotations).
	Networks []ContainerNetwork `json:"networks,omitempty"`
}

// ContainerNetwork is one network interface of a container.
type ContainerNetwork struct {
	// Network is the engine's network name ("podman", a CNI network); empty when unknown.
	Network   string `json:"network,omitempty"`
	Interface string `json:"interface,omitempty"`
	// Addresses are IP addresses, in CIDR notation when the prefix is known.
	Addresses []string `json:"addresses,omitempty"`
	MAC       string   `json:"mac,omitempty"`
	Gateway   string   `json:"gateway,omitempty"`
}

// PodRef names the Kubernetes pod a container belonged to.
type PodRef struct {
	Namespace     string `json:"namespace"`
	Name          string `json:"name"`
	UID           string `json:"uid,omitempty"`
	ContainerName string `json:"container_name,omitempty"`
}

// CRIUInfo describes the CRIU image set.
type CRIUInfo struct {
	// ImageVersion is inventory.img's img_version.
	ImageVersion uint32 `json:"image_version"`
	// DumpedAt is when CRIU wrote the images: inventory.img's modification time as the archive
	// (or directory) records it, in UTC; zero when unknown.
	DumpedAt time.Time `json:"dumped_at,omitzero"`
	// PagemapFormat is "nr_pages" (criu >= 4.2) or "compat_nr_pages" (older), as seen in the
	// pagemap images; empty when there were no pagemap entries.
	PagemapFormat string `json:"pagemap_format,omitempty"`
	// Dump holds CRIU's own dump statistics (stats-dump), when present.
	Dump *DumpStats `json:"dump_stats,omitempty"`
	// Images lists the image files with their sizes, sorted by name.
	Images []ImageFile `json:"images,omitempty"`
}

// ImageFile is one file of the CRIU image set.
type ImageFile struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// DumpStats mirrors CRIU's dump statistics (stats.proto, dump_stats_entry); times in microseconds.
type DumpStats struct {
	FreezingTime       uint32 `json:"freezing_time_us"`
	FrozenTime         uint32 `json:"frozen_time_us"`
	MemdumpTime        uint32 `json:"memdump_time_us"`
	MemwriteTime       uint32 `json:"memwrite_time_us"`
	PagesScanned       uint64 `json:"pages_scanned"`
	PagesSkippedParent uint64 `json:"pages_skipped_parent"`
	PagesWritten       uint64 `json:"pages_written"`
	PagesLazy          uint64 `json:"pages_lazy,omitempty"`
}

// Process is one task of the dumped tree. PIDs are as CRIU recorded them: inside the
// container's PID namespace.
type Process struct {
	PID  int    `json:"pid"`
	PPID int    `json:"ppid"`
	PGID int    `json:"pgid"`
	SID  int    `json:"sid"`
	Comm string `json:"comm"`
	// State is the task state CRIU recorded: "alive", "stopped", "zombie" or "dead".
	State string `json:"state"`
	// Threads lists the thread IDs, the main thread first.
	Threads []int `json:"threads"`
	// ThreadNames are the threads' names (comm), in the order of Threads; nil for a process
	// with one thread or when CRIU recorded none.
	ThreadNames []string `json:"thread_names,omitempty"`
	// Exe is the path of the executable (mm exe_file_id); ExeDeleted when it was unlinked.
	Exe        string `json:"exe,omitempty"`
	ExeDeleted bool   `json:"exe_deleted,omitempty"`
	// Cmdline and Environ are read from the process's argument and environment memory
	// (mm_arg_start..end, mm_env_start..end); nil when those pages were not dumped.
	Cmdline []string `json:"cmdline"`
	Environ []string `json:"environ"`
	Creds   Creds    `json:"creds"`
	Cwd     string   `json:"cwd,omitempty"`
	Root    string   `json:"root,omitempty"`
	FDs     []FD     `json:"fds"`
	Maps    []VMA    `json:"maps"`
	// Children are the PIDs of the direct children, sorted.
	Children []int `json:"children,omitempty"`
}

// Creds are a task's credentials (creds.proto).
type Creds struct {
	UID    uint32   `json:"uid"`
	EUID   uint32   `json:"euid"`
	SUID   uint32   `json:"suid"`
	FSUID  uint32   `json:"fsuid"`
	GID    uint32   `json:"gid"`
	EGID   uint32   `json:"egid"`
	SGID   uint32   `json:"sgid"`
	FSGID  uint32   `json:"fsgid"`
	Groups []uint32 `json:"groups,omitempty"`
	// Capability sets as names (CAP_NET_ADMIN, ...).
	CapEff []string `json:"cap_eff,omitempty"`
	CapPrm []string `json:"cap_prm,omitempty"`
	CapInh []string `json:"cap_inh,omitempty"`
	CapBnd []string `json:"cap_bnd,omitempty"`
	// NoNewPrivs and Seccomp ("disabled", "strict", "filter") come from the task's core image.
	NoNewPrivs bool   `json:"no_new_privs,omitempty"`
	Seccomp    string `json:"seccomp,omitempty"`
	LSMProfile string `json:"lsm_profile,omitempty"`
}

// FD types, as named in the model and in output.
const (
	FDRegular   = "REG"
	FDDir       = "DIR"
	FDPipe      = "PIPE"
	FDFifo      = "FIFO"
	FDInet      = "INETSK"
	FDUnix      = "UNIXSK"
	FDNetlink   = "NETLINKSK"
	FDPacket    = "PACKETSK"
	FDEventFD   = "EVENTFD"
	FDEventPoll = "EVENTPOLL"
	FDSignalFD  = "SIGNALFD"
	FDTimerFD   = "TIMERFD"
	FDInotify   = "INOTIFY"
	FDFanotify  = "FANOTIFY"
	FDTTY       = "TTY"
	FDMemfd     = "MEMFD"
	FDTun       = "TUN"
	FDBPFMap    = "BPFMAP"
	FDPidfd     = "PIDFD"
	FDExt       = "EXT"
	FDUnknown   = "UNKNOWN"
)

// FD is one open file descriptor of a process.
type FD struct {
	FD   int    `json:"fd"`
	Type string `json:"type"`
	// Path is the file's path for regular files, directories, FIFOs and memfds
	// ("memfd:NAME"); for sockets and pipes a descriptive target such as
	// "pipe:[ID]", "socket:[INODE]".
	Path    string `json:"path"`
	Flags   string `json:"flags,omitempty"` // O_RDWR|O_APPEND...
	Pos     int64  `json:"pos,omitempty"`
	Size    int64  `json:"size,omitempty"`
	Mode    uint32 `json:"mode,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	// FileID is CRIU's file id (files.img), shared by fds that refer to the same open file.
	FileID uint32 `json:"file_id"`
	// SocketIno is set for sockets: the inode in Checkpoint.Sockets.
	SocketIno uint32 `json:"socket_ino,omitempty"`
	// PipeID is set for pipes and FIFOs: the id in Checkpoint.Pipes.
	PipeID uint32 `json:"pipe_id,omitempty"`
	// The state of kernel objects that are neither files nor sockets, as CRIU saved it; at
	// most one is set, matching Type.
	EventFD  *EventFD  `json:"eventfd,omitempty"`
	TimerFD  *TimerFD  `json:"timerfd,omitempty"`
	SignalFD *SignalFD `json:"signalfd,omitempty"`
	Inotify  *Inotify  `json:"inotify,omitempty"`
	Epoll    *Epoll    `json:"epoll,omitempty"`
	TTY      *TTY      `json:"tty,omitempty"`
}

// EventFD is an eventfd's state (CRIU eventfd.proto). CRIU 4.2 does not record EFD_SEMAPHORE,
// so the image cannot tell a semaphore eventfd from a plain one; EFD_NONBLOCK and EFD_CLOEXEC
// are FD.Flags' O_NONBLOCK and O_CLOEXEC.
type EventFD struct {
	// Counter is the 64-bit counter: the sum written and not yet read.
	Counter uint64 `json:"counter"`
}

// TimerFD is a timerfd's clock and setting (CRIU timerfd.proto, from /proc/PID/fdinfo).
type TimerFD struct {
	// Clock is "CLOCK_REALTIME", "CLOCK_MONOTONIC", "CLOCK_BOOTTIME", "CLOCK_REALTIME_ALARM",
	// "CLOCK_BOOTTIME_ALARM" or "CLOCK_<n>".
	Clock string `json:"clock"`
	// Value is the time left until the next expiry when CRIU read it (0: disarmed); Interval
	// the period after that (0: one-shot). JSON: nanoseconds.
	Value    time.Duration `json:"value_ns"`
	Interval time.Duration `json:"interval_ns"`
	// Ticks is the number of expirations not yet read.
	Ticks uint64 `json:"ticks,omitempty"`
	// Abstime says the timer was set with TFD_TIMER_ABSTIME (Value is still the time left).
	Abstime bool `json:"abstime,omitempty"`
}

// SignalFD is the set of signals a signalfd accepts (CRIU signalfd.proto).
type SignalFD struct {
	// Signals names the mask's signals in signal number order, "SIGHUP|SIGUSR2"; real-time
	// signals are "SIGRTMIN+n" as kill -l names them.
	Signals string `json:"signals"`
}

// Inotify is an inotify instance's watches (CRIU fsnotify.proto).
type Inotify struct {
	// Watches are sorted by watch descriptor.
	Watches []InotifyWatch `json:"watches"`
}

// InotifyWatch is one inotify watch.
type InotifyWatch struct {
	WD int32 `json:"wd"`
	// Path is the watched file or directory as CRIU resolved it from its file handle (empty
	// when CRIU recorded none: then only Ino and Dev identify it).
	Path string `json:"path,omitempty"`
	Ino  uint64 `json:"ino"`
	// Dev is the watched inode's filesystem device, "major:minor".
	Dev string `json:"dev"`
	// Mask names the watched events, "IN_MODIFY|IN_CLOSE_WRITE" (inotify(7) names; unknown
	// bits in hex).
	Mask string `json:"mask"`
}

// Epoll is an epoll instance's interest list (CRIU eventpoll.proto).
type Epoll struct {
	// Targets are sorted by fd.
	Targets []EpollTarget `json:"targets"`
}

// EpollTarget is one file descriptor an epoll instance watches.
type EpollTarget struct {
	// FD is the watched descriptor's number in the same process.
	FD int `json:"fd"`
	// Events names the event mask, "EPOLLIN|EPOLLERR|EPOLLHUP|EPOLLET" (the kernel always adds
	// EPOLLERR and EPOLLHUP).
	Events string `json:"events"`
	// Data is the user data registered with the target, in hex ("0xfeed0003"): often a pointer
	// into the process's memory.
	Data string `json:"data"`
}

// TTY is a terminal's state (CRIU tty.proto tty_info_entry).
type TTY struct {
	// Type is "PTY", "CONSOLE", "VT", "CTTY", "EXT_TTY", "SERIAL" or "UNKNOWN".
	Type string `json:"type"`
	// Master is set for a pseudo-terminal's master end (/dev/ptmx); Index is a PTY's number,
	// the N of /dev/pts/N, for both ends.
	Master bool   `json:"master,omitempty"`
	Index  uint32 `json:"index"`
	// Rdev is the device number of the terminal, "major:minor" (ptmx is 5:2, pts 136+:N).
	Rdev string `json:"rdev"`
	// SID and PGRP are the session and foreground process group when the terminal is a
	// controlling terminal; 0 otherwise.
	SID  uint32 `json:"sid,omitempty"`
	PGRP uint32 `json:"pgrp,omitempty"`
	// Rows and Cols are the window size.
	Rows uint32 `json:"rows,omitempty"`
	Cols uint32 `json:"cols,omitempty"`
}

// Socket is one socket of the dumped tree.
type Socket struct {
	Ino    uint32 `json:"ino"`
	FileID uint32 `json:"file_id"`
	// Family is "inet", "inet6", "unix", "netlink" or "packet".
	Family string `json:"family"`
	// Type is "stream", "dgram", "seqpacket", "raw" or "packet".
	Type string `json:"type"`
	// Protocol is "tcp", "udp", "udplite", "icmp" or a number; for netlink the netlink
	// protocol name.
	Protocol string `json:"protocol,omitempty"`
	// State is the TCP state ("LISTEN", "ESTABLISHED", ...) or "UNCONNECTED"/"CONNECTED" for
	// others.
	State      string `json:"state"`
	LocalAddr  string `json:"local_addr,omitempty"`
	LocalPort  uint32 `json:"local_port,omitempty"`
	RemoteAddr string `json:"remote_addr,omitempty"`
	RemotePort uint32 `json:"remote_port,omitempty"`
	// Path is a unix socket's bound name (abstract names start with "@"); PeerIno its peer.
	Path    string `json:"path,omitempty"`
	PeerIno uint32 `json:"peer_ino,omitempty"`
	Backlog uint32 `json:"backlog,omitempty"`
	// SendBuf and RecvBuf are the socket's buffer sizes in bytes (SO_SNDBUF, SO_RCVBUF as the
	// kernel reports them, i.e. doubled from what setsockopt asked), from CRIU's sk-opts; 0 when
	// the image does not record them.
	SendBuf uint32 `json:"send_buf,omitempty"`
	RecvBuf uint32 `json:"recv_buf,omitempty"`
	// Queues hold data that was sent or received but not yet read.
	SendQueue *Buffer `json:"send_queue,omitempty"`
	RecvQueue *Buffer `json:"recv_queue,omitempty"`
	// Owners are the PIDs holding the socket.
	Owners []int `json:"owners,omitempty"`
}

// Pipe is a pipe or FIFO with the data still buffered in it.
type Pipe struct {
	ID     uint32  `json:"id"`
	FIFO   bool    `json:"fifo,omitempty"`
	Path   string  `json:"path,omitempty"`
	Buffer *Buffer `json:"buffer,omitempty"`
	Owners []int   `json:"owners,omitempty"`
}

// Buffer is queued data: its size and a printable preview (non-printable bytes as '.').
// The bytes themselves are read through forensics/memory.
type Buffer struct {
	Size    int64  `json:"size"`
	Preview string `json:"preview,omitempty"`
}

// VMA is one memory mapping of a process.
type VMA struct {
	Start uint64 `json:"start"`
	End   uint64 `json:"end"`
	// Prot is "rwx" style with '-' for missing bits, followed by 'p' (private) or 's' (shared),
	// as in /proc/PID/maps.
	Prot   string `json:"prot"`
	Shared bool   `json:"shared,omitempty"`
	// Kind is "file", "anon", "heap", "stack", "vdso", "vvar", "vsyscall", "shmem" or "memfd".
	Kind    string `json:"kind"`
	Path    string `json:"path,omitempty"`
	Offset  uint64 `json:"offset,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	// ResidentBytes is how much of the mapping has contents in the checkpoint's page images.
	ResidentBytes uint64 `json:"resident_bytes"`
}

// Size is the mapping's length in bytes.
func (v VMA) Size() uint64 { return v.End - v.Start }

// Executable says whether the mapping is mapped with PROT_EXEC.
func (v VMA) Executable() bool { return len(v.Prot) > 2 && v.Prot[2] == 'x' }

// Writable says whether the mapping is mapped with PROT_WRITE.
func (v VMA) Writable() bool { return len(v.Prot) > 1 && v.Prot[1] == 'w' }

// Mount is one mount of the dumped mount namespace.
type Mount struct {
	ID         uint32 `json:"id"`
	ParentID   uint32 `json:"parent_id"`
	Mountpoint string `json:"mountpoint"`
	Root       string `json:"root"`
	FSType     string `json:"fstype"`
	Source     string `json:"source,omitempty"`
	Options    string `json:"options,omitempty"`
	// External is the key of an external (bind) mount, as the container engine named it.
	External string `json:"external,omitempty"`
}

// Namespace is one namespace the tree lives in.
type Namespace struct {
	Type string `json:"type"` // net, pid, mnt, uts, ipc, user, cgroup, time
	ID   uint32 `json:"id"`
	// Hostname and Domainname are set for UTS namespaces.
	Hostname   string `json:"hostname,omitempty"`
	Domainname string `json:"domainname,omitempty"`
}

// RootfsChange kinds.
const (
	RootfsAdded    = "added"
	RootfsModified = "modified"
	RootfsDeleted  = "deleted"
)

// RootfsAddedOrModified is how a change the diff lists is named when no base image told
// added from modified (RootfsKind).
const RootfsAddedOrModified = "added or modified"

// RootfsKind names the kind of a rootfs change honestly: its Kind, except that an "added"
// change of a checkpoint not classified against a base image (RootfsBase empty) is "added or
// modified": the rootfs diff alone cannot tell.
func (c *Checkpoint) RootfsKind(r RootfsChange) string {
	if r.Kind == RootfsAdded && c.RootfsBase == "" {
		return RootfsAddedOrModified
	}
	return r.Kind
}

// RootfsChange is one entry of the container's root filesystem changes.
type RootfsChange struct {
	Path string `json:"path"`
	// Kind is "added", "modified" or "deleted". The rootfs diff does not tell added from
	// modified; the decoder says "modified" only when it can tell (whiteouts, base image).
	Kind string `json:"kind"`
	// Type is "file", "dir", "symlink", "hardlink", "char", "block" or "fifo".
	Type       string    `json:"type"`
	Size       int64     `json:"size,omitempty"`
	Mode       string    `json:"mode,omitempty"` // -rwxr-xr-x
	Executable bool      `json:"executable,omitempty"`
	ModTime    time.Time `json:"mtime,omitzero"`
	LinkTarget string    `json:"link_target,omitempty"`
	UID        int       `json:"uid,omitempty"`
	GID        int       `json:"gid,omitempty"`
	// Traversal: the name in the diff was absolute or had ".." components, so extracting it
	// as named would write outside the container's root; Path is its cleaned form.
	Traversal bool `json:"traversal,omitempty"`
	// NameBytes is the length of the name in the diff when it was longer than PATH_MAX
	// (4096 bytes) and Path (and LinkTarget) were cut; 0 otherwise.
	NameBytes int `json:"name_bytes,omitempty"`
}

// Finding is one suspicious thing, with where it is.
type Finding struct {
	// Rule is a stable identifier such as "anon-exec-mapping" or "deleted-exe".
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// Technique is the MITRE ATT&CK technique the rule points to ("T1620", "T1059.004"); empty
	// for context rules.
	Technique string   `json:"technique,omitempty"`
	Title     string   `json:"title"`
	Reason    string   `json:"reason"`
	Location  Location `json:"location"`
}

// Location says where a finding or an indicator was seen. Only the fields that apply are set.
type Location struct {
	// Kind is "memory", "env", "cmdline", "socket", "file", "rootfs", "pipe", "shmem", "process".
	Kind string `json:"kind"`
	PID  int    `json:"pid,omitempty"`
	// TID is the thread, for findings about one thread of a process.
	TID   int    `json:"tid,omitempty"`
	Comm  string `json:"comm,omitempty"`
	Start uint64 `json:"start,omitempty"`
	End   uint64 `json:"end,omitempty"`
	Addr  uint64 `json:"addr,omitempty"`
	Path  string `json:"path,omitempty"`
	FD    int    `json:"fd,omitempty"`
	// Region describes the VMA ("heap", "anon rwx", "file:/usr/lib/x.so", ...).
	Region string `json:"region,omitempty"`
	Socket string `json:"socket,omitempty"`
}

// IOC is one indicator of compromise, deduplicated by (Type, Value).
type IOC struct {
	// Type is "ipv4", "ipv6", "url", "domain", "email", "aws-access-key-id",
	// "aws-secret-access-key", "gcp-api-key", "gcp-service-account", "azure-storage-key",
	// "jwt", "private-key", "bearer-token" or "env-secret".
	Type string `json:"type"`
	// Value is redacted ("AK…LE sha256:ab12cd34") for secrets unless revealed.
	Value    string `json:"value"`
	Secret   bool   `json:"secret,omitempty"`
	Redacted bool   `json:"redacted,omitempty"`
	// SHA256 is the hash of the unredacted value, so redacted values can still be correlated.
	SHA256 string     `json:"sha256"`
	Count  int        `json:"count"`
	Where  []Location `json:"where"`
	// Confidence is "high", "medium" (a bare address or name seen only in memory) or "low"
	// (seen only inside read-only mappings of unchanged system files); set by the analysis.
	Confidence string `json:"confidence,omitempty"`
}

// Process returns the process with the given PID, or nil.
func (c *Checkpoint) Process(pid int) *Process {
	// Processes are sorted by PID (the decoder's contract): a binary search keeps callers that
	// look up every process linear-logarithmic even for a huge tree. Small hand-built models
	// may be unsorted: they are scanned.
	ps := c.Processes
	lo, hi := 0, len(ps)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ps[m].PID < pid {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(ps) && ps[lo].PID == pid {
		return &ps[lo]
	}
	if len(ps) <= 256 {
		for i := range ps {
			if ps[i].PID == pid {
				return &ps[i]
			}
		}
	}
	return nil
}

// Socket returns the socket with the given inode, or nil.
func (c *Checkpoint) Socket(ino uint32) *Socket {
	for i := range c.Sockets {
		if c.Sockets[i].Ino == ino {
			return &c.Sockets[i]
		}
	}
	return nil
}

// Roots returns the PIDs of the processes whose parent is not in the tree, sorted.
func (c *Checkpoint) Roots() []int {
	in := make(map[int]bool, len(c.Processes))
	for _, p := range c.Processes {
		in[p.PID] = true
	}
	var roots []int
	for _, p := range c.Processes {
		if !in[p.PPID] || p.PPID == p.PID {
			roots = append(roots, p.PID)
		}
	}
	return roots
}

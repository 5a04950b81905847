package report

import (
	"time"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/diff"
	"github.com/podsleuth/podsleuth/forensics/evidence"
)

// SchemaVersion names the JSON encoding of Report. Fields may be added without a version
// change; removing or changing the meaning of one makes a new version.
const SchemaVersion = "podsleuth.report/v1"

// Report is a whole case report. Every list is non-nil so that JSON consumers see [] rather
// than null.
type Report struct {
	SchemaVersion string          `json:"schema_version"`
	Tool          Tool            `json:"tool"`
	GeneratedAt   time.Time       `json:"generated_at"`
	Case          Case            `json:"case"`
	Redacted      bool            `json:"redacted"`
	Summary       Summary         `json:"summary"`
	Conclusions   []Conclusion    `json:"conclusions"`
	Findings      []Finding       `json:"findings"`
	Evidence      []Evidence      `json:"evidence"`
	Checkpoints   []Checkpoint    `json:"checkpoints"`
	IOCs          []IOC           `json:"iocs"`
	Timeline      []TimelineEvent `json:"timeline"`
	Diff          *diff.Result    `json:"diff,omitempty"`
}

// Tool names the program that wrote the report.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Case is the report's case header.
type Case struct {
	ID      string `json:"id"`
	Analyst string `json:"analyst"`
	Notes   string `json:"notes"`
}

// Summary counts what the report contains.
type Summary struct {
	Checkpoints int            `json:"checkpoints"`
	Processes   int            `json:"processes"`
	Sockets     int            `json:"sockets"`
	OpenFiles   int            `json:"open_files"`
	IOCs        int            `json:"iocs"`
	Secrets     int            `json:"secrets"`
	Warnings    int            `json:"warnings"`
	Findings    SeverityCounts `json:"findings"`
}

// SeverityCounts counts findings by severity.
type SeverityCounts struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
	Low      int `json:"low"`
	Info     int `json:"info"`
	Total    int `json:"total"`
}

// Finding is a finding with the evidence it was found in.
type Finding struct {
	Evidence string `json:"evidence"`
	forensics.Finding
}

// Evidence is one input archive or image directory.
type Evidence struct {
	// ID is the report-local label ("E1", "E2", ...) that sections refer to.
	ID       string `json:"id"`
	FileName string `json:"file_name"`
	Path     string `json:"path"`
	Format   string `json:"format"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	// StoreID, Manifest and Custody are set when the archive came from the evidence store.
	StoreID  string             `json:"store_id,omitempty"`
	Manifest *evidence.Manifest `json:"manifest,omitempty"`
	Custody  []evidence.Event   `json:"custody,omitempty"`
	// Verification is the re-check of store evidence when it was opened for the report.
	Verification *Verification `json:"verification,omitempty"`
}

// Checkpoint is the detail sections of one piece of evidence.
type Checkpoint struct {
	Evidence      string                   `json:"evidence"`
	Title         string                   `json:"title"`
	Container     *forensics.Container     `json:"container,omitempty"`
	CRIU          CRIU                     `json:"criu"`
	Namespaces    []forensics.Namespace    `json:"namespaces"`
	Processes     []Process                `json:"processes"`
	Network       []Socket                 `json:"network"`
	OpenFiles     []OpenFile               `json:"open_files"`
	Mounts        []forensics.Mount        `json:"mounts"`
	RootfsChanges []forensics.RootfsChange `json:"rootfs_changes"`
	// RootfsDiffs show how the modified files differ from the base image (only with one).
	RootfsDiffs []RootfsDiff    `json:"rootfs_diffs,omitempty"`
	MemoryMaps  []MemorySummary `json:"memory_maps"`
	Warnings    []string        `json:"warnings"`
}

// CRIU summarises the image set.
type CRIU struct {
	ImageVersion  uint32               `json:"image_version"`
	PagemapFormat string               `json:"pagemap_format,omitempty"`
	DumpStats     *forensics.DumpStats `json:"dump_stats,omitempty"`
	ImageFiles    int                  `json:"image_files"`
	ImageBytes    int64                `json:"image_bytes"`
}

// Process is one process with the counts the tables show. Depth is its depth in the tree (0 for
// roots), in tree order, at most MaxTreeDepth; TreeDepth is the real depth when it is deeper
// (the tree is shown flat beyond MaxTreeDepth, so output stays linear in the process count).
type Process struct {
	PID           int      `json:"pid"`
	PPID          int      `json:"ppid"`
	PGID          int      `json:"pgid"`
	SID           int      `json:"sid"`
	Depth         int      `json:"depth"`
	TreeDepth     int      `json:"tree_depth,omitempty"`
	Comm          string   `json:"comm"`
	State         string   `json:"state"`
	Threads       int      `json:"threads"`
	Exe           string   `json:"exe,omitempty"`
	ExeDeleted    bool     `json:"exe_deleted,omitempty"`
	Cmdline       []string `json:"cmdline"`
	Environ       []string `json:"environ"`
	UID           uint32   `json:"uid"`
	EUID          uint32   `json:"euid"`
	GID           uint32   `json:"gid"`
	EGID          uint32   `json:"egid"`
	CapEff        []string `json:"cap_eff"`
	Seccomp       string   `json:"seccomp,omitempty"`
	NoNewPrivs    bool     `json:"no_new_privs,omitempty"`
	Cwd           string   `json:"cwd,omitempty"`
	Root          string   `json:"root,omitempty"`
	Children      []int    `json:"children"`
	FDs           int      `json:"fds"`
	VMAs          int      `json:"vmas"`
	MappedBytes   uint64   `json:"mapped_bytes"`
	ResidentBytes uint64   `json:"resident_bytes"`
}

// Socket is one socket with its endpoint rendered and its queues summarised.
type Socket struct {
	Ino        uint32 `json:"ino"`
	Family     string `json:"family"`
	Type       string `json:"type"`
	Protocol   string `json:"protocol,omitempty"`
	State      string `json:"state"`
	LocalAddr  string `json:"local_addr,omitempty"`
	LocalPort  uint32 `json:"local_port,omitempty"`
	RemoteAddr string `json:"remote_addr,omitempty"`
	RemotePort uint32 `json:"remote_port,omitempty"`
	Path       string `json:"path,omitempty"`
	// Endpoint is the one-line form ("tcp 127.0.0.1:80 -> 10.0.0.1:5555 ESTABLISHED").
	Endpoint string `json:"endpoint"`
	Owners   []int  `json:"owners"`
	// Queued data: sizes, and at most 64 printable bytes of preview (redacted).
	SendQueueBytes   int64  `json:"send_queue_bytes"`
	RecvQueueBytes   int64  `json:"recv_queue_bytes"`
	SendQueuePreview string `json:"send_queue_preview,omitempty"`
	RecvQueuePreview string `json:"recv_queue_preview,omitempty"`
}

// OpenFile is one fd of one process.
type OpenFile struct {
	PID     int    `json:"pid"`
	Comm    string `json:"comm"`
	FD      int    `json:"fd"`
	Type    string `json:"type"`
	Target  string `json:"target"`
	Flags   string `json:"flags,omitempty"`
	Pos     int64  `json:"pos,omitempty"`
	Size    int64  `json:"size,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	// Detail is what a special fd holds: an eventfd's counter, a timer, the signals of a
	// signalfd, inotify watches, epoll targets, a terminal (forensics.Process.FDDetail).
	Detail string `json:"detail,omitempty"`
}

// MemorySummary is one process's address space in brief: totals, per kind, and the mappings a
// responder looks at first (executable anonymous or writable+executable memory, deleted or memfd
// backed code).
type MemorySummary struct {
	PID           int         `json:"pid"`
	Comm          string      `json:"comm"`
	VMAs          int         `json:"vmas"`
	MappedBytes   uint64      `json:"mapped_bytes"`
	ResidentBytes uint64      `json:"resident_bytes"`
	Kinds         []KindCount `json:"kinds"`
	Notable       []Mapping   `json:"notable"`
}

// KindCount totals the mappings of one kind (file, anon, heap, stack, ...).
type KindCount struct {
	Kind          string `json:"kind"`
	Count         int    `json:"count"`
	Bytes         uint64 `json:"bytes"`
	ResidentBytes uint64 `json:"resident_bytes"`
}

// Mapping is one notable mapping. Addresses are hex strings: JSON numbers lose precision above
// 2^53 in most consumers.
type Mapping struct {
	Start         string `json:"start"`
	End           string `json:"end"`
	Prot          string `json:"prot"`
	Kind          string `json:"kind"`
	Path          string `json:"path,omitempty"`
	Deleted       bool   `json:"deleted,omitempty"`
	Bytes         uint64 `json:"bytes"`
	ResidentBytes uint64 `json:"resident_bytes"`
	Why           string `json:"why"`
}

// IOC is an indicator with the evidence it was seen in. Where replaces the model's list: each
// place says which evidence it is in, since several checkpoints of one case share PIDs.
type IOC struct {
	Evidence []string `json:"evidence"`
	forensics.IOC
	Where []Sighting `json:"where"`
}

// Sighting is one place an indicator was seen, in one piece of evidence.
type Sighting struct {
	Evidence string `json:"evidence"`
	forensics.Location
}

// TimelineEvent is one dated event. Events are sorted by time.
type TimelineEvent struct {
	Time     time.Time `json:"time"`
	Evidence string    `json:"evidence"`
	Event    string    `json:"event"`
	Detail   string    `json:"detail,omitempty"`
}

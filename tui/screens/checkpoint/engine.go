package checkpoint

import (
	"context"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/content"
	"github.com/podsleuth/podsleuth/forensics/report"
)

// Loaded is everything the analysis screens show about one checkpoint. The App builds it in a
// Cmd from the decoding and analysis engines; whatever an engine could not provide is nil with
// a note saying why, so the screen can say what is missing instead of inventing data.
type Loaded struct {
	Path       string
	Label      string
	Checkpoint *forensics.Checkpoint
	// Memory reads and searches the dumped pages; nil when not available (MemoryNote says why).
	Memory     Memory
	MemoryNote string
	// IOCs are the extracted indicators; IOCNote explains why they are missing when nil.
	IOCs    []forensics.IOC
	IOCNote string
	// FindingsNote explains why Checkpoint.Findings is empty when analysis did not run.
	FindingsNote string
	// Conclusion is the analysis's conclusion (what happened, how bad, what next), shown at the
	// top of the Summary tab; nil when analysis did not run.
	Conclusion *analysis.Conclusion
	// Contents are the contents the checkpoint saved besides memory (ghost files, memfds, pipe
	// and socket queues, rootfs files), read in Cmds by the detail views; nil with ContentNote
	// saying why when they could not be listed.
	Contents    *content.Set
	ContentNote string
	// RootfsDiffs are the modified files of the rootfs changes against the base image the
	// checkpoint was opened with (--rootfs; Checkpoint.RootfsBase names it), by path: the diff
	// the report carries (same bounds), and both sides' size and hash; nil without a base.
	RootfsDiffs map[string]RootfsDiff
	// Custody says where the opening was recorded (evidence) or why it could not be; empty for
	// a file that is not evidence.
	Custody string
	// Verification is the re-check of store evidence (zero for a file that is not evidence).
	// Verified, when set, waits for a re-check still running and returns its outcome and the
	// custody note; it runs inside a Cmd (VerifyCmd).
	Verification Verification
	Verified     func(ctx context.Context) (v Verification, custody string)
	// Close releases the archive (temporary files) when the screen is popped.
	Close func() error
}

// RootfsDiff is how one modified file differs from the base image: the report's diff (or its
// note saying why there is none), and what each side holds.
type RootfsDiff struct {
	report.RootfsDiff
	// BaseType, BaseSize and BaseSHA256 describe the base image's copy (its hash when its
	// content was read: regular files up to base.DefaultMaxFile); SHA256 is the checkpoint's
	// copy's ("" when not hashed: HashNote says why).
	BaseType   string
	BaseSize   int64
	BaseSHA256 string
	SHA256     string
	HashNote   string
}

// Verification is the state of the re-check that every opening of store evidence runs beside
// the decoding (forensics/open): State is "" for a file that is not evidence, else
// "verifying", "verified", "MISMATCH" or "not verified"; Item is the evidence ID; Summary is one line saying what was
// checked, when and, for a mismatch, what differs.
type Verification struct {
	Item    string
	State   string
	Summary string
}

// Query is a memory search: Mode "literal", "regex" or "hex".
type Query struct {
	Text string
	Mode string
	// Max bounds the number of hits returned.
	Max int
}

// Hit is one match in process memory, attributed to the process, its mapping and address.
type Hit struct {
	PID      int
	Comm     string
	Addr     uint64
	VMAStart uint64
	VMAEnd   uint64
	// Region describes the VMA ("heap", "stack", "anon rw-p", "/usr/lib/x.so").
	Region string
	// Len is the match length; Preview a printable excerpt around it.
	Len     int
	Preview string
}

// SearchProgress reports how far a search is: bytes of dumped memory scanned (when the
// engine can tell) and hits found so far.
type SearchProgress struct {
	Done, Total int64
	Hits        int
}

// Memory is what the Memory tab needs from forensics/memory.
type Memory interface {
	// Search scans every process's dumped memory; progress, when non-nil, receives updates.
	Search(ctx context.Context, q Query, progress chan<- SearchProgress) ([]Hit, error)
	// Read returns up to n bytes of pid's memory at addr; bytes that were not dumped are
	// reported by the returned mask (false: not present) so the viewer can show "..".
	Read(ctx context.Context, pid int, addr uint64, n int) (data []byte, present []bool, err error)
}

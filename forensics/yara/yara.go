package yara

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/podsleuth/podsleuth/forensics/memory"
)

// ErrNotBuilt is returned by Load and Scan in a binary built without the "yara" build tag.
var ErrNotBuilt = errors.New("built without YARA: rebuild with -tags yara (apt-get install libyara-dev golang-github-hillu-go-yara-dev; see the README)")

// ErrNoRules is returned by Load when no rule file loaded (every one failed, or none was found).
var ErrNoRules = errors.New("no YARA rules loaded")

// Kinds of scanned content (Hit.Kind and the ps_kind external).
const (
	KindMemory = memory.KindMemory // a process's memory, one VMA at a time
	KindMemfd  = memory.KindMemfd  // a memfd's contents (not mapped in full by a process)
	KindShmem  = memory.KindShmem  // shared anonymous memory (not mapped in full)
	KindPipe   = memory.KindPipe   // unread pipe buffer
	KindSocket = memory.KindSocket // queued socket data
	KindGhost  = memory.KindGhost  // a deleted file CRIU saved (ghost-file-N.img)
	KindTmpfs  = memory.KindTmpfs  // a file of a tmpfs mount CRIU saved (tmpfs-dev-N.tar.gz.img)
	KindDevShm = memory.KindDevshm // a file of the container's /dev/shm (devshm-checkpoint.tar)
	KindRootfs = memory.KindRootfs // a file added or changed in the container's root filesystem
)

// Defaults of Options.
const (
	DefaultTimeout        = 10 * time.Minute
	DefaultMaxHitsPerRule = 100
	DefaultMaxStrings     = 8
)

// Options configure Scan.
type Options struct {
	// Timeout bounds the whole scan with one rule set (0: DefaultTimeout). What was not scanned
	// when it expires is reported in Result.Warnings and Result.TimedOut.
	Timeout time.Duration
	// MaxHitsPerRule caps the hits kept per rule over the whole checkpoint (0: default); the
	// others are counted in Result.Dropped.
	MaxHitsPerRule int
	// MaxStrings caps the string matches kept per hit (per rule and scanned block; 0:
	// default); Hit.Matches counts them all.
	MaxStrings int
	// Workers is the number of parallel scanners (0: every core).
	Workers int
	// PIDs limits process memory to these processes (objects: those they hold); empty: all.
	PIDs []int
	// NoMemory skips process memory; NoObjects skips every saved object.
	NoMemory, NoObjects bool
	// Objects are scanned besides mem's own (FileObjects: the saved files); an object with the
	// name of one of mem's is left out.
	Objects []*memory.Object
	// Progress, when set, is called with the bytes scanned so far and in all.
	Progress func(done, total int64)
}

// String is one matched string of a hit.
type String struct {
	// Name is the string's identifier ("$s1").
	Name string `json:"name"`
	// Addr is the match's virtual address (memory) or offset (objects, files).
	Addr uint64 `json:"addr"`
	// Data is the matched bytes, at most 64 of them.
	Data []byte `json:"data"`
}

// Hit is one rule matching one scanned block (a VMA, an object or a file).
type Hit struct {
	Rule      string            `json:"rule"`
	Namespace string            `json:"namespace,omitempty"`
	Tags      []string          `json:"tags,omitempty"`
	Meta      map[string]string `json:"meta,omitempty"`

	// Kind is one of the Kind* constants.
	Kind string `json:"kind"`
	// PID and Comm are the process whose memory matched, or the first holder of an object.
	PID  int    `json:"pid,omitempty"`
	Comm string `json:"comm,omitempty"`
	// Addr is the first match's virtual address (memory) or offset in the object.
	Addr uint64 `json:"addr"`
	// Start and End are the scanned VMA (memory) or 0 and the object's size.
	Start uint64 `json:"start"`
	End   uint64 `json:"end"`
	// Region and Perm describe the VMA (memory.Region, "rwxp"); Path is the backing file, the
	// memfd's name, or the saved file's path.
	Region string `json:"region,omitempty"`
	Perm   string `json:"perm,omitempty"`
	Path   string `json:"path,omitempty"`
	// Object names a saved object as memory and forensics/content do ("memfd:NAME",
	// "pipe:[ID]", "ghost:/path", "rootfs:/path", ...) and Holders the processes that map it or
	// hold a descriptor for it.
	Object  string          `json:"object,omitempty"`
	Holders []memory.Holder `json:"holders,omitempty"`

	// Strings are the first MaxStrings matches in address order; Matches counts them all.
	Strings []String `json:"strings,omitempty"`
	Matches int      `json:"matches"`
}

// LoadError is a rule file that did not compile: the file, the line and YARA's message.
type LoadError struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Msg  string `json:"message"`
}

func (e LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Result is what one rule set found in one checkpoint.
type Result struct {
	// Rules is the number of rules scanned with; Files the rule files they came from
	// ("default:NAME.yar" for the embedded set).
	Rules int      `json:"rules"`
	Files []string `json:"files"`
	// LoadErrors are the rule files that did not compile (the others were used).
	LoadErrors []LoadError `json:"load_errors,omitempty"`
	Hits       []Hit       `json:"hits"`
	// Dropped counts, per rule, the hits over MaxHitsPerRule that were not kept.
	Dropped map[string]int `json:"dropped,omitempty"`
	// Blocks and Bytes count the scanned VMAs/objects and their resident bytes.
	Blocks int   `json:"blocks"`
	Bytes  int64 `json:"bytes"`
	// Kinds counts the scanned blocks per kind (memory, memfd, pipe, ghost, rootfs, ...).
	Kinds map[string]int `json:"kinds"`
	// TimedOut says the scan stopped at Options.Timeout; Warnings say what was not scanned.
	TimedOut bool          `json:"timed_out,omitempty"`
	Warnings []string      `json:"warnings,omitempty"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// external values of one scanned block.
type externals struct {
	filename, filepath, extension, filetype, owner string
	kind, region, perm, comm                       string
	pid                                            int
	base                                           uint64
	exec                                           bool
}

// externalDefaults are declared at compile time so that rules may use them.
var externalDefaults = map[string]any{
	"filename": "", "filepath": "", "extension": "", "filetype": "", "owner": "",
	"ps_kind": "", "ps_region": "", "ps_perm": "", "ps_comm": "", "ps_pid": 0, "ps_base": 0, "ps_exec": false,
}

func (x externals) values() map[string]any {
	return map[string]any{
		"filename": x.filename, "filepath": x.filepath, "extension": x.extension, "filetype": x.filetype,
		"owner": x.owner, "ps_kind": x.kind, "ps_region": x.region, "ps_perm": x.perm, "ps_comm": x.comm,
		"ps_pid": x.pid, "ps_base": int64(x.base), "ps_exec": x.exec,
	}
}

// fileExternals fills filename, filepath and extension from a path.
func (x *externals) setFile(p string) {
	p = strings.TrimSuffix(p, " (deleted)")
	if p == "" {
		return
	}
	x.filepath = p
	x.filename = path.Base(p)
	if e := path.Ext(x.filename); e != "" {
		x.extension = strings.TrimPrefix(e, ".")
	}
}

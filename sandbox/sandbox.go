package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/podsleuth/podsleuth/forensics/evidence"
)

// Sentinel errors. Every refusal wraps one of them and says the reason and the fix.
var (
	// ErrPreflight is wrapped by every refusal made before anything was changed.
	ErrPreflight = errors.New("sandbox preflight failed")
	// ErrNotFound is returned for an unknown sandbox ID.
	ErrNotFound = errors.New("no such sandbox")
	// ErrRestore is wrapped when the restore itself failed (after preflight); everything made
	// for it has been removed again.
	ErrRestore = errors.New("restore failed")
	// ErrGone is returned when a sandbox's processes are no longer there.
	ErrGone = errors.New("sandbox is not running")
)

// Backends.
const (
	BackendLocal   = "local"
	BackendCluster = "cluster"
)

// Request is one restore.
type Request struct {
	// Source is the archive or image directory as the user named it (recorded, shown).
	Source string
	// Images is the directory of CRIU images to restore (a bare image dir, or the checkpoint/
	// member of an unpacked container archive).
	Images string
	// Archive is the archive file itself (the cluster backend copies it to the node).
	Archive string
	// Bundle is the unpacked container archive (config.dump, spec.dump, rootfs-diff.tar,
	// deleted.files, checkpoint/); empty for a bare CRIU image directory.
	Bundle string
	// Rootfs is the base root filesystem (directory or tar) of a container checkpoint.
	Rootfs string
	// Files supplies held files from elsewhere: held path -> local copy (e.g. the malware's
	// executable copied off the original host), bound read-only over the path in the sandbox.
	Files map[string]string
	// JoinNetPID, for container archives, restores into the network namespace of that
	// process (a quarantine placeholder pod's) instead of a new one, after dropping every
	// packet but loopback there with nftables. Used by the cluster backend's node helper.
	JoinNetPID int
	// Run resumes the restored tree; by default it stays stopped (SIGSTOP) until resumed.
	Run bool
	// Sinkhole gives the sandbox one veth to a podsleuth-owned namespace that answers DNS and
	// accepts any TCP/UDP connection, logging each attempt.
	Sinkhole bool
	// CaseID and EvidenceID/EvidenceSHA256 tie the sandbox to its evidence (labels, custody).
	CaseID         string
	EvidenceID     string
	EvidenceSHA256 string
	// Custody receives every sandbox action when the archive is in the evidence store.
	Custody Custody `json:"-"`
}

// Custody is the part of the evidence store a sandbox writes to.
type Custody interface {
	Log(id string, e evidence.Event) error
}

// Info describes one sandbox; it is what `sandbox list` shows and what the state file holds.
type Info struct {
	ID      string    `json:"id"`
	Backend string    `json:"backend"`
	Created time.Time `json:"created"`
	Source  string    `json:"source"`
	// Kind is "criu-images" (bare image dir, restored with criu) or "container" (restored
	// with the OCI runtime).
	Kind           string `json:"kind"`
	CaseID         string `json:"case_id,omitempty"`
	EvidenceID     string `json:"evidence_id,omitempty"`
	EvidenceSHA256 string `json:"evidence_sha256,omitempty"`
	// EvidenceVerification is the re-check of the evidence before the restore: "verified", or
	// "MISMATCH" for altered evidence restored with --force (restore.Run).
	EvidenceVerification string `json:"evidence_verification,omitempty"`
	// Dir is the sandbox's state directory.
	Dir string `json:"dir"`
	// State is "stopped", "running", "dead" (processes gone) or "restoring".
	State string `json:"state"`
	// RootPID is the host PID of the restored tree's root; InitPID the host PID of the
	// sandbox's namespace holder (PID 1 of its PID namespace for criu restores).
	RootPID int `json:"root_pid,omitempty"`
	InitPID int `json:"init_pid,omitempty"`
	// Namespaces are the sandbox's namespaces as "type:[inode]" (net, pid, mnt, uts, ipc).
	Namespaces map[string]string `json:"namespaces,omitempty"`
	// Sinkhole is set when the sandbox has a sinkhole.
	Sinkhole *SinkholeInfo `json:"sinkhole,omitempty"`
	// PrivatePaths are the host directories the sandbox sees as private copy-on-write copies.
	PrivatePaths []string `json:"private_paths,omitempty"`
	// Recreated are held paths that did not exist on this host and were recreated privately.
	Recreated []string `json:"recreated,omitempty"`
	// Warnings say where isolation is weaker than asked (e.g. a held directory left shared).
	Warnings []string `json:"warnings,omitempty"`
	// Cluster-backend fields.
	Namespace string `json:"namespace,omitempty"`
	Node      string `json:"node,omitempty"`
	Pod       string `json:"pod,omitempty"`
	// Isolation records how isolation was verified.
	Isolation []string `json:"isolation,omitempty"`
	// RestoreSeconds is how long the restore itself took.
	RestoreSeconds float64 `json:"restore_seconds,omitempty"`
}

// SinkholeInfo describes a sandbox's sinkhole.
type SinkholeInfo struct {
	// Address is the sinkhole's address as seen from the sandbox (its gateway and DNS server).
	Address string `json:"address"`
	// SandboxAddress is the sandbox side of the veth.
	SandboxAddress string `json:"sandbox_address"`
	PID            int    `json:"pid"`
	// NetPID is a sandbox process whose network namespace the veth is in.
	NetPID int `json:"net_pid"`
	// Log is the JSON-lines log of every attempt (one SinkholeEvent a line).
	Log string `json:"log"`
}

// SinkholeEvent is one attempt the sinkhole saw.
type SinkholeEvent struct {
	Time time.Time `json:"time"`
	// Proto is "tcp", "udp" or "dns".
	Proto string `json:"proto"`
	// Src is the sandbox-side address and port; Dst the destination the process asked for.
	Src string `json:"src"`
	Dst string `json:"dst"`
	// Query is the DNS name asked for (dns).
	Query string `json:"query,omitempty"`
	// PID and Comm are the sandbox process that owned the connecting socket (host PID), when
	// it could be found.
	PID  int    `json:"pid,omitempty"`
	Comm string `json:"comm,omitempty"`
	// FirstBytes are the first bytes the process sent (up to 256), quoted printable.
	FirstBytes string `json:"first_bytes,omitempty"`
	Bytes      int    `json:"bytes,omitempty"`
}

// Process is one process of a sandbox as `sandbox ps` shows it.
type Process struct {
	HostPID int    `json:"host_pid"`
	NSPID   int    `json:"ns_pid"`
	PPID    int    `json:"ppid"`
	State   string `json:"state"`
	Comm    string `json:"comm"`
	Cmdline string `json:"cmdline"`
	// Restored is false for podsleuth's own namespace holder.
	Restored bool `json:"restored"`
}

// Restorer is one sandbox backend.
type Restorer interface {
	// Preflight checks everything Restore needs without changing anything.
	Preflight(ctx context.Context, r Request) error
	// Restore creates the sandbox and restores the checkpoint into it. On error nothing of it
	// is left behind.
	Restore(ctx context.Context, r Request) (*Info, error)
	List(ctx context.Context) ([]Info, error)
	Get(ctx context.Context, id string) (*Info, error)
	Ps(ctx context.Context, id string) ([]Process, error)
	// Signal sends sig to every restored process (SIGCONT resumes a stopped sandbox).
	Signal(ctx context.Context, id string, sig syscall.Signal) error
	// EnterCommand returns the argv that runs argv (a shell when empty) inside the sandbox.
	EnterCommand(ctx context.Context, id string, argv []string) ([]string, error)
	// Destroy removes everything of the sandbox: processes, mounts, namespaces, files.
	Destroy(ctx context.Context, id string) error
}

// Enterer is a backend that runs a command in one of its sandboxes itself, streaming the
// caller's terminal, instead of handing back a local command (EnterCommand): the cluster
// backend, whose sandboxes run on a node.
type Enterer interface {
	// Enter runs argv (a shell when empty) inside sandbox id and returns its exit status.
	Enter(ctx context.Context, id string, argv []string, s Streams) (exitCode int, err error)
}

// Streams are the caller's side of Enter.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
	// TTY asks for a terminal on the far side (In and Out are then the caller's terminal, in
	// raw mode, and Err is unused: a terminal has one output).
	TTY bool
	// Resize, with TTY, delivers the caller's terminal size, first at once and then on each
	// change; it is closed when the command ends.
	Resize <-chan TermSize
}

// TermSize is a terminal's size in characters.
type TermSize struct{ Width, Height uint16 }

// Cleanup is a stack of undo steps, run in reverse when a restore fails or is interrupted
// (both backends build one as they go).
type Cleanup []func() error

// Push adds an undo step.
func (c *Cleanup) Push(f func() error) { *c = append(*c, f) }

// Run runs the steps, last first, and joins their errors.
func (c Cleanup) Run() error {
	var errs []error
	for i := len(c) - 1; i >= 0; i-- {
		if err := c[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// NewID returns a new sandbox ID: 10 lower-case hex digits (valid in Kubernetes names).
func NewID() string {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on Linux
	}
	return hex.EncodeToString(b[:])
}

// ValidID checks that id is a sandbox ID (it becomes a path element and a namespace name).
func ValidID(id string) error {
	if len(id) < 4 || len(id) > 32 {
		return fmt.Errorf("%w: %q is not a sandbox ID", ErrNotFound, id)
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%w: %q is not a sandbox ID", ErrNotFound, id)
		}
	}
	return nil
}

// LogCustody records a sandbox action in the evidence's custody log when the sandbox belongs
// to evidence in the store. Failures are returned, not hidden.
func LogCustody(c Custody, evidenceID, what string, details map[string]string) error {
	if c == nil || evidenceID == "" {
		return nil
	}
	d := map[string]string{"sandbox_action": what}
	for k, v := range details {
		d[k] = v
	}
	action := evidence.ActionSandbox
	if what == "restored" {
		action = evidence.ActionRestored
	}
	return c.Log(evidenceID, evidence.Event{Time: time.Now().UTC(), Action: action, Actor: evidence.CurrentActor(), Details: d})
}

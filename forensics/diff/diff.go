package diff

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
)

// SchemaVersion names the JSON encoding of Result.
const SchemaVersion = "podsleuth.diff/v1"

// Result is what changed from checkpoint A (before) to checkpoint B (after).
type Result struct {
	SchemaVersion string `json:"schema_version"`
	// A and B name the two inputs (their paths as given).
	A string `json:"a"`
	B string `json:"b"`
	// Warnings say when the two checkpoints are not of the same container (different container
	// IDs, pods or images): the changes then compare two containers.
	Warnings []string `json:"warnings,omitempty"`

	ProcessesAdded   []ProcessRef    `json:"processes_added"`
	ProcessesRemoved []ProcessRef    `json:"processes_removed"`
	ProcessesChanged []ProcessChange `json:"processes_changed"`

	SocketsOpened []SocketRef `json:"sockets_opened"`
	SocketsClosed []SocketRef `json:"sockets_closed"`

	// FDsAdded and FDsRemoved cover processes present in both checkpoints; the fds of an added
	// or removed process are part of that process's entry, not repeated here.
	FDsAdded   []FDRef `json:"fds_added"`
	FDsRemoved []FDRef `json:"fds_removed"`

	MountsAdded   []forensics.Mount `json:"mounts_added"`
	MountsRemoved []forensics.Mount `json:"mounts_removed"`

	RootfsAdded   []forensics.RootfsChange `json:"rootfs_added"`
	RootfsRemoved []forensics.RootfsChange `json:"rootfs_removed"`
	RootfsChanged []RootfsChange           `json:"rootfs_changed"`

	FindingsNew      []forensics.Finding `json:"findings_new"`
	FindingsResolved []forensics.Finding `json:"findings_resolved"`

	IOCsNew  []forensics.IOC `json:"iocs_new"`
	IOCsGone []forensics.IOC `json:"iocs_gone"`
}

// ProcessRef is a process that exists in only one of the two checkpoints.
type ProcessRef struct {
	PID     int      `json:"pid"`
	PPID    int      `json:"ppid"`
	Comm    string   `json:"comm"`
	State   string   `json:"state"`
	Exe     string   `json:"exe,omitempty"`
	Cmdline []string `json:"cmdline"`
	Threads int      `json:"threads"`
	FDs     int      `json:"fds"`
}

// ProcessChange is a process present in both checkpoints whose attributes differ.
type ProcessChange struct {
	PID  int    `json:"pid"`
	Comm string `json:"comm"`
	// Changes lists each differing attribute, in a fixed order.
	Changes []FieldChange `json:"changes"`
}

// FieldChange is one attribute's value before and after. List attributes (cmdline, environ,
// threads) carry the added and removed elements as well.
type FieldChange struct {
	Field   string   `json:"field"`
	Before  string   `json:"before"`
	After   string   `json:"after"`
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// SocketRef is a socket in only one of the checkpoints, described by its identity.
type SocketRef struct {
	Family     string `json:"family"`
	Type       string `json:"type"`
	Protocol   string `json:"protocol,omitempty"`
	State      string `json:"state"`
	LocalAddr  string `json:"local_addr,omitempty"`
	LocalPort  uint32 `json:"local_port,omitempty"`
	RemoteAddr string `json:"remote_addr,omitempty"`
	RemotePort uint32 `json:"remote_port,omitempty"`
	Path       string `json:"path,omitempty"`
	// Owners are the PIDs holding it (in the checkpoint it was seen in).
	Owners []int `json:"owners,omitempty"`
}

// FDRef is an fd in only one of the checkpoints.
type FDRef struct {
	PID  int    `json:"pid"`
	Comm string `json:"comm"`
	FD   int    `json:"fd"`
	Type string `json:"type"`
	// Target is the path, or for sockets and pipes what they are ("tcp 127.0.0.1:1->...").
	Target  string `json:"target"`
	Deleted bool   `json:"deleted,omitempty"`
}

// RootfsChange is a rootfs path present in both checkpoints' rootfs changes with different
// attributes.
type RootfsChange struct {
	Path    string        `json:"path"`
	Changes []FieldChange `json:"changes"`
}

// Empty says whether nothing changed.
func (r *Result) Empty() bool {
	return r.Count() == 0
}

// Count is the number of changes of every kind together.
func (r *Result) Count() int {
	return len(r.ProcessesAdded) + len(r.ProcessesRemoved) + len(r.ProcessesChanged) +
		len(r.SocketsOpened) + len(r.SocketsClosed) + len(r.FDsAdded) + len(r.FDsRemoved) +
		len(r.MountsAdded) + len(r.MountsRemoved) + len(r.RootfsAdded) + len(r.RootfsRemoved) +
		len(r.RootfsChanged) + len(r.FindingsNew) + len(r.FindingsResolved) + len(r.IOCsNew) + len(r.IOCsGone)
}

// Input is one side of a comparison: the decoded checkpoint and, optionally, the indicators
// extracted from it (indicators are not part of the Checkpoint model).
type Input struct {
	Checkpoint *forensics.Checkpoint
	IOCs       []forensics.IOC
}

// Compare returns what changed from a to b. Every list in the result is non-nil and sorted, so
// the JSON encoding is stable.
func Compare(a, b Input) (*Result, error) {
	if a.Checkpoint == nil || b.Checkpoint == nil {
		return nil, fmt.Errorf("diff: %w", ErrNoCheckpoint)
	}
	ca, cb := a.Checkpoint, b.Checkpoint
	r := &Result{SchemaVersion: SchemaVersion, A: ca.Source.Path, B: cb.Source.Path, Warnings: identityWarnings(ca, cb)}
	diffProcesses(r, ca, cb)
	diffSockets(r, ca, cb)
	diffFDs(r, ca, cb)
	diffMounts(r, ca, cb)
	diffRootfs(r, ca, cb)
	diffFindings(r, ca, cb)
	diffIOCs(r, a.IOCs, b.IOCs)
	r.fillNil()
	return r, nil
}

// ErrNoCheckpoint is returned when one side of a comparison is missing.
var ErrNoCheckpoint = fmt.Errorf("nothing to compare: a checkpoint is missing")

type procKey struct {
	pid  int
	comm string
}

func diffProcesses(r *Result, a, b *forensics.Checkpoint) {
	pa := make(map[procKey]*forensics.Process, len(a.Processes))
	for i := range a.Processes {
		p := &a.Processes[i]
		pa[procKey{p.PID, p.Comm}] = p
	}
	seen := make(map[procKey]bool, len(b.Processes))
	for i := range b.Processes {
		q := &b.Processes[i]
		k := procKey{q.PID, q.Comm}
		seen[k] = true
		p, ok := pa[k]
		if !ok {
			r.ProcessesAdded = append(r.ProcessesAdded, processRef(q))
			continue
		}
		if ch := processChanges(p, q); len(ch) > 0 {
			r.ProcessesChanged = append(r.ProcessesChanged, ProcessChange{PID: q.PID, Comm: q.Comm, Changes: ch})
		}
	}
	for i := range a.Processes {
		p := &a.Processes[i]
		if !seen[procKey{p.PID, p.Comm}] {
			r.ProcessesRemoved = append(r.ProcessesRemoved, processRef(p))
		}
	}
	byPID := func(x, y ProcessRef) int { return cmp.Or(cmp.Compare(x.PID, y.PID), strings.Compare(x.Comm, y.Comm)) }
	slices.SortFunc(r.ProcessesAdded, byPID)
	slices.SortFunc(r.ProcessesRemoved, byPID)
	slices.SortFunc(r.ProcessesChanged, func(x, y ProcessChange) int {
		return cmp.Or(cmp.Compare(x.PID, y.PID), strings.Compare(x.Comm, y.Comm))
	})
}

func processRef(p *forensics.Process) ProcessRef {
	return ProcessRef{PID: p.PID, PPID: p.PPID, Comm: p.Comm, State: p.State, Exe: p.Exe,
		Cmdline: nonNil(p.Cmdline), Threads: len(p.Threads), FDs: len(p.FDs)}
}

// processChanges compares the attributes a responder cares about. Children are not compared:
// a new or vanished child already appears as an added or removed process.
func processChanges(p, q *forensics.Process) []FieldChange {
	var ch []FieldChange
	scalar := func(field, before, after string) {
		if before != after {
			ch = append(ch, FieldChange{Field: field, Before: before, After: after})
		}
	}
	list := func(field string, before, after []string) {
		if slices.Equal(before, after) {
			return
		}
		added, removed := setDiff(before, after)
		c := FieldChange{Field: field, Before: strings.Join(before, " "), After: strings.Join(after, " "),
			Added: added, Removed: removed}
		if field == "environ" {
			// whole environments are long and full of secrets: only the variables that changed
			c.Before, c.After = fmt.Sprintf("%d variables", len(before)), fmt.Sprintf("%d variables", len(after))
		}
		ch = append(ch, c)
	}
	scalar("ppid", strconv.Itoa(p.PPID), strconv.Itoa(q.PPID))
	scalar("state", p.State, q.State)
	scalar("exe", exeString(p), exeString(q))
	list("cmdline", p.Cmdline, q.Cmdline)
	list("environ", p.Environ, q.Environ)
	list("threads", intStrings(p.Threads), intStrings(q.Threads))
	scalar("uid", fmt.Sprint(p.Creds.UID, "/", p.Creds.EUID), fmt.Sprint(q.Creds.UID, "/", q.Creds.EUID))
	scalar("gid", fmt.Sprint(p.Creds.GID, "/", p.Creds.EGID), fmt.Sprint(q.Creds.GID, "/", q.Creds.EGID))
	list("cap_eff", p.Creds.CapEff, q.Creds.CapEff)
	scalar("seccomp", p.Creds.Seccomp, q.Creds.Seccomp)
	scalar("cwd", p.Cwd, q.Cwd)
	scalar("root", p.Root, q.Root)
	return ch
}

func exeString(p *forensics.Process) string {
	if p.ExeDeleted {
		return p.Exe + " (deleted)"
	}
	return p.Exe
}

// setDiff returns the elements of after not in before and of before not in after, counting
// duplicates, in their original order.
func setDiff(before, after []string) (added, removed []string) {
	count := make(map[string]int, len(before))
	for _, s := range before {
		count[s]++
	}
	for _, s := range after {
		if count[s] > 0 {
			count[s]--
			continue
		}
		added = append(added, s)
	}
	count = make(map[string]int, len(after))
	for _, s := range after {
		count[s]++
	}
	for _, s := range before {
		if count[s] > 0 {
			count[s]--
			continue
		}
		removed = append(removed, s)
	}
	return added, removed
}

func intStrings(v []int) []string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return s
}

// socketKey is a socket's identity across dumps. Unix sockets have no ports; their bound path and
// whether they are connected identify them as well as anything can.
func socketKey(s *forensics.Socket) string {
	return strings.Join([]string{s.Family, s.Type, s.Protocol, s.State, s.LocalAddr,
		strconv.FormatUint(uint64(s.LocalPort), 10), s.RemoteAddr, strconv.FormatUint(uint64(s.RemotePort), 10), s.Path}, "\x00")
}

func socketRef(s *forensics.Socket) SocketRef {
	return SocketRef{Family: s.Family, Type: s.Type, Protocol: s.Protocol, State: s.State,
		LocalAddr: s.LocalAddr, LocalPort: s.LocalPort, RemoteAddr: s.RemoteAddr, RemotePort: s.RemotePort,
		Path: s.Path, Owners: s.Owners}
}

// diffSockets compares sockets as multisets of identities: two anonymous unix socketpairs are
// indistinguishable, so only a change in how many there are is reported.
func diffSockets(r *Result, a, b *forensics.Checkpoint) {
	count := map[string]int{}
	for i := range a.Sockets {
		count[socketKey(&a.Sockets[i])]++
	}
	for i := range b.Sockets {
		k := socketKey(&b.Sockets[i])
		if count[k] > 0 {
			count[k]--
			continue
		}
		r.SocketsOpened = append(r.SocketsOpened, socketRef(&b.Sockets[i]))
	}
	count = map[string]int{}
	for i := range b.Sockets {
		count[socketKey(&b.Sockets[i])]++
	}
	for i := range a.Sockets {
		k := socketKey(&a.Sockets[i])
		if count[k] > 0 {
			count[k]--
			continue
		}
		r.SocketsClosed = append(r.SocketsClosed, socketRef(&a.Sockets[i]))
	}
	sortSockets(r.SocketsOpened)
	sortSockets(r.SocketsClosed)
}

func sortSockets(s []SocketRef) {
	slices.SortFunc(s, func(x, y SocketRef) int {
		return cmp.Or(strings.Compare(x.Family, y.Family), strings.Compare(x.Protocol, y.Protocol),
			strings.Compare(x.LocalAddr, y.LocalAddr), cmp.Compare(x.LocalPort, y.LocalPort),
			strings.Compare(x.RemoteAddr, y.RemoteAddr), cmp.Compare(x.RemotePort, y.RemotePort),
			strings.Compare(x.State, y.State), strings.Compare(x.Path, y.Path))
	})
}

// FDTarget describes what an fd refers to without per-dump numbers: a socket by its identity,
// a pipe as "pipe", anything else by its path.
func FDTarget(c *forensics.Checkpoint, fd *forensics.FD) string {
	switch {
	case fd.SocketIno != 0:
		if s := c.Socket(fd.SocketIno); s != nil {
			return SocketString(s)
		}
		return "socket"
	case fd.Type == forensics.FDPipe:
		return "pipe"
	case fd.Type == forensics.FDFifo:
		return "fifo " + fd.Path
	}
	return fd.Path
}

// SocketString renders a socket's identity as one line: "tcp 127.0.0.1:47791 -> 127.0.0.1:47790
// ESTABLISHED", "unix stream @name LISTEN".
func SocketString(s *forensics.Socket) string { return socketRefString(socketRef(s)) }

type fdKey struct {
	pid    int
	comm   string
	fd     int
	typ    string
	target string
}

func diffFDs(r *Result, a, b *forensics.Checkpoint) {
	inBoth := map[procKey]bool{}
	pa := map[procKey]bool{}
	for _, p := range a.Processes {
		pa[procKey{p.PID, p.Comm}] = true
	}
	for _, p := range b.Processes {
		if pa[procKey{p.PID, p.Comm}] {
			inBoth[procKey{p.PID, p.Comm}] = true
		}
	}
	keys := func(c *forensics.Checkpoint) map[fdKey]FDRef {
		m := map[fdKey]FDRef{}
		for _, p := range c.Processes {
			if !inBoth[procKey{p.PID, p.Comm}] {
				continue
			}
			for i := range p.FDs {
				fd := &p.FDs[i]
				t := FDTarget(c, fd)
				m[fdKey{p.PID, p.Comm, fd.FD, fd.Type, t}] = FDRef{PID: p.PID, Comm: p.Comm, FD: fd.FD, Type: fd.Type, Target: t, Deleted: fd.Deleted}
			}
		}
		return m
	}
	ka, kb := keys(a), keys(b)
	for k, v := range kb {
		if _, ok := ka[k]; !ok {
			r.FDsAdded = append(r.FDsAdded, v)
		}
	}
	for k, v := range ka {
		if _, ok := kb[k]; !ok {
			r.FDsRemoved = append(r.FDsRemoved, v)
		}
	}
	byFD := func(x, y FDRef) int {
		return cmp.Or(cmp.Compare(x.PID, y.PID), strings.Compare(x.Comm, y.Comm), cmp.Compare(x.FD, y.FD),
			strings.Compare(x.Type, y.Type), strings.Compare(x.Target, y.Target))
	}
	slices.SortFunc(r.FDsAdded, byFD)
	slices.SortFunc(r.FDsRemoved, byFD)
}

func mountKey(m forensics.Mount) string {
	return strings.Join([]string{m.Mountpoint, m.Root, m.FSType, m.Source, m.Options, m.External}, "\x00")
}

func diffMounts(r *Result, a, b *forensics.Checkpoint) {
	r.MountsAdded, r.MountsRemoved = multisetDiff(a.Mounts, b.Mounts, mountKey)
	byMP := func(x, y forensics.Mount) int {
		return cmp.Or(strings.Compare(x.Mountpoint, y.Mountpoint), strings.Compare(mountKey(x), mountKey(y)))
	}
	slices.SortFunc(r.MountsAdded, byMP)
	slices.SortFunc(r.MountsRemoved, byMP)
}

// multisetDiff returns the elements of b whose key is not (as often) in a, and vice versa.
func multisetDiff[T any](a, b []T, key func(T) string) (added, removed []T) {
	count := map[string]int{}
	for _, x := range a {
		count[key(x)]++
	}
	for _, y := range b {
		if k := key(y); count[k] > 0 {
			count[k]--
		} else {
			added = append(added, y)
		}
	}
	count = map[string]int{}
	for _, y := range b {
		count[key(y)]++
	}
	for _, x := range a {
		if k := key(x); count[k] > 0 {
			count[k]--
		} else {
			removed = append(removed, x)
		}
	}
	return added, removed
}

func diffRootfs(r *Result, a, b *forensics.Checkpoint) {
	ra := map[string]forensics.RootfsChange{}
	for _, c := range a.Rootfs {
		ra[c.Path] = c
	}
	rb := map[string]bool{}
	for _, c := range b.Rootfs {
		rb[c.Path] = true
		old, ok := ra[c.Path]
		if !ok {
			r.RootfsAdded = append(r.RootfsAdded, c)
			continue
		}
		var ch []FieldChange
		f := func(field, before, after string) {
			if before != after {
				ch = append(ch, FieldChange{Field: field, Before: before, After: after})
			}
		}
		f("kind", old.Kind, c.Kind)
		f("type", old.Type, c.Type)
		f("size", strconv.FormatInt(old.Size, 10), strconv.FormatInt(c.Size, 10))
		f("mode", old.Mode, c.Mode)
		f("mtime", timeString(old), timeString(c))
		f("link_target", old.LinkTarget, c.LinkTarget)
		f("owner", fmt.Sprint(old.UID, ":", old.GID), fmt.Sprint(c.UID, ":", c.GID))
		if len(ch) > 0 {
			r.RootfsChanged = append(r.RootfsChanged, RootfsChange{Path: c.Path, Changes: ch})
		}
	}
	for _, c := range a.Rootfs {
		if !rb[c.Path] {
			r.RootfsRemoved = append(r.RootfsRemoved, c)
		}
	}
	byPath := func(x, y forensics.RootfsChange) int { return strings.Compare(x.Path, y.Path) }
	slices.SortFunc(r.RootfsAdded, byPath)
	slices.SortFunc(r.RootfsRemoved, byPath)
	slices.SortFunc(r.RootfsChanged, func(x, y RootfsChange) int { return strings.Compare(x.Path, y.Path) })
}

func timeString(c forensics.RootfsChange) string {
	if c.ModTime.IsZero() {
		return ""
	}
	return c.ModTime.UTC().Format("2006-01-02T15:04:05Z07:00")
}

// findingKey identifies a finding across dumps: addresses are left out because a restored or
// re-randomised process maps the same region elsewhere.
func findingKey(f forensics.Finding) string {
	l := f.Location
	return strings.Join([]string{f.Rule, l.Kind, strconv.Itoa(l.PID), l.Comm, perDump.ReplaceAllString(l.Path, "$1"),
		l.Region, perDump.ReplaceAllString(l.Socket, "$1"), strconv.Itoa(l.FD)}, "\x00")
}

// perDump matches the inode numbers in "socket:[123]" and "pipe:[456]" targets, which change
// with every dump.
var perDump = regexp.MustCompile(`\b(socket|pipe|anon_inode):\[\d+\]`)

func diffFindings(r *Result, a, b *forensics.Checkpoint) {
	r.FindingsNew, r.FindingsResolved = multisetDiff(a.Findings, b.Findings, findingKey)
	bySev := func(x, y forensics.Finding) int {
		return cmp.Or(cmp.Compare(y.Severity, x.Severity), strings.Compare(x.Rule, y.Rule),
			strings.Compare(findingKey(x), findingKey(y)))
	}
	slices.SortFunc(r.FindingsNew, bySev)
	slices.SortFunc(r.FindingsResolved, bySev)
}

func iocKey(i forensics.IOC) string { return i.Type + "\x00" + cmp.Or(i.SHA256, i.Value) }

func diffIOCs(r *Result, a, b []forensics.IOC) {
	r.IOCsNew, r.IOCsGone = multisetDiff(a, b, iocKey)
	byKey := func(x, y forensics.IOC) int {
		return cmp.Or(strings.Compare(x.Type, y.Type), strings.Compare(x.Value, y.Value))
	}
	slices.SortFunc(r.IOCsNew, byKey)
	slices.SortFunc(r.IOCsGone, byKey)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (r *Result) fillNil() {
	r.ProcessesAdded = nonNil(r.ProcessesAdded)
	r.ProcessesRemoved = nonNil(r.ProcessesRemoved)
	r.ProcessesChanged = nonNil(r.ProcessesChanged)
	r.SocketsOpened = nonNil(r.SocketsOpened)
	r.SocketsClosed = nonNil(r.SocketsClosed)
	r.FDsAdded = nonNil(r.FDsAdded)
	r.FDsRemoved = nonNil(r.FDsRemoved)
	r.MountsAdded = nonNil(r.MountsAdded)
	r.MountsRemoved = nonNil(r.MountsRemoved)
	r.RootfsAdded = nonNil(r.RootfsAdded)
	r.RootfsRemoved = nonNil(r.RootfsRemoved)
	r.RootfsChanged = nonNil(r.RootfsChanged)
	r.FindingsNew = nonNil(r.FindingsNew)
	r.FindingsResolved = nonNil(r.FindingsResolved)
	r.IOCsNew = nonNil(r.IOCsNew)
	r.IOCsGone = nonNil(r.IOCsGone)
}

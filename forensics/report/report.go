package report

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/diff"
	"github.com/podsleuth/podsleuth/forensics/evidence"
)

// previewMax bounds the socket and pipe queue previews copied into a report.
const previewMax = 64

// ErrNoCheckpoints is returned when a report is built from nothing.
var ErrNoCheckpoints = errors.New("a report needs at least one checkpoint")

// Input is one piece of evidence: the decoded checkpoint (with its findings filled in), the
// indicators extracted from it, and its store record when it came from the evidence store.
type Input struct {
	Checkpoint *forensics.Checkpoint
	IOCs       []forensics.IOC
	// Store is set when the archive is an item of the evidence store.
	Store *StoreRecord
	// Conclusion is the analysis's conclusion (analysis.Result.Conclusion); when nil, Build
	// draws it from the findings and indicators with analysis.Conclude. MemoryScanned says
	// whether memory was analysed (assumed when IOCs is not nil).
	Conclusion    *analysis.Conclusion
	MemoryScanned bool
	// RootfsDiffs are the modified files' diffs against the base image (RootfsDiffs of the
	// analysis result; nil without a base image).
	RootfsDiffs []RootfsDiff
}

// StoreRecord is what the evidence store knows about an archive.
type StoreRecord struct {
	ID       string
	Manifest evidence.Manifest
	Custody  []evidence.Event
	// Verification is the re-check run when the item was opened for this report.
	Verification *Verification
}

// Verification is the outcome of re-checking store evidence when it was opened: the report
// states it (a red banner at the top when the evidence does not match its acquisition).
type Verification struct {
	// State is "verified", "MISMATCH" or "not verified".
	State   string    `json:"state"`
	Summary string    `json:"summary"`
	Time    time.Time `json:"time"`
	// Signature is the state of the item's signed custody ("signed", "unsigned (legacy)", ...).
	Signature string   `json:"signature,omitempty"`
	Signers   []string `json:"signers,omitempty"`
	Problems  []string `json:"problems,omitempty"`
}

// Options are the report's case header and switches.
type Options struct {
	CaseID      string
	Analyst     string
	Notes       string
	ToolVersion string
	// Generated is the report time; it is converted to UTC.
	Generated time.Time
	// Reveal includes secret values unredacted.
	Reveal bool
	// Diff, when set, is included as the report's diff section (redacted like the rest).
	Diff *diff.Result
}

// Build assembles the report. It does not modify the inputs.
func Build(inputs []Input, o Options) (*Report, error) {
	if len(inputs) == 0 {
		return nil, ErrNoCheckpoints
	}
	x := Redactor{Reveal: o.Reveal}
	r := &Report{
		SchemaVersion: SchemaVersion,
		Tool:          Tool{Name: "podsleuth", Version: cmp.Or(o.ToolVersion, "dev")},
		GeneratedAt:   o.Generated.UTC().Truncate(time.Second),
		Case:          Case{ID: o.CaseID, Analyst: o.Analyst, Notes: o.Notes},
		Redacted:      !o.Reveal,
		Conclusions:   []Conclusion{},
		Findings:      []Finding{},
		Evidence:      []Evidence{},
		Checkpoints:   []Checkpoint{},
		IOCs:          []IOC{},
		Timeline:      []TimelineEvent{},
	}
	iocIndex := map[string]int{}
	for i, in := range inputs {
		cp := in.Checkpoint
		if cp == nil {
			return nil, fmt.Errorf("input %d: %w", i+1, ErrNoCheckpoints)
		}
		id := fmt.Sprintf("E%d", i+1)
		r.Evidence = append(r.Evidence, buildEvidence(id, cp, in.Store))
		r.Conclusions = append(r.Conclusions, conclusionOf(in, id, x))
		sec := buildCheckpoint(id, cp, x)
		for _, d := range in.RootfsDiffs {
			d.Diff, d.Note = x.Text(d.Diff), x.Text(d.Note)
			sec.RootfsDiffs = append(sec.RootfsDiffs, d)
		}
		r.Checkpoints = append(r.Checkpoints, sec)
		for _, f := range cp.Findings {
			f.Title, f.Reason = x.Text(f.Title), x.Text(f.Reason)
			r.Findings = append(r.Findings, Finding{Evidence: id, Finding: f})
		}
		for _, ind := range in.IOCs {
			if ind.Secret && !o.Reveal && !ind.Redacted {
				ind.Value, ind.Redacted = Mask(ind.Type, ind.Value), true
			}
			key := ind.Type + "\x00" + cmp.Or(ind.SHA256, ind.Value)
			var seen []Sighting
			for _, l := range ind.Where {
				seen = append(seen, Sighting{Evidence: id, Location: l})
			}
			if j, ok := iocIndex[key]; ok {
				r.IOCs[j].Count += ind.Count
				r.IOCs[j].Where = append(r.IOCs[j].Where, seen...)
				if !slices.Contains(r.IOCs[j].Evidence, id) {
					r.IOCs[j].Evidence = append(r.IOCs[j].Evidence, id)
				}
				continue
			}
			iocIndex[key] = len(r.IOCs)
			ind.Where = nil
			r.IOCs = append(r.IOCs, IOC{Evidence: []string{id}, IOC: ind, Where: nonNil(seen)})
		}
		r.Timeline = append(r.Timeline, timeline(id, cp, in.Store)...)
		r.Summary.Processes += len(sec.Processes)
		r.Summary.Sockets += len(sec.Network)
		r.Summary.OpenFiles += len(sec.OpenFiles)
		r.Summary.Warnings += len(sec.Warnings)
	}
	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), strings.Compare(a.Evidence, b.Evidence))
	})
	// reports are reproducible whatever order the (parallel) extractor found things in
	for i := range r.IOCs {
		slices.SortStableFunc(r.IOCs[i].Where, compareSightings)
	}
	slices.SortStableFunc(r.IOCs, func(a, b IOC) int {
		return cmp.Or(cmp.Compare(b2i(b.Secret), b2i(a.Secret)), strings.Compare(a.Type, b.Type), strings.Compare(a.Value, b.Value))
	})
	slices.SortStableFunc(r.Timeline, func(a, b TimelineEvent) int {
		return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.Evidence, b.Evidence))
	})
	r.Summary.Checkpoints = len(inputs)
	r.Summary.IOCs = len(r.IOCs)
	for _, i := range r.IOCs {
		if i.Secret {
			r.Summary.Secrets++
		}
	}
	for _, f := range r.Findings {
		r.Summary.Findings.Total++
		switch f.Severity {
		case forensics.SeverityCritical:
			r.Summary.Findings.Critical++
		case forensics.SeverityHigh:
			r.Summary.Findings.High++
		case forensics.SeverityMedium:
			r.Summary.Findings.Medium++
		case forensics.SeverityLow:
			r.Summary.Findings.Low++
		default:
			r.Summary.Findings.Info++
		}
	}
	if o.Diff != nil {
		r.Diff = RedactDiff(o.Diff, x)
	}
	return r, nil
}

func buildEvidence(id string, cp *forensics.Checkpoint, st *StoreRecord) Evidence {
	e := Evidence{ID: id, FileName: filepath.Base(cp.Source.Path), Path: cp.Source.Path, Format: cp.Source.Format,
		Size: cp.Source.Size, SHA256: cp.Source.SHA256}
	if st != nil {
		m := st.Manifest
		e.StoreID, e.Manifest = st.ID, &m
		e.Custody = append([]evidence.Event{}, st.Custody...)
		e.Verification = st.Verification
		if m.ArchiveName != "" {
			e.FileName = m.ArchiveName
		}
		if e.SHA256 == "" {
			e.SHA256 = m.LocalSHA256
		}
	}
	return e
}

// Title names a checkpoint in headings: the pod and container, the container name, or the
// input's file name.
func Title(cp *forensics.Checkpoint) string {
	if c := cp.Container; c != nil {
		if c.Pod != nil {
			t := c.Pod.Namespace + "/" + c.Pod.Name
			if c.Pod.ContainerName != "" {
				t += "/" + c.Pod.ContainerName
			}
			return t
		}
		if c.Name != "" {
			return c.Name
		}
	}
	return filepath.Base(cp.Source.Path)
}

func buildCheckpoint(id string, cp *forensics.Checkpoint, x Redactor) Checkpoint {
	s := Checkpoint{
		Evidence:      id,
		Title:         Title(cp),
		Namespaces:    nonNil(cp.Namespaces),
		Mounts:        nonNil(cp.Mounts),
		RootfsChanges: rootfsShown(cp),
		Warnings:      nonNil(cp.Warnings),
		CRIU: CRIU{ImageVersion: cp.CRIU.ImageVersion, PagemapFormat: cp.CRIU.PagemapFormat, DumpStats: cp.CRIU.Dump,
			ImageFiles: len(cp.CRIU.Images)},
	}
	for _, f := range cp.CRIU.Images {
		s.CRIU.ImageBytes += f.Size
	}
	if c := cp.Container; c != nil {
		cc := *c
		cc.Env = x.EnvList(c.Env)
		cc.Args = x.Args(c.Args)
		if c.Annotations != nil {
			cc.Annotations = make(map[string]string, len(c.Annotations))
			for k, v := range c.Annotations {
				cc.Annotations[k] = x.Text(v)
			}
		}
		s.Container = &cc
	}
	s.Processes = processTree(cp, x)
	s.Network = []Socket{}
	for i := range cp.Sockets {
		so := &cp.Sockets[i]
		n := Socket{Ino: so.Ino, Family: so.Family, Type: so.Type, Protocol: so.Protocol, State: so.State,
			LocalAddr: so.LocalAddr, LocalPort: so.LocalPort, RemoteAddr: so.RemoteAddr, RemotePort: so.RemotePort,
			Path: so.Path, Endpoint: diff.SocketString(so), Owners: nonNil(so.Owners)}
		if q := so.SendQueue; q != nil {
			n.SendQueueBytes, n.SendQueuePreview = q.Size, x.Text(truncate(q.Preview, previewMax))
		}
		if q := so.RecvQueue; q != nil {
			n.RecvQueueBytes, n.RecvQueuePreview = q.Size, x.Text(truncate(q.Preview, previewMax))
		}
		s.Network = append(s.Network, n)
	}
	s.OpenFiles = []OpenFile{}
	s.MemoryMaps = []MemorySummary{}
	for i := range cp.Processes {
		p := &cp.Processes[i]
		for j := range p.FDs {
			fd := &p.FDs[j]
			target := diff.FDTarget(cp, fd)
			if pb := pipeBuffer(cp, fd.PipeID); pb != nil && pb.Size > 0 {
				// what the writer left unread, as the socket queues in the network table
				target += fmt.Sprintf(" (%s unread: %s)", humanBytes(pb.Size), truncate(pb.Preview, previewMax))
			}
			detail, more := p.FDDetail(*fd)
			if len(more) > 0 {
				detail += ": " + strings.Join(more, "; ")
			}
			s.OpenFiles = append(s.OpenFiles, OpenFile{PID: p.PID, Comm: p.Comm, FD: fd.FD, Type: fd.Type,
				Target: x.Text(target), Flags: fd.Flags, Pos: fd.Pos, Size: fd.Size, Deleted: fd.Deleted, Detail: x.Text(detail)})
		}
		s.MemoryMaps = append(s.MemoryMaps, memorySummary(p))
	}
	return s
}

// MaxTreeDepth is the deepest level the process tree is indented to; deeper processes are
// listed at this level with their real depth (Process.TreeDepth).
const MaxTreeDepth = 64

// processTree lists the processes depth-first from the roots, children by PID, so that tables
// read as a tree. Processes unreachable from a root (a cycle in corrupt input) follow at depth
// 0. The walk is iterative: a hostile chain of any depth costs no stack.
func processTree(cp *forensics.Checkpoint, x Redactor) []Process {
	out := make([]Process, 0, len(cp.Processes))
	done := make(map[int]bool, len(cp.Processes))
	type item struct{ pid, depth int }
	var stack []item
	walk := func(root int) {
		stack = append(stack[:0], item{root, 0})
		for len(stack) > 0 {
			it := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			p := cp.Process(it.pid)
			if p == nil || done[it.pid] {
				continue
			}
			done[it.pid] = true
			row := processRow(p, min(it.depth, MaxTreeDepth), x)
			if it.depth > MaxTreeDepth {
				row.TreeDepth = it.depth
			}
			out = append(out, row)
			kids := slices.Clone(p.Children)
			slices.Sort(kids)
			for i := len(kids) - 1; i >= 0; i-- {
				stack = append(stack, item{kids[i], it.depth + 1})
			}
		}
	}
	for _, r := range cp.Roots() {
		walk(r)
	}
	for _, p := range cp.Processes {
		walk(p.PID)
	}
	return out
}

func processRow(p *forensics.Process, depth int, x Redactor) Process {
	row := Process{PID: p.PID, PPID: p.PPID, PGID: p.PGID, SID: p.SID, Depth: depth, Comm: p.Comm, State: p.State,
		Threads: len(p.Threads), Exe: p.Exe, ExeDeleted: p.ExeDeleted,
		Cmdline: nonNil(x.Args(p.Cmdline)), Environ: nonNil(x.EnvList(p.Environ)),
		UID: p.Creds.UID, EUID: p.Creds.EUID, GID: p.Creds.GID, EGID: p.Creds.EGID, CapEff: nonNil(p.Creds.CapEff),
		Seccomp: p.Creds.Seccomp, NoNewPrivs: p.Creds.NoNewPrivs, Cwd: p.Cwd, Root: p.Root,
		Children: nonNil(p.Children), FDs: len(p.FDs), VMAs: len(p.Maps)}
	for _, m := range p.Maps {
		row.MappedBytes += m.Size()
		row.ResidentBytes += m.ResidentBytes
	}
	return row
}

func memorySummary(p *forensics.Process) MemorySummary {
	ms := MemorySummary{PID: p.PID, Comm: p.Comm, VMAs: len(p.Maps), Kinds: []KindCount{}, Notable: []Mapping{}}
	kinds := map[string]*KindCount{}
	for _, m := range p.Maps {
		ms.MappedBytes += m.Size()
		ms.ResidentBytes += m.ResidentBytes
		k := kinds[m.Kind]
		if k == nil {
			k = &KindCount{Kind: m.Kind}
			kinds[m.Kind] = k
		}
		k.Count++
		k.Bytes += m.Size()
		k.ResidentBytes += m.ResidentBytes
		if why := notable(m); why != "" {
			ms.Notable = append(ms.Notable, Mapping{Start: fmt.Sprintf("0x%x", m.Start), End: fmt.Sprintf("0x%x", m.End),
				Prot: m.Prot, Kind: m.Kind, Path: m.Path, Deleted: m.Deleted, Bytes: m.Size(), ResidentBytes: m.ResidentBytes, Why: why})
		}
	}
	for _, k := range kinds {
		ms.Kinds = append(ms.Kinds, *k)
	}
	slices.SortFunc(ms.Kinds, func(a, b KindCount) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), strings.Compare(a.Kind, b.Kind))
	})
	return ms
}

// notable says why a mapping deserves a look, or "" when it does not: code where code does not
// normally live.
func notable(m forensics.VMA) string {
	switch {
	case m.Executable() && m.Writable():
		return "writable and executable"
	case m.Executable() && m.Kind == "memfd":
		return "executable memfd"
	case m.Executable() && m.Deleted:
		return "executable mapping of a deleted file"
	case m.Executable() && (m.Kind == "anon" || m.Kind == "heap" || m.Kind == "stack" || m.Kind == "shmem"):
		return "executable " + m.Kind + " memory"
	}
	return ""
}

func timeline(id string, cp *forensics.Checkpoint, st *StoreRecord) []TimelineEvent {
	var ev []TimelineEvent
	add := func(t time.Time, event, detail string) {
		if !t.IsZero() {
			ev = append(ev, TimelineEvent{Time: t.UTC(), Evidence: id, Event: event, Detail: detail})
		}
	}
	stats := ""
	if d := cp.CRIU.Dump; d != nil {
		stats = fmt.Sprintf("CRIU: frozen %s (freezing %s), memory dump %s, write %s; pages scanned %d, written %d, skipped (parent) %d",
			us(d.FrozenTime), us(d.FreezingTime), us(d.MemdumpTime), us(d.MemwriteTime), d.PagesScanned, d.PagesWritten, d.PagesSkippedParent)
	}
	checkpointed := false
	if c := cp.Container; c != nil {
		add(c.Created, "container created", c.Name)
		if !c.Checkpointed.IsZero() {
			add(c.Checkpointed, "container checkpointed", stats)
			checkpointed = true
		}
	}
	if st != nil {
		m := st.Manifest
		if !checkpointed {
			add(m.CheckpointCompleted, "checkpoint completed", stats)
			checkpointed = !m.CheckpointCompleted.IsZero()
		} else {
			add(m.CheckpointCompleted, "checkpoint completed", "kubelet reply")
		}
		add(m.CheckpointRequested, "checkpoint requested", m.SourceDescription())
		add(m.PullStarted, "pull started", m.Collector)
		add(m.PullFinished, "pull finished", fmt.Sprintf("%d bytes", m.Size))
		add(m.AcquiredAt, "acquired into evidence store", st.ID)
		for _, e := range st.Custody {
			add(e.Time, "custody: "+e.Action, e.Actor)
		}
	}
	for _, rc := range cp.Rootfs {
		add(rc.ModTime, "rootfs "+cp.RootfsKind(rc), rc.Path)
	}
	return ev
}

// us renders microseconds as a duration.
func us(v uint32) string { return (time.Duration(v) * time.Microsecond).String() }

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// compareSightings orders indicator sightings by evidence, then by where they are.
func compareSightings(a, b Sighting) int {
	return cmp.Or(strings.Compare(a.Evidence, b.Evidence), compareLocations(a.Location, b.Location))
}

func compareLocations(a, b forensics.Location) int {
	return cmp.Or(strings.Compare(a.Kind, b.Kind), cmp.Compare(a.PID, b.PID), strings.Compare(a.Comm, b.Comm),
		cmp.Compare(a.Addr, b.Addr), cmp.Compare(a.Start, b.Start), cmp.Compare(a.End, b.End),
		strings.Compare(a.Path, b.Path), cmp.Compare(a.FD, b.FD), strings.Compare(a.Region, b.Region),
		strings.Compare(a.Socket, b.Socket))
}

// sortedIOCs returns the indicators by type and value, each with its places in order, without
// touching the input.
func sortedIOCs(in []forensics.IOC) []forensics.IOC {
	out := slices.Clone(in)
	for i := range out {
		out[i].Where = slices.Clone(out[i].Where)
		slices.SortStableFunc(out[i].Where, compareLocations)
	}
	slices.SortStableFunc(out, func(a, b forensics.IOC) int {
		return cmp.Or(strings.Compare(a.Type, b.Type), strings.Compare(a.Value, b.Value))
	})
	return out
}

// pipeBuffer returns the data buffered in a pipe or FIFO, or nil.
func pipeBuffer(cp *forensics.Checkpoint, id uint32) *forensics.Buffer {
	if id == 0 {
		return nil
	}
	for i := range cp.Pipes {
		if cp.Pipes[i].ID == id {
			return cp.Pipes[i].Buffer
		}
	}
	return nil
}

// rootfsShown is the rootfs changes as every output names them: an "added" change is "added or
// modified" when no base image told them apart (Checkpoint.RootfsKind).
func rootfsShown(cp *forensics.Checkpoint) []forensics.RootfsChange {
	out := make([]forensics.RootfsChange, len(cp.Rootfs))
	for i, r := range cp.Rootfs {
		r.Kind = cp.RootfsKind(r)
		out[i] = r
	}
	return out
}

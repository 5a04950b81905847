package cluster

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/podsleuth/podsleuth/forensics/evidence"
)

// Pull errors.
var (
	// ErrCollector: the collector pod could not be created or did not start.
	ErrCollector = errors.New("collector pod failed")
	// ErrStream: streaming the archive off the node failed (after the retries).
	ErrStream = errors.New("archive stream failed")
	// ErrBadNodePath: the kubelet named an archive path podsleuth refuses to read.
	ErrBadNodePath = errors.New("unexpected archive path on the node")
)

// Labels on every pod podsleuth creates.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelName      = "app.kubernetes.io/name"
	ManagedBy      = "podsleuth"
	CollectorName  = "podsleuth-collector"
	mountPath      = "/checkpoints"
)

// Progress reports a pull's progress.
type Progress struct {
	Phase   string        `json:"phase"` // "collector", "hash", "stream", "done"
	Bytes   int64         `json:"bytes"`
	Total   int64         `json:"total"`
	Elapsed time.Duration `json:"elapsed"`
	// Rate is bytes per second over the stream so far.
	Rate float64 `json:"rate"`
	// Attempt counts stream attempts (retries after a broken stream).
	Attempt int `json:"attempt"`
}

// PullOptions configure Pull.
type PullOptions struct {
	// Namespace of the collector pod (config cluster.collector_namespace); created if missing.
	Namespace string
	// Image of the collector pod: it needs sh, cat, stat and sha256sum (busybox has them).
	Image string
	// Store receives the archive.
	Store *evidence.Store
	// Manifest carries the fields the caller knows (case, analyst, tool version); the pull
	// fills the cluster, pod, node, times and hashes.
	Manifest evidence.Manifest
	// Progress, when set, is called at most every 100 ms and once at the end.
	Progress func(Progress)
	// Collectors, when set, provides the collector pod (started early, shared by the pulls of a
	// run; the caller closes it); Namespace, Image and StartTimeout are then the pool's.
	// Without it the pull starts its own collector and deletes it before returning.
	Collectors *CollectorPool
	// Retries is how often a broken stream is resumed from the byte it reached (default 2).
	Retries int
	// DeleteFromNode removes the archive from the node after a verified pull.
	DeleteFromNode bool
	// StartTimeout bounds the wait for the collector to run (default 2 min: image pull).
	StartTimeout time.Duration
	// PodContext acquires the pod object, its events and the container's logs with the archive
	// (evidence artifacts), collected while the archive streams (config cluster.pod_context).
	PodContext bool
	// LogLimitBytes bounds each log (config cluster.log_limit_bytes; default 16 MiB).
	LogLimitBytes int64
}

// Pull brings a checkpoint archive from its node into the evidence store through a
// short-lived collector pod pinned to that node: a read-only hostPath of the checkpoint
// directory only, no service account token, all capabilities dropped, a read-only root
// filesystem. SHA-256 is computed on the node (sha256sum in the collector) and again locally
// while streaming; the evidence store rejects a mismatch. The collector is deleted on success,
// failure and cancellation.
func (c *Conn) Pull(ctx context.Context, r *CheckpointResult, o PullOptions) (item *evidence.Item, err error) {
	if c.Readonly {
		return nil, fmt.Errorf("pull %s: %w: the pull runs a collector pod (drop --readonly)", r.Target, ErrReadonly)
	}
	if o.Store == nil {
		return nil, errors.New("pull: no evidence store")
	}
	if o.Retries <= 0 {
		o.Retries = 2
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 2 * time.Minute
	}
	dir, base, err := splitNodePath(r.NodePath)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r.Target, err)
	}
	started := time.Now()
	report := func(p Progress) {
		if o.Progress != nil {
			p.Elapsed = time.Since(started)
			o.Progress(p)
		}
	}
	// the pod's object, events and logs are read while the collector starts and the archive streams
	var artsFunc func(context.Context) ([]evidence.ArtifactData, error)
	var arts []evidence.ArtifactData
	var artNotes []string
	if o.PodContext {
		done := make(chan struct{})
		go func() {
			defer close(done)
			arts, artNotes = c.podContext(ctx, r, o.LogLimitBytes)
		}()
		artsFunc = func(ctx context.Context) ([]evidence.ArtifactData, error) {
			select {
			case <-done:
				return arts, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	report(Progress{Phase: "collector"})
	pool := o.Collectors
	if pool == nil {
		pool = c.NewCollectorPool(ctx, CollectorOptions{Namespace: o.Namespace, Image: o.Image, StartTimeout: o.StartTimeout})
		// Delete on every path out (Close uses a fresh context: ctx may be a cancelled one).
		defer func() {
			if cerr := pool.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("pull %s: %w", r.Target, cerr)
			}
		}()
	}
	o.Namespace, o.Image, o.StartTimeout = pool.o.Namespace, pool.o.Image, pool.o.StartTimeout
	// The manifest lookups (who am I) run while the collector starts.
	m := o.Manifest
	filled := make(chan struct{})
	go func() {
		defer close(filled)
		c.fillManifest(ctx, &m, r)
	}()
	col, werr := pool.get(ctx, r.Node, dir)
	<-filled
	if werr != nil {
		return nil, fmt.Errorf("pull %s: %w", r.Target, werr)
	}
	name, ns := col.name, col.ns
	waited := time.Since(started)

	report(Progress{Phase: "hash"})
	file := path.Join(mountPath, base)
	// The node hashes the file with its own read of it, beside the stream, and the store takes
	// the stream from the first byte: it asks for the node's hash only once the archive is
	// complete and synced (evidence.AcquireOptions.NodeSHA256Func). Because the node reads the
	// whole file itself, its hash also proves a stream that broke and was resumed with
	// `tail -c +N`. (A single pass, `cat | tee FIFO` with sha256sum on the FIFO, would hash only
	// the first attempt of a resumed stream, and with busybox on a 256 MiB archive it cost the
	// node 0.6-0.7 s more CPU in pipe copies than a second read from the page cache.)
	nh := c.startNodeHash(ctx, ns, name, file)
	defer nh.stop()
	first := c.startStream(ctx, ns, name, file, 0)
	defer first.stop() // idempotent; the reader stops it too

	m.ArchiveName, m.Collector = base, ns+"/"+name
	m.PullStarted = first.started
	rr := &resumingReader{ctx: ctx, cur: first, sizeOf: nh.size, max: o.Retries,
		open: func(off int64) *stream { return c.startStream(ctx, ns, name, file, off) }}
	item, finished, err := c.streamInto(ctx, o.Store, rr, nh, artsFunc, first.started, m, report)
	attempts := rr.resumes + 1
	if err != nil {
		if errors.Is(err, evidence.ErrHashMismatch) || ctx.Err() != nil {
			return item, fmt.Errorf("pull %s: %w", r.Target, err)
		}
		if errors.Is(err, ErrStream) {
			return nil, fmt.Errorf("pull %s (%d attempt(s)): %w", r.Target, attempts, err)
		}
		return nil, fmt.Errorf("pull %s: %w after %d attempt(s): %v", r.Target, ErrStream, attempts, err)
	}
	size := item.Manifest.Size
	report(Progress{Phase: "done", Bytes: size, Total: size})
	// The store writes the manifest with the node's hash and the end of the stream; the custody
	// log adds how the pull went.
	secs := finished.Sub(m.PullStarted).Seconds()
	_ = o.Store.Log(item.ID, evidence.Event{Action: "pulled", Actor: m.Acquirer, Details: map[string]string{
		"collector": m.Collector, "node": r.Node, "node_path": r.NodePath, "node_sha256": item.Manifest.NodeSHA256,
		"pull_started": m.PullStarted.Format(time.RFC3339Nano), "pull_finished": finished.Format(time.RFC3339Nano),
		"bytes": strconv.FormatInt(size, 10), "seconds": strconv.FormatFloat(secs, 'f', 3, 64), "attempts": strconv.Itoa(attempts),
		// how long the collector took to run, how long this pull waited for it (less when it was
		// started beside the checkpoint or by an earlier pull), and the whole pull until sealed
		"collector_start_seconds": strconv.FormatFloat(col.running.Sub(col.began).Seconds(), 'f', 3, 64),
		"collector_wait_seconds":  strconv.FormatFloat(waited.Seconds(), 'f', 3, 64),
		"pull_seconds":            strconv.FormatFloat(time.Since(started).Seconds(), 'f', 3, 64),
		"node_hash_seconds":       strconv.FormatFloat(nh.took.Seconds(), 'f', 3, 64),
		"pod_context":             podContextSummary(o.PodContext, item.Manifest.Artifacts, artNotes),
	}})
	if o.DeleteFromNode {
		if derr := c.deleteFromNode(ctx, o, r.Node, dir, base); derr != nil {
			return item, fmt.Errorf("pull %s: archive acquired as %s, but deleting it from the node failed: %w", r.Target, item.ID, derr)
		}
		_ = o.Store.Log(item.ID, evidence.Event{Action: evidence.ActionNodeDeleted, Actor: m.Acquirer,
			Details: map[string]string{"node": r.Node, "path": r.NodePath}})
	}
	return item, nil
}

// podContextSummary says in the custody log what was acquired with the archive and what not.
func podContextSummary(on bool, arts []evidence.Artifact, notes []string) string {
	if !on {
		return "off (cluster.pod_context)"
	}
	names := make([]string, 0, len(arts))
	for _, a := range arts {
		names = append(names, a.Name)
	}
	s := fmt.Sprintf("%d artifact(s): %s", len(arts), strings.Join(names, ", "))
	if len(notes) > 0 {
		s += "; " + strings.Join(notes, "; ")
	}
	return s
}

// fillManifest records where the archive comes from and who took it.
func (c *Conn) fillManifest(ctx context.Context, m *evidence.Manifest, r *CheckpointResult) {
	ci := &evidence.ClusterInfo{Server: c.Server, Context: c.Context}
	if id, err := c.WhoAmI(ctx); err == nil {
		ci.User, ci.UID, ci.Groups = id.Username, id.UID, id.Groups
	}
	m.Cluster = ci
	m.Node, m.NodePath = r.Node, r.NodePath
	m.Namespace, m.Pod, m.PodUID, m.Container, m.ContainerID = r.Namespace, r.Pod, r.PodUID, r.Container, r.ContainerID
	m.Image, m.ImageDigest, m.PodSpecHash = r.Image, r.ImageDigest, r.PodSpecHash
	m.KubeletResponse, m.KubeletVersion, m.Runtime = r.KubeletResponse, r.KubeletVersion, r.Runtime
	m.CheckpointRequested, m.CheckpointCompleted = r.Requested, r.Completed
	if m.Acquirer == "" {
		m.Acquirer = evidence.CurrentActor()
	}
}

var archiveName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:+-]*\.tar(\.gz|\.zst)?$`)

// splitNodePath validates the kubelet's archive path: absolute, clean (no "..", ".", "//"), a
// plain archive name directly in a kubelet's checkpoint directory, <root-dir>/checkpoints (the
// kubelet writes nowhere else; its root-dir is not in the API, so any root-dir is taken here and
// the admission policy of docs/rbac.yaml pins the cluster's own). The collector mounts that
// directory, read-only, and refuses an archive that is a symlink.
func splitNodePath(p string) (dir, base string, err error) {
	if !path.IsAbs(p) || path.Clean(p) != p || strings.ContainsAny(p, "\x00\n") {
		return "", "", fmt.Errorf("%w: %q", ErrBadNodePath, p)
	}
	dir, base = path.Split(p)
	dir = path.Clean(dir)
	if !archiveName.MatchString(base) || dir == "/" {
		return "", "", fmt.Errorf("%w: %q", ErrBadNodePath, p)
	}
	if path.Base(dir) != "checkpoints" {
		return "", "", fmt.Errorf("%w: %q is not directly in a kubelet checkpoint directory (<root-dir>/checkpoints)", ErrBadNodePath, p)
	}
	return dir, base, nil
}

// parseSize parses stat's "SIZE".
func parseSize(s string) (int64, error) {
	size, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || size < 0 {
		return 0, fmt.Errorf("%w: unexpected size from the collector: %q", ErrStream, truncate(s, 200))
	}
	return size, nil
}

// parseStatSum parses "SIZE\nSHA256  FILE\n".
func parseStatSum(s string) (int64, string, error) {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) != 2 {
		return 0, "", fmt.Errorf("%w: unexpected answer from the collector: %q", ErrStream, truncate(s, 200))
	}
	size, err := strconv.ParseInt(strings.TrimSpace(lines[0]), 10, 64)
	f := strings.Fields(lines[1])
	if err != nil || len(f) < 1 || len(f[0]) != 64 {
		return 0, "", fmt.Errorf("%w: unexpected answer from the collector: %q", ErrStream, truncate(s, 200))
	}
	if _, err := hex.DecodeString(f[0]); err != nil {
		return 0, "", fmt.Errorf("%w: unexpected sha256 from the collector: %q", ErrStream, f[0])
	}
	return size, strings.ToLower(f[0]), nil
}

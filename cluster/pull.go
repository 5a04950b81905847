package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/ptr"

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

// pullBufferChunks bounds how far a stream runs ahead of the store (exec writes arrive in
// chunks of at most 32 KiB: about 2 MiB). The store takes the stream from its first byte, so a
// deep buffer would only hold a second copy of the archive in memory.
const pullBufferChunks = 64

// nodeHash is the `stat` + `sha256sum` of the archive, run in the collector beside the stream.
type nodeHash struct {
	cancel    context.CancelFunc
	sizeKnown chan struct{} // closed once stat answered (or the exec ended)
	done      chan struct{} // closed when the exec ended
	// sz and szErr are set before sizeKnown closes, sum, err and took before done closes
	sz    int64
	szErr error
	sum   string
	err   error
	took  time.Duration
}

func (c *Conn) startNodeHash(ctx context.Context, ns, pod, file string) *nodeHash {
	hctx, cancel := context.WithCancel(ctx)
	h := &nodeHash{cancel: cancel, sizeKnown: make(chan struct{}), done: make(chan struct{})}
	var once sync.Once
	w := &lineWatcher{first: func(line string) {
		once.Do(func() {
			h.sz, h.szErr = parseSize(line)
			close(h.sizeKnown)
		})
	}}
	go func() {
		t := time.Now()
		err := c.exec(hctx, ns, pod, []string{"sh", "-c", `stat -c %s "$1" && sha256sum "$1"`, "sh", file}, w)
		h.took = time.Since(t)
		if err != nil {
			err = fmt.Errorf("%w: hash on the node: %v", ErrStream, err)
		} else {
			var size int64
			size, h.sum, err = parseStatSum(w.buf.String())
			if err == nil && size != h.sz {
				err = fmt.Errorf("%w: the archive changed size on the node while it was read", ErrStream)
			}
		}
		once.Do(func() { h.szErr = err; close(h.sizeKnown) })
		h.err = err
		close(h.done)
	}()
	return h
}

// size waits for the archive's size on the node.
func (h *nodeHash) size(ctx context.Context) (int64, error) {
	select {
	case <-h.sizeKnown:
		return h.sz, h.szErr
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// knownSize is the size when stat has answered, else 0 (for progress).
func (h *nodeHash) knownSize() int64 {
	select {
	case <-h.sizeKnown:
		return h.sz
	default:
		return 0
	}
}

// sha256 waits for the node's hash.
func (h *nodeHash) sha256(ctx context.Context) (string, error) {
	select {
	case <-h.done:
		return h.sum, h.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (h *nodeHash) stop() {
	h.cancel()
	<-h.done
}

// lineWatcher keeps an exec's output and calls first with its first line once it is complete.
type lineWatcher struct {
	buf   bytes.Buffer
	first func(line string)
	seen  bool
}

func (l *lineWatcher) Write(p []byte) (int, error) {
	n, _ := l.buf.Write(p)
	if !l.seen {
		if i := bytes.IndexByte(l.buf.Bytes(), '\n'); i >= 0 {
			l.seen = true
			l.first(string(l.buf.Bytes()[:i]))
		}
	}
	return n, nil
}

// stream is one running `cat` of the archive in the collector.
type stream struct {
	pipe    *chunkPipe
	started time.Time
	cancel  context.CancelFunc
	done    chan error
}

func (c *Conn) startStream(ctx context.Context, ns, pod, file string, offset int64) *stream {
	sctx, cancel := context.WithCancel(ctx)
	s := &stream{pipe: newChunkPipe(pullBufferChunks), started: time.Now().UTC(), cancel: cancel, done: make(chan error, 1)}
	cmd := []string{"cat", file}
	if offset > 0 {
		cmd = []string{"tail", "-c", "+" + strconv.FormatInt(offset+1, 10), file}
	}
	go func() {
		err := c.exec(sctx, ns, pod, cmd, s.pipe)
		s.pipe.closeWrite(err)
		s.done <- err
	}()
	return s
}

// stop cancels the stream and waits for its exec to end.
func (s *stream) stop() {
	s.cancel()
	s.pipe.closeRead()
	<-s.done
	s.done <- nil // stop is idempotent
}

// sourceHash is where the node's SHA-256 comes from (a nodeHash; tests fake it).
type sourceHash interface {
	knownSize() int64
	sha256(ctx context.Context) (string, error)
}

// streamInto pipes the archive into the store, which asks for the node's hash at the end.
func (c *Conn) streamInto(ctx context.Context, st *evidence.Store, rr *resumingReader, nh sourceHash, arts func(context.Context) ([]evidence.ArtifactData, error), started time.Time, m evidence.Manifest, report func(Progress)) (*evidence.Item, time.Time, error) {
	defer rr.close()
	cr := &countingReader{r: rr, total: nh.knownSize, start: started, report: report, attempt: func() int { return rr.resumes + 1 }}
	item, err := st.AcquireWith(ctx, cr, m, evidence.AcquireOptions{NodeSHA256Func: nh.sha256, ArtifactsFunc: arts})
	cr.final()
	return item, cr.finished, err
}

// resumingReader reads the archive from a stream and, when the stream breaks (an error, or an
// end before size bytes), resumes from the byte it got to with a new exec of
// `tail -c +OFFSET`, at most max times. The store hashes the concatenation; the node's hash,
// from its own read of the whole file, proves it whole.
type resumingReader struct {
	ctx  context.Context
	cur  *stream
	open func(offset int64) *stream
	// size is the archive's size on the node; when sizeOf is set, it is asked for it the first
	// time a stream ends (stat runs beside the first stream), and its error ends the pull.
	n, size int64
	sizeOf  func(ctx context.Context) (int64, error)
	resumes int
	max     int
}

func (r *resumingReader) Read(p []byte) (int, error) {
	for {
		k, err := r.cur.pipe.Read(p)
		r.n += int64(k)
		if err == nil {
			return k, nil
		}
		if r.sizeOf != nil {
			size, serr := r.sizeOf(r.ctx)
			if serr != nil {
				return k, serr
			}
			r.size, r.sizeOf = size, nil
		}
		size := r.size
		if err == io.EOF && r.n == size {
			return k, io.EOF
		}
		if r.n > size {
			return k, fmt.Errorf("%w: received %d bytes, the node has %d", ErrStream, r.n, size)
		}
		if r.ctx.Err() != nil || r.resumes >= r.max {
			if err == io.EOF {
				err = fmt.Errorf("stream ended after %d of %d bytes", r.n, size)
			}
			return k, err
		}
		r.resumes++
		r.cur.stop()
		r.cur = r.open(r.n)
		if k > 0 {
			return k, nil
		}
	}
}

func (r *resumingReader) close() { r.cur.stop() }

// chunkPipe is an in-memory pipe with a bounded queue of chunks: the writer (the exec stream)
// runs ahead of the reader by at most cap chunks, then blocks.
type chunkPipe struct {
	ch        chan []byte
	cur       []byte
	err       error
	closed    chan struct{}
	readOnce  sync.Once
	writeOnce sync.Once
}

func newChunkPipe(n int) *chunkPipe {
	return &chunkPipe{ch: make(chan []byte, n), closed: make(chan struct{})}
}

func (p *chunkPipe) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	c := make([]byte, len(b))
	copy(c, b)
	select {
	case p.ch <- c:
		return len(b), nil
	case <-p.closed:
		return 0, io.ErrClosedPipe
	}
}

// closeWrite ends the stream: the reader sees err, or io.EOF when err is nil.
func (p *chunkPipe) closeWrite(err error) {
	p.writeOnce.Do(func() {
		if err == nil {
			err = io.EOF
		}
		p.err = err
		close(p.ch)
	})
}

// closeRead unblocks the writer for good.
func (p *chunkPipe) closeRead() { p.readOnce.Do(func() { close(p.closed) }) }

func (p *chunkPipe) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		c, ok := <-p.ch
		if !ok {
			return 0, p.err
		}
		p.cur = c
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

type countingReader struct {
	r       io.Reader
	n       int64
	total   func() int64
	attempt func() int
	start   time.Time
	last    time.Time
	report  func(Progress)
	// finished is when the last byte arrived.
	finished time.Time
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if now := time.Now(); now.Sub(c.last) >= 100*time.Millisecond {
		c.last = now
		c.emit()
	}
	if err == io.EOF && c.finished.IsZero() {
		c.finished = time.Now().UTC()
	}
	return n, err
}

func (c *countingReader) emit() {
	el := time.Since(c.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(c.n) / el
	}
	c.report(Progress{Phase: "stream", Bytes: c.n, Total: c.total(), Rate: rate, Attempt: c.attempt()})
}

func (c *countingReader) final() { c.emit() }

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

// splitNodePath validates the kubelet's archive path: absolute, clean, a plain archive name.
func splitNodePath(p string) (dir, base string, err error) {
	if !path.IsAbs(p) || path.Clean(p) != p || strings.ContainsAny(p, "\x00\n") {
		return "", "", fmt.Errorf("%w: %q", ErrBadNodePath, p)
	}
	dir, base = path.Split(p)
	dir = path.Clean(dir)
	if !archiveName.MatchString(base) || dir == "/" {
		return "", "", fmt.Errorf("%w: %q", ErrBadNodePath, p)
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

// collectorPod builds the collector: pinned to the node, the checkpoint directory only,
// read-only unless it is the cleaner, no token, no capabilities, short-lived.
func collectorPod(ns, node, dir, image string, readOnly bool, cmd []string) *corev1.Pod {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	role := "collector"
	if !readOnly {
		role = "cleaner"
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("podsleuth-%s-%s", role, hex.EncodeToString(suffix)),
			Namespace: ns,
			Labels: map[string]string{
				LabelManagedBy: ManagedBy, LabelName: CollectorName,
				"app.kubernetes.io/component": role,
			},
			Annotations: map[string]string{"podsleuth.dev/node-dir": dir},
		},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			// a forgotten collector removes itself after an hour
			ActiveDeadlineSeconds: ptr.To[int64](3600),
			Tolerations:           []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name:            "collector",
				Image:           image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         cmd,
				// The kubelet writes archives 0600 root: uid 0 reads them as their owner, with
				// every capability dropped (no CAP_DAC_OVERRIDE needed).
				SecurityContext: &corev1.SecurityContext{
					RunAsUser:                ptr.To[int64](0),
					RunAsNonRoot:             ptr.To(false),
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					Privileged:               ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "checkpoints", MountPath: mountPath, ReadOnly: readOnly}},
			}},
			Volumes: []corev1.Volume{{
				Name: "checkpoints",
				VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
					Path: dir, Type: ptr.To(corev1.HostPathDirectory),
				}},
			}},
		},
	}
}

func collectorCreateError(err error, ns string) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%w: missing permission create on pods in namespace %s (%s); bind the Role podsleuth-collector (docs/rbac.yaml)", ErrForbidden, ns, apiMessage(err))
	}
	if errors.Is(err, ErrReadonly) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrCollector, err)
}

// ensureNamespace creates the collector namespace (and its default ServiceAccount) when it is
// missing.
func (c *Conn) ensureNamespace(ctx context.Context, ns string) error {
	_, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err == nil || apierrors.IsForbidden(err) {
		// forbidden to read namespaces: assume the admin created it (docs/rbac.yaml does)
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("collector namespace %s: %w", ns, classify(err))
	}
	_, err = c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   ns,
		Labels: map[string]string{LabelManagedBy: ManagedBy, "pod-security.kubernetes.io/enforce": "privileged"},
	}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		if apierrors.IsForbidden(err) {
			return fmt.Errorf("%w: namespace %s does not exist and you may not create it; apply docs/rbac.yaml (it creates it) or set cluster.collector_namespace", ErrForbidden, ns)
		}
		return fmt.Errorf("create collector namespace %s: %w", ns, err)
	}
	// Pods need the default ServiceAccount, which the controller-manager creates a moment later
	// (and a cluster without one never does): create it now; the controller's own create then
	// finds it.
	_, err = c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err == nil || apierrors.IsAlreadyExists(err) {
		return nil
	}
	if !apierrors.IsForbidden(err) {
		return fmt.Errorf("collector namespace %s: create its default ServiceAccount: %w", ns, classify(err))
	}
	// not allowed to: wait for the controller-manager's
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, gerr := c.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); gerr == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: collector namespace %s has no default ServiceAccount yet and you may not create it (%s)", ErrForbidden, ns, apiMessage(err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitRunning watches the pod until it runs, fails, or the timeout passes.
func (c *Conn) waitRunning(ctx context.Context, ns, name string, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	w, err := c.Client.CoreV1().Pods(ns).Watch(wctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if err != nil {
		return fmt.Errorf("%w: watch %s/%s: %v", ErrCollector, ns, name, classify(err))
	}
	defer w.Stop()
	last := "Pending"
	for {
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: %s/%s not running after %s (last: %s)", ErrCollector, ns, name, timeout, last)
		case ev, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("%w: watch of %s/%s ended (last: %s)", ErrCollector, ns, name, last)
			}
			if ev.Type == watch.Deleted {
				return fmt.Errorf("%w: %s/%s was deleted", ErrCollector, ns, name)
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			last = string(p.Status.Phase)
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Running != nil && cs.Ready {
					return nil
				}
				if cs.State.Running != nil {
					return nil
				}
				if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" {
					last = w.Reason + ": " + w.Message
					switch w.Reason {
					case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
						return fmt.Errorf("%w: %s/%s: %s (set cluster.collector_image / --collector-image to an image the node can run)", ErrCollector, ns, name, last)
					}
				}
				if t := cs.State.Terminated; t != nil {
					return fmt.Errorf("%w: %s/%s exited: %s", ErrCollector, ns, name, describeState(cs.State))
				}
			}
			if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
				return fmt.Errorf("%w: %s/%s %s: %s %s", ErrCollector, ns, name, p.Status.Phase, p.Status.Reason, p.Status.Message)
			}
		}
	}
}

// exec runs cmd in the collector, stdout into out. It speaks SPDY to the API server and falls
// back to WebSocket when an upgrade fails (an HTTP/2-only proxy on the way), the reverse of
// kubectl exec: the API server proxies SPDY to the kubelet as it is, but translates WebSocket
// frames into SPDY, and on a 256 MiB archive here SPDY streamed in 0.94-1.20 s against
// 1.14-1.42 s for WebSocket.
func (c *Conn) exec(ctx context.Context, ns, pod string, cmd []string, out io.Writer) error {
	req := c.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: "collector", Command: cmd, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(c.Config, "POST", req.URL())
	if err != nil {
		return err
	}
	ws, err := remotecommand.NewWebSocketExecutor(c.Config, "GET", req.URL().String())
	if err != nil {
		return err
	}
	ex, err := remotecommand.NewFallbackExecutor(spdy, ws, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: out, Stderr: &stderr})
	if err != nil {
		if apierrors.IsForbidden(err) {
			return fmt.Errorf("%w: missing permission create on pods/exec in namespace %s: %v", ErrForbidden, ns, err)
		}
		if s := strings.TrimSpace(stderr.String()); s != "" {
			return fmt.Errorf("%v: %s", err, truncate(s, 500))
		}
		return err
	}
	return nil
}

// deletePod deletes a pod immediately with a fresh bounded context (the caller's may be
// cancelled already).
func (c *Conn) deletePod(ns, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete collector pod %s/%s: %w (delete it by hand: label %s=%s)", ns, name, classify(err), LabelManagedBy, ManagedBy)
	}
	return nil
}

// deleteFromNode removes the archive from the node with a one-shot pod that mounts the
// checkpoint directory read-write.
func (c *Conn) deleteFromNode(ctx context.Context, o PullOptions, node, dir, base string) error {
	pod := collectorPod(o.Namespace, node, dir, o.Image, false, []string{"rm", "-f", "--", path.Join(mountPath, base)})
	created, err := c.Client.CoreV1().Pods(o.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return collectorCreateError(err, o.Namespace)
	}
	defer func() { _ = c.deletePod(o.Namespace, created.Name) }()
	wctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	for {
		p, err := c.Client.CoreV1().Pods(o.Namespace).Get(wctx, created.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCollector, err)
		}
		switch p.Status.Phase {
		case corev1.PodSucceeded:
			return nil
		case corev1.PodFailed:
			return fmt.Errorf("%w: rm on the node failed: %s", ErrCollector, p.Status.Message)
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("%w: cleaner pod did not finish: %v", ErrCollector, wctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Collectors lists podsleuth's pods in a namespace (tests and `podsleuth checkpoint` use it to
// prove nothing is left behind).
func (c *Conn) Collectors(ctx context.Context, ns string) ([]string, error) {
	l, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedBy})
	if err != nil {
		return nil, classify(err)
	}
	var names []string
	for _, p := range l.Items {
		names = append(names, p.Name)
	}
	return names, nil
}

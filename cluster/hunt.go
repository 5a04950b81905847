package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/forensics/hunt"
)

// HuntConfig configures Hunt. NewHuntConfig fills it from the settings; callers set the plan,
// the image, the rules and what their flags override.
type HuntConfig struct {
	// Plan is what PlanHunt made (and the responder confirmed).
	Plan *HuntPlan
	// Image is the analyzer image, pinned by digest (NAME@sha256:...); AgentPath the podsleuth
	// binary in it.
	Image, AgentPath string
	// Namespace holds the analyzer Jobs, the collectors of pulls and the cleaners
	// (cluster.collector_namespace).
	Namespace string
	// CheckpointDir is the kubelets' checkpoint directory (cluster.kubelet_checkpoint_dir): the
	// analyzer mounts it read-only; an archive the kubelet writes elsewhere is refused.
	CheckpointDir string
	// Rules (YARA sources) and Patterns (memsearch) run on every archive besides the analysis.
	Rules    []hunt.Rule
	Patterns []hunt.Pattern
	// TimeoutPerArchive is each archive's analysis budget; CheckpointTimeout the kubelet's.
	TimeoutPerArchive, CheckpointTimeout time.Duration
	// CPU and Memory limit each node's analyzer; Scratch bounds its emptyDir.
	CPU, Memory, Scratch resource.Quantity
	// PerNode bounds the checkpoints (and analyses) in flight on one node (default 1: a node
	// never has more than one container frozen at a time); Concurrency the checkpoints in flight
	// across the cluster.
	PerNode, Concurrency int
	// StartTimeout bounds the start of an analyzer, a collector or a cleaner pod.
	StartTimeout time.Duration
	// PullOnMatch, when set, pulls into the evidence store each archive whose result reaches
	// that severity (the pull, with its custody); Keep leaves the other archives on the nodes.
	PullOnMatch *forensics.Severity
	Keep        bool
	// Collector is the collector and cleaner image (the pulls' and deletions' pods).
	CollectorImage string
	// DataDir is the evidence store; Signing signs the hunt's entries and the pulls' custody.
	DataDir string
	Signing evidence.Options
	// PodContext and LogLimitBytes are the pulls' (PullOptions).
	PodContext    bool
	LogLimitBytes int64
	// CaseID, Analyst, Notes and Version go into the hunt's header and the pulls' manifests.
	CaseID, Analyst, Notes, Version string
	// Events, when set, is called (one call at a time) as the hunt progresses: a node's
	// analyzer starting and ready, a container's phases, each container's outcome.
	Events func(HuntEvent)
}

// NewHuntConfig is the hunt's configuration from podsleuth's settings.
func NewHuntConfig(cfg *config.Config, version string) HuntConfig {
	return HuntConfig{
		AgentPath: "/usr/bin/podsleuth", Namespace: cfg.Cluster.CollectorNamespace, CheckpointDir: cfg.Cluster.KubeletCheckpointDir,
		TimeoutPerArchive: hunt.DefaultTimeout, CheckpointTimeout: cfg.Cluster.CheckpointTimeout,
		CPU: resource.MustParse("1"), Memory: resource.MustParse("1Gi"), Scratch: resource.MustParse("8Gi"),
		PerNode: 1, Concurrency: cfg.Cluster.Concurrency, StartTimeout: 2 * time.Minute,
		CollectorImage: cfg.Cluster.CollectorImage, DataDir: cfg.DataDir, Signing: evidence.OptionsFrom(cfg),
		PodContext: cfg.Cluster.PodContext, LogLimitBytes: cfg.Cluster.LogLimitBytes,
		CaseID: cfg.Case.ID, Analyst: cfg.Case.Analyst, Notes: cfg.Case.Notes, Version: version,
	}
}

// HuntEvent is one step of a hunt. Target is nil for a node's own events (Phase "analyzer":
// its Job is being started, "ready", "stopped"; Err when it failed).
type HuntEvent struct {
	Time time.Time
	// Context is the kubeconfig context of the node and container (HuntContexts).
	Context string
	Node    string
	Target  *Target
	Phase   string // "checkpoint", "analyze", "pull", "clean", "done"
	Outcome *HuntOutcome
	Err     error
}

// HuntOutcome is what the hunt found, or why not, for one container.
type HuntOutcome struct {
	// Context is the kubeconfig context the container was hunted through.
	Context  string `json:"context,omitempty"`
	Target   Target `json:"target"`
	Node     string `json:"node"`
	NodePath string `json:"node_path,omitempty"`
	// Checkpoint is how long the kubelet took (the container's freeze is within it).
	Checkpoint time.Duration `json:"checkpoint_ns,omitempty"`
	Result     *hunt.Result  `json:"result,omitempty"`
	// Matched says the result reached PullOnMatch; Evidence is the pulled item.
	Matched  bool   `json:"matched,omitempty"`
	Evidence string `json:"evidence,omitempty"`
	// OnNode says the archive is still on the node (--keep, or its deletion failed: Cleanup).
	OnNode  bool   `json:"archive_on_node,omitempty"`
	Cleanup string `json:"cleanup_error,omitempty"`
	// Err is why the container has no result (Class names it); its text is Error.
	Err   error  `json:"-"`
	Class string `json:"class,omitempty"`
	Error string `json:"error,omitempty"`
}

// Severity is the result's severity, "" without findings or result.
func (o *HuntOutcome) Severity() string {
	if o.Result == nil {
		return ""
	}
	return o.Result.Severity
}

// FailureClass names a hunt failure for tables and JSON.
func FailureClass(err error) string {
	var ce *CheckpointError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrInterrupted), errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.As(err, &ce):
		return "checkpoint: " + ce.Class.Error()
	case errors.Is(err, ErrAnalyzer):
		return "analyzer"
	case errors.Is(err, ErrResultStream):
		return "result stream"
	case errors.Is(err, ErrAnalysis):
		return "analysis"
	case errors.Is(err, ErrForbidden):
		return "forbidden"
	}
	return "error"
}

// HuntReport is a finished (or interrupted) hunt.
type HuntReport struct {
	ID          string        `json:"id"`
	Dir         string        `json:"dir"`
	Started     time.Time     `json:"started"`
	Ended       time.Time     `json:"ended"`
	Outcomes    []HuntOutcome `json:"outcomes"`
	Skipped     []HuntSkip    `json:"skipped,omitempty"`
	Interrupted bool          `json:"interrupted,omitempty"`
	// CleanupErrors are what could not be deleted (Jobs, pods); each names what to delete.
	CleanupErrors []string `json:"cleanup_errors,omitempty"`
}

// Counts returns how many containers were analysed, matched and failed.
func (r *HuntReport) Counts() (analysed, matched, failed int) {
	for _, o := range r.Outcomes {
		switch {
		case o.Err != nil || o.Error != "":
			failed++
		default:
			analysed++
		}
		if o.Matched {
			matched++
		}
	}
	return
}

// Hunt is the hunt job: per node of the plan, one analyzer Job (pinned to the node, the
// checkpoint directory read-only) and, in waves bounded per node and across the cluster, a
// checkpoint of each container through its kubelet, analysed on the node as soon as it is
// written (`hunt-agent analyze` in the Job's pod, the result on the exec's stdout). Only results
// cross the API server; each is signed on receipt into the evidence store as the hunt's
// entry. Archives whose result reaches PullOnMatch are pulled (with their custody); every other
// archive is deleted from its node unless Keep. A failure is that container's named outcome and
// the hunt goes on. Cancelling ctx stops new work: checkpoints in flight finish (their archives
// are deleted), analyses in flight are cut, and every Job, pod and archive the hunt created is
// deleted; the results so far are kept.
func Hunt(ctx context.Context, c *Conn, cfg HuntConfig) (*HuntReport, error) {
	return HuntContexts(ctx, []HuntRun{{Conn: c, Config: cfg}})
}

func countClass(r *HuntReport, class string) int {
	n := 0
	for _, o := range r.Outcomes {
		if o.Class == class {
			n++
		}
	}
	return n
}

func (cfg *HuntConfig) validate() error {
	if cfg.Plan == nil || cfg.Plan.Targets() == 0 {
		return errors.New("hunt: nothing to hunt (the plan has no running container)")
	}
	if !strings.Contains(cfg.Image, "@sha256:") {
		return fmt.Errorf("hunt: the analyzer image %q is not pinned by digest (NAME@sha256:...; `make analyzer-image` prints it)", cfg.Image)
	}
	if cfg.AgentPath == "" {
		cfg.AgentPath = "/usr/bin/podsleuth"
	}
	if cfg.Namespace == "" || cfg.CollectorImage == "" {
		return errors.New("hunt: no namespace or collector image (cluster.collector_namespace, cluster.collector_image)")
	}
	if !path.IsAbs(cfg.CheckpointDir) || path.Clean(cfg.CheckpointDir) != cfg.CheckpointDir {
		return fmt.Errorf("hunt: the kubelets' checkpoint directory %q must be a clean absolute path (cluster.kubelet_checkpoint_dir)", cfg.CheckpointDir)
	}
	if cfg.TimeoutPerArchive <= 0 {
		cfg.TimeoutPerArchive = hunt.DefaultTimeout
	}
	if cfg.CheckpointTimeout <= 0 {
		cfg.CheckpointTimeout = time.Minute
	}
	if cfg.PerNode < 1 {
		cfg.PerNode = 1
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 2 * time.Minute
	}
	if cfg.CPU.IsZero() || cfg.Memory.IsZero() {
		return errors.New("hunt: the analyzer needs CPU and memory limits (--cpu, --memory)")
	}
	if cfg.Scratch.IsZero() {
		cfg.Scratch = resource.MustParse("8Gi")
	}
	req := hunt.Request{Archive: "x.tar", Rules: cfg.Rules, Patterns: cfg.Patterns}
	return req.Validate()
}

// huntPreflight asks the API server, before anything is changed, whether the user may do what
// the hunt needs, so that RBAC allowing checkpoints but not Jobs freezes no container.
func (c *Conn) huntPreflight(ctx context.Context, ns string, cleaners bool) error {
	need := []authzv1.ResourceAttributes{
		{Verb: "create", Resource: "nodes", Subresource: "proxy"},
		{Verb: "create", Group: "batch", Resource: "jobs", Namespace: ns},
		{Verb: "delete", Group: "batch", Resource: "jobs", Namespace: ns},
		{Verb: "list", Resource: "pods", Namespace: ns},
		{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: ns},
	}
	if cleaners {
		need = append(need, authzv1.ResourceAttributes{Verb: "create", Resource: "pods", Namespace: ns},
			authzv1.ResourceAttributes{Verb: "delete", Resource: "pods", Namespace: ns})
	}
	var missing []string
	for _, a := range need {
		ok, _, err := c.can(ctx, &a)
		if err != nil {
			return fmt.Errorf("hunt: check permissions: %w", err)
		}
		if !ok {
			r := a.Resource
			if a.Group != "" {
				r += "." + a.Group
			}
			if a.Subresource != "" {
				r += "/" + a.Subresource
			}
			where := "cluster-wide"
			if a.Namespace != "" {
				where = "in namespace " + a.Namespace
			}
			missing = append(missing, a.Verb+" "+r+" "+where)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("hunt: %w: missing %s (bind the roles podsleuth-responder, podsleuth-collector and podsleuth-analyzer of docs/rbac.yaml); nothing was changed",
			ErrForbidden, strings.Join(missing, ", "))
	}
	return nil
}

// hunter is one running hunt.
type hunter struct {
	c     *Conn
	cfg   HuntConfig
	store *evidence.Store
	log   *evidence.HuntLog
	pool  *CollectorPool
	sem   chan struct{} // checkpoints in flight across the cluster
	// part numbers the context in a multi-context hunt (its Jobs' names); emitMu makes the
	// contexts' Events one call at a time.
	part   int
	emitMu *sync.Mutex

	mu       sync.Mutex // outcomes, cleanup
	outcomes []HuntOutcome
	cleanup  []string
}

func (h *hunter) emit(e HuntEvent) {
	if h.cfg.Events == nil {
		return
	}
	e.Time, e.Context = time.Now(), h.c.Context
	h.emitMu.Lock()
	defer h.emitMu.Unlock()
	h.cfg.Events(e)
}

func (h *hunter) cleanupErr(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cleanup = append(h.cleanup, err.Error())
}

// finish records a container's outcome: the signed entry first, then the event.
func (h *hunter) finish(o HuntOutcome) {
	o.Context = h.c.Context
	if o.Err != nil {
		o.Class, o.Error = FailureClass(o.Err), o.Err.Error()
	}
	kind := "result"
	if o.Err != nil {
		kind = "failure"
	}
	if err := h.log.Append(kind, o); err != nil {
		o.Cleanup = strings.TrimSpace(o.Cleanup + " (not stored: " + err.Error() + ")")
	}
	h.mu.Lock()
	h.outcomes = append(h.outcomes, o)
	h.mu.Unlock()
	t := o.Target
	h.emit(HuntEvent{Node: o.Node, Target: &t, Phase: "done", Outcome: &o})
}

// pending is a checkpointed archive waiting for its analysis.
type pending struct {
	res *CheckpointResult
	out HuntOutcome
}

// runNode runs one node: its analyzer, then its containers' checkpoints and analyses.
func (h *hunter) runNode(ctx context.Context, nd HuntNode) {
	cfg := &h.cfg
	h.emit(HuntEvent{Node: nd.Name, Phase: "analyzer"})
	job := analyzerJob(cfg.Namespace, h.log.ID, nd.Name, cfg, len(nd.Targets))
	if h.part > 0 { // the same node may be reached through two contexts
		job.Name += "-" + strconv.Itoa(h.part)
	}
	an, err := h.c.startAnalyzer(ctx, job, cfg)
	defer func() {
		if err := an.stop(ctx); err != nil {
			h.cleanupErr(err)
		}
		h.emit(HuntEvent{Node: nd.Name, Phase: "stopped"})
	}()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: before the analyzer of node %s ran", ErrInterrupted, nd.Name)
		}
		h.emit(HuntEvent{Node: nd.Name, Phase: "analyzer", Err: err})
		for _, t := range nd.Targets {
			h.finish(HuntOutcome{Target: t, Node: nd.Name, Err: err})
		}
		return
	}
	h.emit(HuntEvent{Node: nd.Name, Phase: "ready"})
	queue := make(chan Target)
	items := make(chan *pending, cfg.PerNode)
	cl := h.startCleaner(ctx, cfg.PerNode)
	var cw, aw sync.WaitGroup
	for range cfg.PerNode {
		cw.Add(1)
		go func() {
			defer cw.Done()
			for t := range queue {
				if p := h.checkpoint(ctx, nd.Name, t); p != nil {
					items <- p
				}
			}
		}()
		aw.Add(1)
		go func() {
			defer aw.Done()
			for p := range items {
				h.analyse(ctx, an, p, cl)
			}
		}()
	}
	for i, t := range nd.Targets {
		select {
		case queue <- t:
			continue
		case <-ctx.Done():
		}
		for _, rest := range nd.Targets[i:] {
			h.finish(HuntOutcome{Target: rest, Node: nd.Name, Err: fmt.Errorf("%w: not checkpointed", ErrInterrupted)})
		}
		break
	}
	close(queue)
	cw.Wait()
	close(items)
	aw.Wait()
	cl.close()
}

// checkpoint checkpoints one container (cluster-wide bound); nil when it failed (recorded).
// A checkpoint once asked for is not cancelled: its archive must be known to be deleted.
func (h *hunter) checkpoint(ctx context.Context, node string, t Target) *pending {
	out := HuntOutcome{Target: t, Node: node}
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		out.Err = fmt.Errorf("%w: not checkpointed", ErrInterrupted)
		h.finish(out)
		return nil
	}
	defer func() { <-h.sem }()
	if ctx.Err() != nil {
		out.Err = fmt.Errorf("%w: not checkpointed", ErrInterrupted)
		h.finish(out)
		return nil
	}
	h.emit(HuntEvent{Node: node, Target: &t, Phase: "checkpoint"})
	start := time.Now()
	res, err := h.c.CheckpointWith(context.WithoutCancel(ctx), t, h.cfg.CheckpointTimeout, nil)
	out.Checkpoint = time.Since(start)
	if err != nil {
		out.Err = err
		h.finish(out)
		return nil
	}
	out.NodePath, out.OnNode = res.NodePath, true
	if res.Node != node {
		out.Err = fmt.Errorf("%w: the pod moved from node %s to %s since the plan", ErrAnalysis, node, res.Node)
	} else if dir, _, err := splitNodePath(res.NodePath); err != nil || dir != h.cfg.CheckpointDir {
		out.Err = fmt.Errorf("%w: the kubelet wrote %s, outside the analyzer's checkpoint directory %s (set cluster.kubelet_checkpoint_dir to the kubelets' <root-dir>/checkpoints)",
			ErrAnalysis, res.NodePath, h.cfg.CheckpointDir)
	}
	return &pending{res: res, out: out}
}

// analyse runs the analysis of one archive on its node, pulls it on a match, and hands it to
// the node's cleaner, which deletes it and records the outcome.
func (h *hunter) analyse(ctx context.Context, an *analyzer, p *pending, cl *nodeCleaner) {
	out, res := p.out, p.res
	t := out.Target
	defer func() { cl.add(res, out) }()
	if out.Err != nil {
		return
	}
	if ctx.Err() != nil {
		out.Err = fmt.Errorf("%w: checkpointed, not analysed", ErrInterrupted)
		return
	}
	h.emit(HuntEvent{Node: out.Node, Target: &t, Phase: "analyze"})
	_, base, _ := splitNodePath(res.NodePath)
	r, err := an.analyze(ctx, &hunt.Request{Archive: base, Rules: h.cfg.Rules, Patterns: h.cfg.Patterns, Timeout: h.cfg.TimeoutPerArchive})
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: analysis cut", ErrInterrupted)
		}
		out.Err = err
		return
	}
	out.Result = r
	if r.Archive != base {
		out.Err = fmt.Errorf("%w: the analyzer answered for %q, not %q", ErrResultStream, forensics.Printable(r.Archive), base)
		return
	}
	if r.Error != "" {
		out.Err = fmt.Errorf("%w: %s: %s", ErrAnalysis, r.Stage, forensics.Printable(r.Error))
		return
	}
	if h.cfg.PullOnMatch == nil || !r.Reaches(*h.cfg.PullOnMatch) {
		return
	}
	out.Matched = true
	if ctx.Err() != nil {
		out.Cleanup = "matched, not pulled: the hunt was interrupted"
		return
	}
	h.emit(HuntEvent{Node: out.Node, Target: &t, Phase: "pull"})
	m := evidence.Manifest{ToolVersion: "podsleuth " + h.cfg.Version, CaseID: h.cfg.CaseID, Analyst: h.cfg.Analyst,
		Notes: strings.TrimSpace(h.cfg.Notes + " hunt " + h.log.ID + ": " + r.Severity)}
	item, err := h.c.Pull(ctx, res, PullOptions{Collectors: h.pool, Store: h.store, Manifest: m, DeleteFromNode: !h.cfg.Keep,
		PodContext: h.cfg.PodContext, LogLimitBytes: h.cfg.LogLimitBytes, StartTimeout: h.cfg.StartTimeout})
	if err != nil {
		out.Err = fmt.Errorf("pull after a match: %w", err)
		return
	}
	out.Evidence = item.ID
	out.OnNode = h.cfg.Keep
	if r.SHA256 != "" && item.Manifest.LocalSHA256 != r.SHA256 {
		out.Err = fmt.Errorf("%w: the pulled archive's SHA-256 %s is not the one the analyzer read (%s): the archive changed on the node", evidence.ErrHashMismatch, item.Manifest.LocalSHA256, r.SHA256)
	}
	_ = h.store.Log(item.ID, evidence.Event{Action: "hunt-match", Details: map[string]string{
		"hunt": h.log.ID, "severity": r.Severity, "analyzer_sha256": r.SHA256}})
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

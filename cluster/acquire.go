package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/forensics/evidence"
)

// AcquireConfig configures Acquire. NewAcquireConfig fills it from the settings; callers then
// set the targets and what their flags override.
type AcquireConfig struct {
	// Targets are the containers to acquire (Resolve makes them from a pod or a selector).
	Targets []Target
	// Existing, when set, names an archive already on the node of the one target (a path, or a
	// name in Collector.CheckpointDir): it is pulled instead of checkpointing.
	Existing string
	// Pull brings each archive into the evidence store under DataDir; without it the archives
	// stay on their nodes.
	Pull    bool
	DataDir string
	// Signing signs the manifests and custody events of the acquisitions (the analyst's key).
	Signing evidence.Options
	// Timeout is the checkpoint timeout passed to the kubelet (cluster.checkpoint_timeout).
	Timeout time.Duration
	// Concurrency bounds the checkpoints and, separately, the pulls in flight (cluster.concurrency).
	Concurrency int
	// Collector configures the collector pods: started on each node while its kubelet
	// checkpoints and shared by the pulls of the run, deleted on every way out.
	Collector CollectorOptions
	// DeleteFromNode, PodContext and LogLimitBytes are PullOptions'.
	DeleteFromNode bool
	PodContext     bool
	LogLimitBytes  int64
	// CaseID, Analyst and Notes go into every manifest (config case.*).
	CaseID, Analyst, Notes string
	// Version is podsleuth's version; manifests record the tool as "podsleuth VERSION".
	Version string
	// Progress, when set, reports each target's progress: Phase "checkpoint" while its kubelet
	// checkpoints, then the pull's phases. Calls for different targets may come concurrently.
	Progress func(Target, Progress)
	// Checkpointed and Pulled, when set, are called (one call at a time) as each target's
	// checkpoint and pull end; Pulled only with Pull.
	Checkpointed func(Acquired)
	Pulled       func(Acquired)
}

// NewAcquireConfig is the acquire job's configuration from podsleuth's settings.
func NewAcquireConfig(cfg *config.Config, version string) AcquireConfig {
	return AcquireConfig{
		Pull: true, DataDir: cfg.DataDir,
		Timeout: cfg.Cluster.CheckpointTimeout, Concurrency: cfg.Cluster.Concurrency,
		Collector: CollectorOptions{
			Namespace: cfg.Cluster.CollectorNamespace, Image: cfg.Cluster.CollectorImage,
			CheckpointDir: cfg.Cluster.KubeletCheckpointDir,
		},
		DeleteFromNode: cfg.Cluster.DeleteFromNode, PodContext: cfg.Cluster.PodContext, LogLimitBytes: cfg.Cluster.LogLimitBytes,
		CaseID: cfg.Case.ID, Analyst: cfg.Case.Analyst, Notes: cfg.Case.Notes, Version: version,
		Signing: evidence.OptionsFrom(cfg),
	}
}

// Acquired is what Acquire did for one target (also the JSON of `podsleuth checkpoint`).
type Acquired struct {
	Target     Target            `json:"target"`
	Checkpoint *CheckpointResult `json:"checkpoint,omitempty"`
	Evidence   *evidence.Item    `json:"evidence,omitempty"`
	// Err is why the checkpoint or the pull failed (the pull failed when Checkpoint is set); its
	// text is the JSON's "error".
	Err error `json:"-"`
}

// MarshalJSON adds "error", Err's text.
func (a Acquired) MarshalJSON() ([]byte, error) {
	type plain Acquired
	var msg string
	if a.Err != nil {
		msg = a.Err.Error()
	}
	return json.Marshal(struct {
		plain
		Error string `json:"error,omitempty"`
	}{plain(a), msg})
}

// Acquire is the acquire job: it checkpoints every target through its kubelet (bounded
// concurrency) or takes the one Existing archive, and with Pull streams each archive, as soon as
// its checkpoint is done, into the evidence store with its manifest, custody log and the pod's
// context (artifacts). The collector of each node starts while its kubelet checkpoints; every
// collector is deleted on success, failure and cancellation. The results are in the targets'
// order; a failure does not stop the others. The error is the one target's error, or how many
// of several failed.
func Acquire(ctx context.Context, c *Conn, cfg AcquireConfig) (out []Acquired, err error) {
	if c.Readonly {
		// refuse before anything is sent; the transport guard would refuse it too
		return nil, fmt.Errorf("checkpoint: %w: a checkpoint writes an archive on the node (drop --readonly)", ErrReadonly)
	}
	if len(cfg.Targets) == 0 {
		return nil, errors.New("acquire: no target")
	}
	if cfg.Existing != "" && (len(cfg.Targets) != 1 || !cfg.Pull) {
		return nil, errors.New("--existing names one archive: give one pod (and -c) and --pull")
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	var store *evidence.Store
	if cfg.Pull {
		if store, err = evidence.OpenWith(cfg.DataDir, cfg.Signing); err != nil {
			return nil, err
		}
	}
	out = make([]Acquired, len(cfg.Targets))
	for i, t := range cfg.Targets {
		out[i].Target = t
	}
	var pool *CollectorPool
	if cfg.Pull {
		pool = c.NewCollectorPool(ctx, cfg.Collector)
		defer func() {
			if cerr := pool.Close(); cerr != nil && err == nil {
				err = cerr
			}
		}()
	}
	var mu sync.Mutex // one callback at a time
	call := func(f func(Acquired), i int) {
		if f != nil {
			mu.Lock()
			defer mu.Unlock()
			f(out[i])
		}
	}
	progress := func(t Target) func(Progress) {
		if cfg.Progress == nil {
			return nil
		}
		return func(p Progress) { cfg.Progress(t, p) }
	}
	m := evidence.Manifest{ToolVersion: "podsleuth " + cfg.Version, CaseID: cfg.CaseID, Analyst: cfg.Analyst, Notes: cfg.Notes}
	// Each pull starts as soon as its checkpoint is done, with the same bound as the checkpoints.
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	pull := func(i int, r *CheckpointResult) {
		defer wg.Done()
		t := cfg.Targets[i]
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			out[i].Err = fmt.Errorf("pull %s: %w", t, ctx.Err())
			call(cfg.Pulled, i)
			return
		}
		defer func() { <-sem }()
		item, err := c.Pull(ctx, r, PullOptions{
			Collectors: pool, Store: store, Manifest: m, DeleteFromNode: cfg.DeleteFromNode,
			PodContext: cfg.PodContext, LogLimitBytes: cfg.LogLimitBytes, Progress: progress(t),
		})
		out[i].Evidence, out[i].Err = item, err
		call(cfg.Pulled, i)
	}
	done := func(i int, r *CheckpointResult, err error) {
		out[i].Checkpoint, out[i].Err = r, err
		call(cfg.Checkpointed, i)
		if err == nil && cfg.Pull {
			wg.Add(1)
			go pull(i, r)
		}
	}
	if cfg.Existing != "" {
		path := cfg.Existing
		if !strings.Contains(path, "/") {
			path = cfg.Collector.CheckpointDir + "/" + path
		}
		r, err := c.Existing(ctx, cfg.Targets[0], path)
		done(0, r, err)
	} else {
		if cfg.Progress != nil {
			for _, t := range cfg.Targets {
				cfg.Progress(t, Progress{Phase: "checkpoint"})
			}
		}
		res, errs := c.CheckpointAll(ctx, cfg.Targets, cfg.Timeout, cfg.Concurrency, pool, done)
		for i := range out {
			if res[i] == nil && errs[i] != nil && out[i].Err == nil {
				out[i].Err = errs[i] // cancelled before its turn: done was not called
			}
		}
	}
	wg.Wait()
	failed := 0
	for _, a := range out {
		if a.Err != nil {
			failed++
		}
	}
	switch {
	case failed == 0:
		return out, nil
	case len(out) == 1:
		return out, out[0].Err
	default:
		return out, fmt.Errorf("%d of %d checkpoints failed", failed, len(out))
	}
}

package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/podsleuth/podsleuth/forensics/evidence"
)

// HuntRun is one kubeconfig context's part of a hunt: its connection and its configuration
// (its plan; the analysis, the store and Events are the first run's for every run).
type HuntRun struct {
	Conn   *Conn
	Config HuntConfig
}

// HuntContexts is the hunt job over one or more contexts: each run's plan is hunted through
// its own connection as Hunt does, one context after the other (each bounded by its own waves),
// and the results are merged into one report and stored as one hunt (its header lists the
// contexts); each outcome and event says its context. Every context is checked (read-only,
// configuration, permissions) before anything is changed in any of them. Cancelling ctx stops
// new work in the running context, and the contexts not reached yet record their containers
// as interrupted.
func HuntContexts(ctx context.Context, runs []HuntRun) (rep *HuntReport, err error) {
	if len(runs) == 0 {
		return nil, errors.New("hunt: no context to hunt in")
	}
	for i := range runs {
		r := &runs[i]
		if r.Conn.Readonly {
			return nil, fmt.Errorf("hunt: %w: a hunt checkpoints containers and runs Jobs on the nodes (drop --readonly)", ErrReadonly)
		}
		if err := r.Config.validate(); err != nil {
			return nil, contextErr(runs, r, err)
		}
		if err := r.Conn.huntPreflight(ctx, r.Config.Namespace, r.Config.PullOnMatch != nil || !r.Config.Keep); err != nil {
			return nil, contextErr(runs, r, err)
		}
	}
	cfg := runs[0].Config
	store, err := evidence.OpenWith(cfg.DataDir, cfg.Signing)
	if err != nil {
		return nil, err
	}
	rep = &HuntReport{Started: time.Now().UTC()}
	host, _ := os.Hostname()
	hdr := evidence.HuntHeader{Analyst: cfg.Analyst, CaseID: cfg.CaseID, Tool: "podsleuth " + cfg.Version, Host: host,
		Image: cfg.Image, Started: rep.Started}
	var sels []string
	for _, r := range runs {
		hdr.Contexts = append(hdr.Contexts, r.Conn.Context)
		hdr.Targets += r.Config.Plan.Targets()
		hdr.Nodes += len(r.Config.Plan.Nodes)
		sel := r.Config.Plan.Selection.String()
		if len(runs) > 1 {
			sel = r.Conn.Context + ": " + sel
		}
		sels = append(sels, sel)
		rep.Skipped = append(rep.Skipped, r.Config.Plan.Skipped...)
	}
	hdr.Selection = strings.Join(sels, "; ")
	for _, r := range cfg.Rules {
		hdr.Rules = append(hdr.Rules, r.Name+" sha256:"+sha256Hex([]byte(r.Source)))
	}
	for _, p := range cfg.Patterns {
		hdr.Patterns = append(hdr.Patterns, p.String())
	}
	if cfg.PullOnMatch != nil {
		hdr.PullOnMatch = cfg.PullOnMatch.String()
	}
	log, err := store.NewHunt(hdr)
	if err != nil {
		return nil, err
	}
	rep.ID, rep.Dir = log.ID, log.Dir
	var emitMu sync.Mutex
	for i, r := range runs {
		rc := r.Config
		rc.Events = cfg.Events
		h := &hunter{c: r.Conn, cfg: rc, store: store, log: log, sem: make(chan struct{}, rc.Concurrency), part: i, emitMu: &emitMu}
		var err error
		if ctx.Err() != nil && i > 0 { // stopped in an earlier context: this one is not touched
			for _, nd := range rc.Plan.Nodes {
				for _, t := range nd.Targets {
					h.finish(HuntOutcome{Target: t, Node: nd.Name, Err: fmt.Errorf("%w: before context %s was reached", ErrInterrupted, r.Conn.Context)})
				}
			}
		} else {
			err = h.run(ctx)
		}
		rep.Outcomes = append(rep.Outcomes, h.outcomes...)
		rep.CleanupErrors = append(rep.CleanupErrors, h.cleanup...)
		if err != nil {
			rep.Ended = time.Now().UTC()
			return rep, contextErr(runs, &runs[i], err)
		}
	}
	rep.Ended = time.Now().UTC()
	rep.Interrupted = ctx.Err() != nil
	a, m, f := rep.Counts()
	end := map[string]any{"analysed": a, "matched": m, "failed": f, "interrupted": rep.Interrupted, "cleanup_errors": rep.CleanupErrors}
	if err := log.Append("end", end); err != nil {
		return rep, err
	}
	if rep.Interrupted {
		return rep, fmt.Errorf("hunt %s: %w after %d of %d containers (results so far kept)", rep.ID, ErrInterrupted, a+f-countClass(rep, "interrupted"), len(rep.Outcomes))
	}
	if len(rep.CleanupErrors) > 0 {
		return rep, fmt.Errorf("hunt %s: could not delete everything it created: %s", rep.ID, strings.Join(rep.CleanupErrors, "; "))
	}
	return rep, nil
}

// contextErr names the context of err when the hunt has several.
func contextErr(runs []HuntRun, r *HuntRun, err error) error {
	if len(runs) < 2 {
		return err
	}
	return fmt.Errorf("context %s: %w", r.Conn.Context, err)
}

// run hunts the hunter's plan: one goroutine per node, then the pulls' collectors closed.
func (h *hunter) run(ctx context.Context) error {
	cfg := h.cfg
	if err := h.c.ensureNamespace(ctx, cfg.Namespace); err != nil {
		return err
	}
	if cfg.PullOnMatch != nil {
		h.pool = h.c.NewCollectorPool(context.WithoutCancel(ctx), CollectorOptions{Namespace: cfg.Namespace, Image: cfg.CollectorImage, StartTimeout: cfg.StartTimeout})
	}
	var wg sync.WaitGroup
	for _, nd := range cfg.Plan.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.runNode(ctx, nd)
		}()
	}
	wg.Wait()
	if h.pool != nil {
		if err := h.pool.Close(); err != nil {
			h.cleanupErr(err)
		}
	}
	return nil
}

package cluster

import (
	"context"
	"errors"
	"fmt"
)

// nodeCleaner deletes one node's analysed archives (unless --keep) and then records their
// outcomes. It runs beside the analyses: a cleaner pod takes seconds to be scheduled, started
// and deleted, longer than the analysis of a 64 MiB archive, so a cleaner pod per archive in the
// analysis loop made the node's cleaners, not its checkpoints, the pace of the hunt. One cleaner
// pod removes every archive queued while the last one ran (at most MaxCleanBatch).
//
// Disk: the queue holds at most perNode archives and a batch at most perNode+1, so a node holds
// at most 4×perNode+1 archives at once (perNode being checkpointed or waiting, perNode queued for
// analysis, perNode analysed, perNode+1 being removed); 5 with the default --per-node 1.
type nodeCleaner struct {
	h    *hunter
	ctx  context.Context
	q    chan cleanItem
	max  int
	done chan struct{}
}

type cleanItem struct {
	res *CheckpointResult
	out HuntOutcome
}

func (h *hunter) startCleaner(ctx context.Context, perNode int) *nodeCleaner {
	perNode = max(perNode, 1)
	c := &nodeCleaner{h: h, ctx: ctx, q: make(chan cleanItem, perNode), max: min(perNode+1, MaxCleanBatch), done: make(chan struct{})}
	go c.run()
	return c
}

// add queues an analysed archive; it waits while the queue is full (the disk bound above).
func (c *nodeCleaner) add(res *CheckpointResult, out HuntOutcome) { c.q <- cleanItem{res, out} }

// close waits until every queued archive is removed and its outcome recorded.
func (c *nodeCleaner) close() {
	close(c.q)
	<-c.done
}

func (c *nodeCleaner) run() {
	defer close(c.done)
	for it := range c.q {
		batch := []cleanItem{it}
	drain:
		for len(batch) < c.max {
			select {
			case more, ok := <-c.q:
				if !ok {
					break drain
				}
				batch = append(batch, more)
			default:
				break drain
			}
		}
		c.h.removeArchives(c.ctx, batch)
		for i := range batch {
			c.h.finish(batch[i].out)
		}
	}
}

// removeArchives deletes the batch's archives still on their nodes, one cleaner pod per node
// and directory; a cancelled hunt deletes too, with a fresh bounded context. An archive that
// could not be deleted is named in its outcome's Cleanup and in the hunt's cleanup errors.
func (h *hunter) removeArchives(ctx context.Context, batch []cleanItem) {
	if h.cfg.Keep {
		return
	}
	type where struct{ node, dir string }
	groups := map[where][]int{}
	var order []where
	for i := range batch {
		it := &batch[i]
		if !it.out.OnNode || it.res == nil {
			continue
		}
		t := it.out.Target
		h.emit(HuntEvent{Node: it.out.Node, Target: &t, Phase: "clean"})
		dir, _, err := splitNodePath(it.res.NodePath)
		if err != nil {
			h.cleanFailed(&it.out, it.res, err)
			continue
		}
		w := where{it.res.Node, dir}
		if _, ok := groups[w]; !ok {
			order = append(order, w)
		}
		groups[w] = append(groups[w], i)
	}
	for _, w := range order {
		idx := groups[w]
		bases := make([]string, len(idx))
		for k, i := range idx {
			_, bases[k], _ = splitNodePath(batch[i].res.NodePath)
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.StartTimeout+DeleteTimeout)
		err := h.c.deleteFromNode(dctx, PullOptions{Namespace: h.cfg.Namespace, Image: h.cfg.CollectorImage, StartTimeout: h.cfg.StartTimeout}, w.node, w.dir, bases...)
		cancel()
		for _, i := range idx {
			if err != nil {
				h.cleanFailed(&batch[i].out, batch[i].res, err)
				continue
			}
			batch[i].out.OnNode = false
		}
	}
}

func (h *hunter) cleanFailed(out *HuntOutcome, res *CheckpointResult, err error) {
	out.Cleanup = fmt.Sprintf("the archive %s is still on node %s: %v", res.NodePath, res.Node, err)
	h.cleanupErr(errors.New(out.Cleanup))
}

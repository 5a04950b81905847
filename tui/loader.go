package tui

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/memory"
	"github.com/podsleuth/podsleuth/forensics/open"
	"github.com/podsleuth/podsleuth/forensics/report"
	"github.com/podsleuth/podsleuth/forensics/yara"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
)

// load opens the checkpoint with the open job and analyses it with the analysis job, as the
// CLI does (src.Rootfs is its --rootfs: the base image the analysis reads); a fully analysed
// model is kept for the report export. It runs inside a Cmd.
func (j *Jobs) load(ctx context.Context, src checkpoint.Source) (*checkpoint.Loaded, error) {
	path := src.Path
	oc := open.FromConfig(j.cfg, path, "podsleuth TUI")
	oc.Memory = true
	// the first screen shows while the evidence is re-hashed; the banner follows the outcome
	oc.VerifyAsync = true
	cs, err := open.Open(ctx, oc)
	if err != nil {
		return nil, err
	}
	cp := cs.Checkpoint
	ld := &checkpoint.Loaded{Path: path, Close: cs.Close, Custody: custodyNote(cs)}
	if v := cs.Verification; v != nil {
		id := cs.Item.ID
		ld.Verification = checkpoint.Verification{Item: id, State: v.State(), Summary: v.Summary()}
		ld.Verified = func(ctx context.Context) (checkpoint.Verification, string) {
			_, _ = v.Wait(ctx) // its outcome (or the cancellation) is in State
			rec, err := v.Recorded()
			note := "opening recorded in the custody log of " + id
			switch {
			case err != nil:
				note = "warning: opening not recorded: " + err.Error()
			case !rec:
				note = ""
			}
			return checkpoint.Verification{Item: id, State: v.State(), Summary: v.Summary()}, note
		}
	}
	var mem analysis.Memory
	if cs.MemoryErr != nil {
		why := cs.MemoryErr // "index memory of PATH: why": the screen names the checkpoint already
		if u := errors.Unwrap(why); u != nil {
			why = u
		}
		ld.MemoryNote = "memory could not be indexed: " + why.Error()
		ld.IOCNote = "indicators need the memory index: " + why.Error()
	} else {
		ld.Memory = memSearcher{cs.Memory}
		mem = cs.Memory
	}
	// extracted unredacted: the IOCs tab masks secrets itself until r reveals them
	ao := analysis.Options{Reveal: true, NoIndicators: mem == nil, Archive: cs.Archive,
		Yara: yara.FromConfig(j.cfg.Yara, j.cfg.CacheDir, cs.Archive, cp), Rootfs: src.Rootfs}
	if cs.Item != nil {
		ao.EvidenceID = cs.Item.ID
	}
	res, err := analysis.Run(ctx, cp, mem, ao)
	if err != nil {
		_ = cs.Close()
		return nil, err
	}
	j.setBase(cs.Path, src.Rootfs)
	// the modified files' diffs, as the report carries them (and exports them from here)
	diffs := report.RootfsDiffs(cp, res)
	ld.RootfsDiffs = rootfsDiffs(res, diffs)
	// the saved contents stay attached to the memory index (the Memory tab searches them)
	ld.Close = func() error { res.Close(); return cs.Close() }
	ld.Conclusion = res.Conclusion
	ld.Contents = res.Content
	if res.ContentErr != nil {
		ld.ContentNote = "saved contents could not be listed: " + res.ContentErr.Error()
	}
	if res.YaraErr != nil {
		ld.FindingsNote = "YARA rules (config yara.rules) did not run: " + res.YaraErr.Error()
	}
	if res.IndicatorsErr != nil {
		ld.IOCNote = "indicator extraction failed: " + res.IndicatorsErr.Error()
	} else if mem != nil {
		ld.IOCs = res.Indicators
		j.keep(cs.Path, cp, res.Indicators, diffs)
	}
	// the screens show a printable copy; the indicators are shown in the IOCs table, whose
	// cells are made safe as they are shown (their masks count the real bytes)
	ld.Checkpoint = printableCopy(cp)
	return ld, nil
}

// custodyNote says where the opening of evidence was recorded, or why it could not be; "" for a
// file that is not evidence.
func custodyNote(cs *open.Case) string {
	switch {
	case cs.CustodyErr != nil:
		return "warning: opening not recorded: " + cs.CustodyErr.Error()
	case cs.Recorded:
		return "opening recorded in the custody log of " + cs.Item.ID
	}
	return ""
}

// memSearcher adapts forensics/memory to the Memory tab.
type memSearcher struct{ m *memory.Memory }

func (s memSearcher) Search(ctx context.Context, q checkpoint.Query, progress chan<- checkpoint.SearchProgress) ([]checkpoint.Hit, error) {
	var pat *memory.Pattern
	var err error
	switch q.Mode {
	case "regex":
		pat, err = memory.Regex(q.Text, false)
	case "hex":
		pat, err = memory.Hex(q.Text)
	default:
		pat, err = memory.Literal(q.Text, false)
	}
	if err != nil {
		return nil, err
	}
	var hits []checkpoint.Hit
	var done, total int64
	send := func() {
		if progress == nil {
			return
		}
		select {
		case progress <- checkpoint.SearchProgress{Done: done, Total: total, Hits: len(hits)}:
		default: // the view is behind: the next update supersedes this one
		}
	}
	errEnough := errors.New("enough hits")
	opt := memory.SearchOptions{Context: 24, Progress: func(d, t int64) { done, total = d, t; send() }}
	err = s.m.Search(ctx, pat, opt, func(h memory.Hit) error {
		ch := checkpoint.Hit{PID: h.PID, Comm: h.Comm, Addr: h.Addr, Region: h.Region, Len: len(h.Match),
			Preview: memory.Printable(append(append(append([]byte(nil), h.Before...), h.Match...), h.After...))}
		if h.VMA != nil {
			ch.VMAStart, ch.VMAEnd = h.VMA.Start, h.VMA.End
		}
		if h.Kind != "memory" {
			ch.Region = strings.TrimSpace(h.Kind + " " + h.Object)
			if h.VMA == nil {
				// unmapped buffers (pipes, socket queues) have no address to show a hexdump of
				ch.VMAStart, ch.VMAEnd = h.Addr, h.Addr
			}
		}
		hits = append(hits, ch)
		send()
		if q.Max > 0 && len(hits) >= q.Max {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		err = nil
	}
	return hits, err
}

func (s memSearcher) Read(ctx context.Context, pid int, addr uint64, n int) ([]byte, []bool, error) {
	data := make([]byte, n)
	present := make([]bool, n)
	const page = 4096
	for off := 0; off < n; {
		a := addr + uint64(off)
		next := min(int((a/page+1)*page-addr), n)
		got, _ := s.m.ReadAt(pid, a, data[off:next])
		for i := off; i < off+got; i++ {
			present[i] = true
		}
		off = next
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
	}
	return data, present, nil
}

// newConnector reaches the cluster with the cluster package.
func newConnector(flags genericclioptions.RESTClientGetter, cfg *config.Config, log *slog.Logger, version string) func(context.Context) (Cluster, error) {
	cf, _ := flags.(*genericclioptions.ConfigFlags)
	return func(ctx context.Context) (Cluster, error) {
		c, err := cluster.Connect(ctx, flags, cluster.ConnectOptions{Timeout: cfg.Cluster.ConnectTimeout, Readonly: cfg.Readonly, UserAgent: "podsleuth/" + version})
		if err != nil {
			return nil, err
		}
		return NewClusterSession(c, cf, cfg, log, version), nil
	}
}

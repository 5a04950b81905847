package tui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	fevidence "github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/forensics/open"
	"github.com/podsleuth/podsleuth/forensics/report"
	"github.com/podsleuth/podsleuth/forensics/yara"
	"github.com/podsleuth/podsleuth/sandbox/restore"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
	"github.com/podsleuth/podsleuth/tui/screens/evidence"
)

// Jobs are the workbench's jobs (open and analyse, export a report, restore), each the
// domain package's one call, and what they share: the checkpoints already analysed in this
// session, so that exporting a report of one does not decode it again.
type Jobs struct {
	cfg     *config.Config
	version string // recorded in reports as the tool version

	mu       sync.Mutex
	analysed []analysed // most recent last
	// bases are the base images (--rootfs) checkpoints were opened with, by absolute path:
	// a report of one not kept in analysed is analysed again against the same base
	bases map[string]string
}

// analysed is a decoded, analysed checkpoint as the evidence said (before it was made
// printable for the screens), with its indicators unredacted.
type analysed struct {
	path  string
	size  int64
	mtime time.Time
	cp    *forensics.Checkpoint
	iocs  []forensics.IOC
	// diffs are the modified files' diffs against the base image (nil without one)
	diffs []report.RootfsDiff
}

// maxAnalysed bounds the models kept for export (a model is small: no memory, no archive).
const maxAnalysed = 4

// NewJobs returns the jobs of a workbench session of podsleuth version.
func NewJobs(cfg *config.Config, version string) *Jobs { return &Jobs{cfg: cfg, version: version} }

// Loader returns the checkpoint screen's Loader.
func (j *Jobs) Loader() checkpoint.Loader { return j.load }

// keep remembers an analysed checkpoint for the export.
func (j *Jobs) keep(path string, cp *forensics.Checkpoint, iocs []forensics.IOC, diffs []report.RootfsDiff) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return
	}
	st, err := os.Stat(abs)
	if err != nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.analysed = append(j.dropLocked(abs), analysed{path: abs, size: st.Size(), mtime: st.ModTime(), cp: cp, iocs: iocs, diffs: diffs})
	if len(j.analysed) > maxAnalysed {
		j.analysed = j.analysed[len(j.analysed)-maxAnalysed:]
	}
}

// setBase remembers the base image path was opened with ("" forgets it).
func (j *Jobs) setBase(path, rootfs string) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.bases == nil {
		j.bases = map[string]string{}
	}
	if rootfs == "" {
		delete(j.bases, abs)
		return
	}
	j.bases[abs] = rootfs
}

// base returns the base image path was last opened with.
func (j *Jobs) base(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.bases[abs]
}

func (j *Jobs) dropLocked(abs string) []analysed {
	out := j.analysed[:0]
	for _, a := range j.analysed {
		if a.path != abs {
			out = append(out, a)
		}
	}
	return out
}

// lookup returns the analysed checkpoint at path when the file is unchanged since.
func (j *Jobs) lookup(path string) (analysed, bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return analysed{}, false
	}
	st, err := os.Stat(abs)
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, a := range j.analysed {
		if a.path == abs {
			if err != nil || st.Size() != a.size || !st.ModTime().Equal(a.mtime) {
				j.analysed = j.dropLocked(abs)
				return analysed{}, false
			}
			return a, true
		}
	}
	return analysed{}, false
}

// Report is the evidence view's report export (key x): a report of one archive in
// report.format (default html) written to report.dir (default DATA_DIR/reports, 0700) and
// logged in the item's custody log, with forensics/report's export job. A checkpoint already
// analysed in this session is not decoded again; one opened with a base image (--rootfs)
// carries the rootfs diffs against it, as podsleuth report --rootfs. It returns the written
// file.
func (j *Jobs) Report(ctx context.Context, path string) (string, error) {
	cfg := j.cfg
	f, err := report.ParseFormat(cfg.Report.Format)
	if err != nil {
		return "", err
	}
	t, err := open.Resolve(open.FromConfig(cfg, path, ""))
	if err != nil {
		return "", err
	}
	var in report.Input
	if a, ok := j.lookup(t.Path); ok {
		in, err = report.NewInput(a.cp, a.iocs, t.Item, t.Store)
		in.RootfsDiffs = a.diffs
	} else {
		oc := open.FromConfig(cfg, path, "podsleuth TUI (report)")
		oc.Memory = true
		in, err = report.OpenInput(ctx, oc, analysis.Options{Reveal: cfg.Report.Reveal, Yara: yara.FromConfig(cfg.Yara, cfg.CacheDir, nil, nil),
			Rootfs: j.base(t.Path)})
	}
	if err != nil {
		return "", err
	}
	dir := cfg.Report.Dir
	if dir == "" {
		dir = filepath.Join(cfg.DataDir, "reports")
	}
	ex, err := report.Export(ctx, []report.Input{in}, report.ExportConfig{
		Options: report.Options{CaseID: cfg.Case.ID, Analyst: cfg.Case.Analyst, Notes: cfg.Case.Notes,
			ToolVersion: j.version, Generated: time.Now(), Reveal: cfg.Report.Reveal},
		Format: f, Dir: dir, Store: t.Store})
	if err != nil {
		return "", err
	}
	return ex.File, nil
}

// Restore is the evidence view's restore (key R): the same local restore as
// `podsleuth restore --local` (sandbox/restore's job), the tree left stopped, the outcome in the
// custody log.
func (j *Jobs) Restore(ctx context.Context, path string, ro evidence.RestoreOptions) (string, error) {
	info, err := restore.Run(ctx, restore.Config{Settings: j.cfg, Arg: path, Rootfs: ro.Rootfs, Sinkhole: ro.Sinkhole})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("restored into sandbox %s (%s, %s): podsleuth sandbox show %s", info.ID, info.Backend, info.State, info.ID), nil
}

// Add is the evidence view's add (key A on a case opened from outside the store): the store's
// import job, as `podsleuth evidence add ARCHIVE` runs it (copied, never moved; the case and
// analyst from the config). It returns the new item's ID.
func (j *Jobs) Add(ctx context.Context, path string) (string, error) {
	st, err := fevidence.OpenConfig(j.cfg)
	if err != nil {
		return "", err
	}
	it, err := st.Import(ctx, path, fevidence.Manifest{ToolVersion: j.version, CaseID: j.cfg.Case.ID,
		Analyst: j.cfg.Case.Analyst, Acquirer: fevidence.CurrentActor(), Notes: "added from the workbench"})
	if err != nil {
		return "", err
	}
	return it.ID, nil
}

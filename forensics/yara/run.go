package yara

import (
	"context"
	"errors"
	"slices"

	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/content"
	"github.com/podsleuth/podsleuth/forensics/memory"
)

// DefaultSet is the name that selects the embedded rule set in a list of rule paths (config
// yara.rules, `podsleuth yara default ARCHIVE`).
const DefaultSet = "default"

// RuleSources turns a list of rule paths, where "default" names the embedded set, into
// LoadOptions. An empty list selects the embedded set.
func RuleSources(paths []string) LoadOptions {
	var o LoadOptions
	for _, p := range paths {
		if p == DefaultSet {
			o.Default = true
			continue
		}
		o.Paths = append(o.Paths, p)
	}
	if len(paths) == 0 {
		o.Default = true
	}
	return o
}

// Request is one YARA job over an opened checkpoint.
type Request struct {
	// Rules are rule files or directories, "default" for the embedded set (RuleSources); with
	// Default also the embedded set.
	Rules   []string
	Default bool
	// Archive and Checkpoint, when set, add the saved files (deleted files, tmpfs and /dev/shm
	// files, rootfs changes; forensics/content) to the scan; CacheDir holds the spool files of
	// compressed tars while the scan runs.
	Archive    *archive.Archive
	Checkpoint *forensics.Checkpoint
	CacheDir   string
	Options
}

// Run is the YARA job, called the same way by the CLI, the TUI and the analysis: it loads the
// rules, lists the saved files (without changing mem), scans and frees it all. Rule files that
// do not compile are in Result.LoadErrors and the others run; when none compiles, the error
// (ErrNoRules) names each file and line.
func Run(ctx context.Context, mem *memory.Memory, req Request) (*Result, error) {
	lo := RuleSources(req.Rules)
	lo.Default = lo.Default || req.Default
	rs, err := Load(lo)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	opt := req.Options
	var warnings []string
	if req.Archive != nil && req.Checkpoint != nil && !opt.NoObjects {
		set, err := content.List(ctx, req.Archive, req.Checkpoint, mem, content.Options{CacheDir: req.CacheDir})
		if err != nil {
			return nil, err
		}
		defer set.Close()
		opt.Objects = append(slices.Clip(opt.Objects), FileObjects(set, mem)...)
		for _, w := range set.Warnings {
			warnings = append(warnings, "saved objects: "+w)
		}
	}
	res, err := Scan(ctx, rs, mem, opt)
	if res != nil {
		res.Warnings = append(warnings, res.Warnings...)
	}
	return res, err
}

// FileObjects returns the saved file contents of set (ghost, tmpfs, devshm and rootfs files)
// that mem does not have already, as memory objects read on demand through set (which must stay
// open while they are scanned).
func FileObjects(set *content.Set, mem *memory.Memory) []*memory.Object {
	have := map[string]bool{}
	if mem != nil {
		for _, o := range mem.Objects {
			have[o.Name] = true
		}
	}
	var out []*memory.Object
	for i, o := range set.Saved() {
		switch o.Kind {
		case KindGhost, KindTmpfs, KindDevShm, KindRootfs:
		default:
			continue
		}
		r := o.Reader()
		if r == nil || have[o.ID] {
			continue
		}
		out = append(out, &memory.Object{Kind: o.Kind, Name: o.ID, ID: uint64(i), Content: r, ContentSize: o.Size, Holders: o.Holders})
	}
	return out
}

// IsNotBuilt reports whether err says the binary has no YARA engine.
func IsNotBuilt(err error) bool { return errors.Is(err, ErrNotBuilt) }

// FromConfig is the YARA request the analysis runs with the settings c (config yara.*): nil
// when c names no rules. a and cp give the saved files; cacheDir holds spooled tars.
func FromConfig(c config.Yara, cacheDir string, a *archive.Archive, cp *forensics.Checkpoint) *Request {
	if len(c.Rules) == 0 {
		return nil
	}
	return &Request{Rules: c.Rules, Archive: a, Checkpoint: cp, CacheDir: cacheDir,
		Options: Options{Timeout: c.Timeout, MaxHitsPerRule: c.MaxHitsPerRule}}
}

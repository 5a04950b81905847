package yara

import (
	"context"
	"errors"

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

// Run is the YARA job: it loads the rules lo names, scans mem with them (Scan) and frees them.
// Rule files that do not compile are in Result.LoadErrors and the others run; when none
// compiles, the error (ErrNoRules) names each file and line.
func Run(ctx context.Context, mem *memory.Memory, lo LoadOptions, opt Options) (*Result, error) {
	rs, err := Load(lo)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	return Scan(ctx, rs, mem, opt)
}

// IsNotBuilt reports whether err says the binary has no YARA engine.
func IsNotBuilt(err error) bool { return errors.Is(err, ErrNotBuilt) }

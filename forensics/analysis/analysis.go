package analysis

import (
	"context"
	"errors"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/findings"
	"github.com/podsleuth/podsleuth/forensics/ioc"
	"github.com/podsleuth/podsleuth/forensics/memory"
	"github.com/podsleuth/podsleuth/forensics/yara"
)

// Memory is what the analysis reads of a checkpoint's memory: reads at an address (the
// findings rules peek at suspicious mappings) and the printable strings (indicator
// extraction). *memory.Memory satisfies it.
type Memory interface {
	findings.MemoryReader
	ioc.Strings
}

// Options tune Run. The zero value runs every analyser with secrets redacted.
type Options struct {
	// Reveal keeps secret values of indicators unredacted (the TUI masks them itself until
	// asked; reports and the CLI redact unless --reveal).
	Reveal bool
	// NoIndicators skips indicator extraction (a scan of all memory) when only the findings
	// are wanted.
	NoIndicators bool
	// Filter limits the memory scanned for indicators (pids, regions, ...).
	Filter memory.Filter
	// Types keeps only these indicator types (all when empty).
	Types []string
	// Members, when set, gives the indicator scan the archive's members, so the files of the
	// container's rootfs changes are scanned too (*archive.Archive satisfies it).
	Members ioc.Members
	// IndexWarnings are the memory index's warnings (memory.Memory.Warnings); they become
	// findings: memory images that contradict each other were damaged or tampered with.
	IndexWarnings []string
	// Yara, when set (yara.FromConfig: config yara.rules), also scans memory and the saved
	// objects with YARA rules; the hits join Findings and the scan is Result.Yara.
	Yara *yara.Request
}

// Result is the analysis of one checkpoint.
type Result struct {
	// Findings are the rule hits, most severe first.
	Findings []forensics.Finding
	// Indicators are the extracted indicators of compromise, each once with every place seen.
	Indicators []forensics.IOC
	// IndicatorsErr is set when the indicator scan did not complete (e.g. ioc.ErrRootfs: the
	// rootfs changes could not all be read); Indicators then holds what was found.
	IndicatorsErr error
	// MemoryScanned says whether process memory was read (mem was given).
	MemoryScanned bool
	// Yara is the YARA scan Options.Yara asked for; YaraErr says why it did not run or
	// what stopped it (no rule compiled, built without YARA, no memory index).
	Yara    *yara.Result
	YaraErr error
}

// Run analyses an opened checkpoint: the findings rules (peeking into memory when mem is not
// nil) and the indicator extraction (scanning memory too when mem is not nil; otherwise only
// the decoded model: environment, command lines, configuration). The findings are also stored
// in cp.Findings, where the model's consumers read them. Run fails only when ctx ends; a failed
// indicator scan is reported in Result.IndicatorsErr with what was found.
func Run(ctx context.Context, cp *forensics.Checkpoint, mem Memory, opts Options) (*Result, error) {
	if cp == nil {
		return nil, errors.New("analysis: no checkpoint")
	}
	if m, ok := mem.(*memory.Memory); ok && m == nil {
		mem = nil // a typed nil would pass as memory
	}
	res := &Result{MemoryScanned: mem != nil}
	var fopts []findings.Option
	if mem != nil {
		fopts = append(fopts, findings.WithMemory(mem))
	}
	if len(opts.IndexWarnings) > 0 {
		fopts = append(fopts, findings.WithIndexWarnings(opts.IndexWarnings))
	}
	res.Findings = findings.Analyze(cp, fopts...)
	if opts.Yara != nil {
		res.runYara(ctx, mem, *opts.Yara)
	}
	cp.Findings = res.Findings
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.NoIndicators {
		return res, nil
	}
	// an untyped nil Strings tells the extractor to scan only the model
	var strs ioc.Strings
	if mem != nil {
		strs = mem
	}
	iocs, err := ioc.Extract(ctx, cp, strs, ioc.Options{Reveal: opts.Reveal, Filter: opts.Filter, Types: opts.Types, Members: opts.Members})
	if cerr := ctx.Err(); cerr != nil {
		return nil, cerr
	}
	res.Indicators = iocs
	if err != nil {
		res.IndicatorsErr = err
	}
	return res, nil
}

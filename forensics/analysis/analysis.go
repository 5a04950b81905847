package analysis

import (
	"context"
	"errors"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/base"
	"github.com/podsleuth/podsleuth/forensics/content"
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
	// findings: memory images that contradict each other were damaged or tampered with. When
	// nil and mem is a *memory.Memory, its warnings are used.
	IndexWarnings []string
	// Archive, when set, lets the analysis read every saved content (forensics/content: ghost
	// files, memfds, tmpfs and /dev/shm files, pipes, sockets, rootfs changes): the rules look
	// at them, and they are attached to mem so that indicators (and later memory searches)
	// cover them. It replaces Members.
	Archive *archive.Archive
	// CacheDir receives the spool files of compressed tars in the archive (os.TempDir() when
	// empty).
	CacheDir string
	// ShowSystem keeps the indicators seen only in read-only mappings of unchanged system files
	// (otherwise hidden and counted in Result.HiddenIndicators).
	ShowSystem bool
	// Base gives the container image's version of a file, so persistence findings show only
	// the changed lines; nil when the base image is unknown.
	Base findings.BaseFile
	// Yara, when set (yara.FromConfig: config yara.rules), also scans memory and the saved
	// objects with YARA rules; the hits join Findings and the scan is Result.Yara.
	Yara *yara.Request
	// Rootfs is the container's base image (base.Load: a registry reference fetched with the
	// analyst's credentials, a docker-archive or OCI tarball, an OCI layout, or a root
	// filesystem directory or tar): the rootfs changes are then classified "modified" or
	// "added" against it, and the persistence rules show only the lines that differ from it.
	// A base that cannot be read fails Run: the analyst asked for it.
	Rootfs string
	// EvidenceID is the evidence store item analysed ("" when opened by path): the
	// conclusion's commands and preservation action name it.
	EvidenceID string
}

// Result is the analysis of one checkpoint.
type Result struct {
	// conclude is how Conclusion was drawn (Reconclude draws it again).
	conclude ConcludeOptions
	// Findings are the rule hits, most severe first.
	Findings []forensics.Finding
	// Indicators are the extracted indicators of compromise, each once with every place seen.
	Indicators []forensics.IOC
	// IndicatorsErr is set when the indicator scan did not complete (e.g. ioc.ErrRootfs: the
	// rootfs changes could not all be read); Indicators then holds what was found.
	IndicatorsErr error
	// MemoryScanned says whether process memory was read (mem was given).
	MemoryScanned bool
	// HiddenIndicators counts the indicators hidden because they were seen only inside
	// read-only mappings of unchanged system files (Options.ShowSystem shows them, with
	// confidence "low"); ContextIndicators counts the values only Kubernetes' service variables
	// (KUBERNETES_*, *_SERVICE_HOST/PORT) carry: context, not indicators.
	HiddenIndicators  int
	ContextIndicators int
	// Content lists every saved content (nil without Options.Archive); ContentErr says why it
	// could not be listed. Close releases it.
	Content    *content.Set
	ContentErr error
	// Yara is the YARA scan Options.Yara asked for; YaraErr says why it did not run or
	// what stopped it (no rule compiled, built without YARA, no memory index).
	Yara    *yara.Result
	YaraErr error
	// Base is the base image read for Options.Rootfs (nil without it): its Diff shows how a
	// modified text file differs.
	Base *base.Image
	// Conclusion is what happened, how bad and what to do next, drawn from Findings and
	// Indicators (Conclude): the report, `findings` and the TUI's summary open with it.
	Conclusion *Conclusion
}

// Close releases the spool files of the content listing.
func (r *Result) Close() error {
	if r == nil || r.Content == nil {
		return nil
	}
	return r.Content.Close()
}

// Run analyses an opened checkpoint: the findings rules (peeking into memory when mem is not
// nil) and the indicator extraction (scanning memory too when mem is not nil; otherwise only
// the decoded model: environment, command lines, configuration). The findings are also stored
// in cp.Findings, where the model's consumers read them (and, with Options.Rootfs, the rootfs
// changes' kinds in cp.Rootfs). Run fails only when ctx ends or the base image asked for cannot
// be read; a failed indicator scan is reported in Result.IndicatorsErr with what was found.
func Run(ctx context.Context, cp *forensics.Checkpoint, mem Memory, opts Options) (*Result, error) {
	if cp == nil {
		return nil, errors.New("analysis: no checkpoint")
	}
	if m, ok := mem.(*memory.Memory); ok && m == nil {
		mem = nil // a typed nil would pass as memory
	}
	res := &Result{MemoryScanned: mem != nil}
	if opts.Rootfs != "" {
		img, err := base.Load(ctx, opts.Rootfs, base.Options{Want: base.Wanted(cp)})
		if err != nil {
			return nil, err
		}
		img.Classify(cp)
		res.Base = img
		if opts.Base == nil {
			opts.Base = img.File
		}
	}
	mm, _ := mem.(*memory.Memory)
	if opts.IndexWarnings == nil && mm != nil {
		opts.IndexWarnings = mm.Warnings
	}
	members := opts.Members
	if opts.Archive != nil {
		set, err := content.List(ctx, opts.Archive, cp, mm, content.Options{CacheDir: opts.CacheDir})
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return nil, cerr
			}
			res.ContentErr = err
		} else {
			res.Content = set
			if mm != nil {
				// the saved files join the memory's objects: the indicator scan reads them
				// there, with their holders, instead of scanning rootfs-diff.tar again
				set.Attach(mm)
				members = nil
			} else if members == nil {
				members = opts.Archive
			}
		}
	}
	// indicators first: the mining rules look at them
	if !opts.NoIndicators {
		// an untyped nil Strings tells the extractor to scan only the model
		var strs ioc.Strings
		if mem != nil {
			strs = mem
		}
		iocs, err := ioc.Extract(ctx, cp, strs, ioc.Options{Reveal: opts.Reveal, Filter: opts.Filter, Types: opts.Types, Members: members})
		if cerr := ctx.Err(); cerr != nil {
			res.Close()
			return nil, cerr
		}
		res.Indicators = iocs
		if err != nil {
			res.IndicatorsErr = err
		}
		grade(cp, res, opts.ShowSystem)
	}
	var fopts []findings.Option
	if mem != nil {
		fopts = append(fopts, findings.WithMemory(mem))
	}
	if len(opts.IndexWarnings) > 0 {
		fopts = append(fopts, findings.WithIndexWarnings(opts.IndexWarnings))
	}
	if res.Content != nil {
		fopts = append(fopts, findings.WithContent(res.Content))
	}
	if res.Indicators != nil {
		fopts = append(fopts, findings.WithIndicators(res.Indicators))
	}
	if opts.Base != nil {
		fopts = append(fopts, findings.WithBase(opts.Base))
	}
	res.Findings = findings.Analyze(cp, fopts...)
	if opts.Yara != nil {
		res.runYara(ctx, mem, *opts.Yara)
	}
	cp.Findings = res.Findings
	res.conclude = ConcludeOptions{EvidenceID: opts.EvidenceID, MemoryScanned: res.MemoryScanned}
	res.Conclusion = Conclude(cp, res.Findings, res.Indicators, res.conclude)
	if err := ctx.Err(); err != nil {
		res.Close()
		return nil, err
	}
	return res, nil
}

// Rules lists every detection rule (id, minimum severity, ATT&CK technique, condition), as
// `findings --list-rules` and docs/rules.md print them.
func Rules() []findings.Rule { return findings.Rules }

// Reconclude draws the conclusion again from the same findings and indicators, once what ran
// beside the analysis is in cp (open.Config.Beside: the archive's SHA-256, which the
// preserve-evidence action names). Callers that settle the opened case after Run call it after
// Case.Settle, so that the conclusion never depends on which of the two ended first.
func (r *Result) Reconclude(cp *forensics.Checkpoint) {
	if r != nil {
		r.Conclusion = Conclude(cp, r.Findings, r.Indicators, r.conclude)
	}
}

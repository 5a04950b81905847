package hunt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/memory"
	"github.com/podsleuth/podsleuth/forensics/open"
	"github.com/podsleuth/podsleuth/forensics/yara"
)

// Options configure Analyze on the node.
type Options struct {
	// Dir is the checkpoint directory the archive is in (the analyzer's read-only mount).
	Dir string
	// CacheDir is writable scratch space (the analyzer's emptyDir): decompressed archives and
	// the hunt's YARA rule files.
	CacheDir string
	// Limits bound what an archive may hold (zero: archive defaults).
	Limits archive.Limits
	// Workers bounds the scanning goroutines (0: every core the analyzer may use).
	Workers int
}

// Analyze runs the local triage's analysis on one archive of the node: forensics/open (decode,
// hash, memory index) then forensics/analysis (the rules, the indicators, the hunt's YARA
// rules) and the hunt's memsearch patterns, within req.Timeout. It always returns a result: a
// failure is its Error and Stage, with what was found before.
func Analyze(ctx context.Context, req *Request, o Options) *Result {
	start := time.Now()
	res := &Result{V: ResultVersion}
	defer func() {
		res.Timings.Total = time.Since(start)
		res.PeakRSS = PeakRSS()
		res.setSeverity()
	}()
	if req == nil {
		res.fail("request", errors.New("no request"))
		return res
	}
	res.Archive = req.Archive
	if err := req.Validate(); err != nil {
		res.fail("request", err)
		return res
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stage := func(s string, err error) {
		if ctx.Err() == context.DeadlineExceeded {
			res.fail("timeout", fmt.Errorf("the time budget per archive (%s) ran out during %s: %w", timeout, s, err))
			return
		}
		res.fail(s, err)
	}

	p := filepath.Join(o.Dir, req.Archive)
	st, err := os.Lstat(p)
	if err != nil {
		stage("open", err)
		return res
	}
	if !st.Mode().IsRegular() {
		stage("open", fmt.Errorf("%s is not a regular file (%s)", req.Archive, st.Mode().Type()))
		return res
	}
	res.Size = st.Size()

	t0 := time.Now()
	// the archive's SHA-256 runs beside the analysis (settled before the result is made)
	cs, err := open.Open(ctx, open.Config{Arg: p, NoStore: true, CacheDir: o.CacheDir, Limits: o.Limits, Memory: true, Beside: true})
	res.Timings.Open = time.Since(t0)
	if err != nil {
		stage("open", err)
		return res
	}
	defer cs.Close()
	cp := cs.Checkpoint
	res.Processes = len(cp.Processes)
	for _, pr := range cp.Processes {
		for _, m := range pr.Maps {
			res.MemoryBytes += int64(m.ResidentBytes)
		}
	}
	if cs.MemoryErr != nil {
		res.Warnings = append(res.Warnings, "memory not indexed: "+cs.MemoryErr.Error())
	}

	t1 := time.Now()
	var yreq *yara.Request
	if len(req.Rules) > 0 {
		files, err := writeRules(o.CacheDir, req.Rules)
		if err != nil {
			stage("analysis", err)
			return res
		}
		defer os.RemoveAll(filepath.Dir(files[0]))
		yreq = &yara.Request{Rules: files, Archive: cs.Archive, Checkpoint: cp, CacheDir: o.CacheDir,
			Options: yara.Options{Workers: o.Workers}}
	}
	an, err := analysis.Run(ctx, cp, cs.Memory, analysis.Options{Archive: cs.Archive, CacheDir: o.CacheDir, Yara: yreq})
	res.Timings.Analysis = time.Since(t1)
	if serr := cs.Settle(ctx); serr != nil {
		stage("open", serr)
		return res
	}
	res.SHA256 = cp.Source.SHA256
	if err != nil {
		stage("analysis", err)
		return res
	}
	defer an.Close()
	res.addAnalysis(an, req)

	if len(req.Patterns) > 0 {
		t2 := time.Now()
		err := res.search(ctx, cs.Memory, req.Patterns, o.Workers)
		res.Timings.Search = time.Since(t2)
		if err != nil {
			stage("search", err)
			return res
		}
	}
	return res
}

func (r *Result) fail(stage string, err error) {
	r.Stage, r.Error = stage, err.Error()
}

func (r *Result) addAnalysis(an *analysis.Result, req *Request) {
	maxF, maxI := req.MaxFindings, req.MaxIndicators
	if maxF == 0 {
		maxF = DefaultMax
	}
	if maxI == 0 {
		maxI = DefaultMax
	}
	for i, f := range an.Findings { // most severe first
		if i >= maxF {
			r.DroppedFindings = len(an.Findings) - maxF
			break
		}
		r.Findings = append(r.Findings, Finding{Rule: f.Rule, Severity: f.Severity, Technique: f.Technique, Title: f.Title, PID: f.Location.PID})
	}
	for i, c := range an.Indicators {
		if i >= maxI {
			r.DroppedIndicators = len(an.Indicators) - maxI
			break
		}
		r.Indicators = append(r.Indicators, Indicator{Type: c.Type, Value: c.Value, SHA256: c.SHA256, Count: c.Count, Confidence: c.Confidence})
	}
	if an.IndicatorsErr != nil {
		r.Warnings = append(r.Warnings, "indicators: "+an.IndicatorsErr.Error())
	}
	if an.YaraErr != nil {
		r.Warnings = append(r.Warnings, "YARA: "+an.YaraErr.Error())
	}
	if an.Yara != nil {
		for _, le := range an.Yara.LoadErrors {
			r.Warnings = append(r.Warnings, fmt.Sprintf("YARA rule file did not compile: %v", le))
		}
		idx := map[string]int{}
		for _, h := range an.Yara.Hits {
			i, ok := idx[h.Rule]
			if !ok {
				i = len(r.Yara)
				idx[h.Rule] = i
				r.Yara = append(r.Yara, YaraHits{Rule: h.Rule, Severity: yara.Severity(h.Meta)})
			}
			r.Yara[i].Hits++
		}
		for rule, n := range an.Yara.Dropped {
			if i, ok := idx[rule]; ok {
				r.Yara[i].Hits += n
			}
		}
	}
}

// search counts each pattern's hits in memory and the saved objects (as memsearch --count).
func (r *Result) search(ctx context.Context, mem *memory.Memory, pats []Pattern, workers int) error {
	if mem == nil {
		return errors.New("no memory index to search")
	}
	for _, p := range pats {
		pat, err := p.Compile()
		if err != nil {
			return err
		}
		sev, err := p.Level()
		if err != nil {
			return err
		}
		ph := PatternHits{Pattern: p.String(), Severity: sev}
		err = mem.Search(ctx, pat, memory.SearchOptions{Workers: workers}, func(h memory.Hit) error {
			if ph.Hits == 0 {
				ph.First = where(h)
			}
			ph.Hits++
			return nil
		})
		r.Patterns = append(r.Patterns, ph)
		if err != nil {
			return err
		}
	}
	return nil
}

func where(h memory.Hit) string {
	s := fmt.Sprintf("%s pid %d (%s)", h.Kind, h.PID, forensics.Printable(h.Comm))
	if h.Addr != 0 {
		s += fmt.Sprintf(" at 0x%x", h.Addr)
	}
	return s
}

// writeRules writes the hunt's rule sources into a fresh directory under dir.
func writeRules(dir string, rules []Rule) ([]string, error) {
	d, err := os.MkdirTemp(dir, "hunt-rules-")
	if err != nil {
		return nil, fmt.Errorf("YARA rules: %w", err)
	}
	var files []string
	for i, ru := range rules {
		f := filepath.Join(d, fmt.Sprintf("%03d.yar", i))
		if err := os.WriteFile(f, []byte(ru.Source), 0o600); err != nil {
			os.RemoveAll(d)
			return nil, fmt.Errorf("YARA rules: %w", err)
		}
		files = append(files, f)
	}
	return files, nil
}

// PeakRSS is this process's peak resident set (VmHWM of /proc/self/status) in bytes; 0 where
// there is none.
func PeakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

//go:build yara

package yara

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	yr "github.com/hillu/go-yara/v4"

	"github.com/podsleuth/podsleuth/forensics/memory"
)

// Built says whether this binary has the YARA engine.
const Built = true

// libyara's error codes (yara/error.h) that a scan reports as more than a failure.
const (
	errScanTimeout    = yr.Error(26) // ERROR_SCAN_TIMEOUT
	errTooManyMatches = yr.Error(30) // ERROR_TOO_MANY_MATCHES
)

// ruleExts are the file names a rule directory is searched for.
var ruleExts = []string{".yar", ".yara", ".yr", ".rule", ".rules"}

var includeLine = regexp.MustCompile(`(?m)^\s*include\s+"([^"]+)"`)

// source is one top-level rule file: embedded (data set) or on disk.
type source struct {
	name string // shown in errors and Files
	path string // on disk; "" for embedded
	data string
	ns   string
}

// Load compiles the rules o names. Every file is compiled on its own first: one that does not
// compile is reported in Rules.Errors with its file and line (the file an include names, when
// the error is there) and left out; the others load. ErrNoRules when nothing loaded.
func Load(o LoadOptions) (*Rules, error) {
	var srcs []source
	if o.Default {
		for _, n := range DefaultFiles() {
			b, _ := defaultRules.ReadFile("rules/" + n)
			srcs = append(srcs, source{name: "default:" + n, data: string(b), ns: "podsleuth"})
		}
	}
	r := &Rules{}
	for _, p := range o.Paths {
		s, errs := ruleFiles(p)
		srcs = append(srcs, s...)
		r.Errors = append(r.Errors, errs...)
	}
	var good []source
	for _, s := range srcs {
		c, err := newCompiler()
		if err != nil {
			return nil, err
		}
		if err := add(c, s); err != nil {
			r.Errors = append(r.Errors, loadErrors(s, c, err)...)
		} else {
			good = append(good, s)
			for _, w := range c.Warnings {
				r.Warnings = append(r.Warnings, LoadError{File: cmp.Or(w.Filename, s.name), Line: w.Line, Msg: w.Text})
			}
		}
		c.Destroy()
	}
	// compile the good ones together; a file that conflicts with an earlier one (a rule name
	// in the same namespace) is reported and left out
	for {
		if len(good) == 0 {
			return r, fmt.Errorf("%w: %s", ErrNoRules, describe(r.Errors))
		}
		c, err := newCompiler()
		if err != nil {
			return nil, err
		}
		bad := -1
		for i, s := range good {
			if err := add(c, s); err != nil {
				r.Errors = append(r.Errors, loadErrors(s, c, err)...)
				bad = i
				break
			}
		}
		if bad >= 0 {
			c.Destroy()
			good = slices.Delete(good, bad, bad+1)
			continue
		}
		rules, err := c.GetRules()
		c.Destroy()
		if err != nil {
			return nil, fmt.Errorf("yara: %w", err)
		}
		r.Count = len(rules.GetRules())
		for _, s := range good {
			r.Files = append(r.Files, s.name)
		}
		r.eng = &compiled{rules: rules}
		return r, nil
	}
}

func describe(errs []LoadError) string {
	if len(errs) == 0 {
		return "no rule files"
	}
	var s []string
	for _, e := range errs {
		s = append(s, e.Error())
	}
	return strings.Join(s, "; ")
}

func newCompiler() (*yr.Compiler, error) {
	c, err := yr.NewCompiler()
	if err != nil {
		return nil, fmt.Errorf("yara: %w", err)
	}
	for k, v := range externalDefaults {
		if err := c.DefineVariable(k, v); err != nil {
			c.Destroy()
			return nil, fmt.Errorf("yara: external %s: %w", k, err)
		}
	}
	return c, nil
}

func add(c *yr.Compiler, s source) error {
	if s.path == "" {
		return c.AddString(s.data, s.ns)
	}
	f, err := os.Open(s.path)
	if err != nil {
		return err
	}
	defer f.Close()
	return c.AddFile(f, s.ns)
}

func loadErrors(s source, c *yr.Compiler, err error) []LoadError {
	if len(c.Errors) == 0 {
		return []LoadError{{File: s.name, Msg: err.Error()}}
	}
	var out []LoadError
	for _, m := range c.Errors {
		f := cmp.Or(m.Filename, s.name)
		if s.path == "" {
			f = s.name
		}
		out = append(out, LoadError{File: f, Line: m.Line, Msg: m.Text})
	}
	return out
}

// ruleFiles lists the top-level rule files of a file or directory: a directory's files that
// another file of it includes are compiled through that file only.
func ruleFiles(p string) ([]source, []LoadError) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, []LoadError{{File: p, Msg: err.Error()}}
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, []LoadError{{File: p, Msg: err.Error()}}
	}
	if !st.IsDir() {
		return []source{{name: p, path: abs, ns: filepath.Base(p)}}, nil
	}
	var files []string
	var errs []LoadError
	werr := filepath.WalkDir(abs, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, LoadError{File: q, Msg: err.Error()})
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") && q != abs {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && slices.Contains(ruleExts, strings.ToLower(filepath.Ext(q))) {
			files = append(files, q)
		}
		return nil
	})
	if werr != nil {
		errs = append(errs, LoadError{File: p, Msg: werr.Error()})
	}
	included := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, m := range includeLine.FindAllStringSubmatch(string(b), -1) {
			inc := m[1]
			if !filepath.IsAbs(inc) {
				inc = filepath.Join(filepath.Dir(f), inc)
			}
			included[filepath.Clean(inc)] = true
		}
	}
	var out []source
	for _, f := range files {
		if included[f] {
			continue
		}
		rel, _ := filepath.Rel(abs, f)
		out = append(out, source{name: filepath.Join(p, rel), path: f, ns: filepath.ToSlash(rel)})
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, LoadError{File: p, Msg: "no rule files (" + strings.Join(ruleExts, ", ") + ")"})
	}
	return out, errs
}

type compiled struct{ rules *yr.Rules }

func (c *compiled) close() { c.rules.Destroy() }

func (c *compiled) newScanner() (scanner, error) {
	s, err := yr.NewScanner(c.rules)
	if err != nil {
		return nil, fmt.Errorf("yara: %w", err)
	}
	return &yscanner{s: s}, nil
}

type yscanner struct{ s *yr.Scanner }

func (y *yscanner) close() { y.s.Destroy() }

func (y *yscanner) scan(u *unit, timeout time.Duration, maxStrings int) ([]Hit, error) {
	for k, v := range u.ext.values() {
		if err := y.s.DefineVariable(k, v); err != nil {
			return nil, fmt.Errorf("external %s: %w", k, err)
		}
	}
	// libyara counts whole seconds; 0 would mean none
	y.s.SetTimeout(max(timeout, time.Second))
	col := &collector{u: u, max: maxStrings}
	y.s.SetCallback(col)
	it := &blockIter{u: u, blocks: u.blocks()}
	err := y.s.ScanMemBlocks(it)
	switch {
	case errors.Is(err, errScanTimeout):
		err = errTimeout
	case errors.Is(err, errTooManyMatches):
		what := "a string"
		if s := y.s.GetLastErrorString(); s != nil {
			what = s.Identifier()
		}
		if r := y.s.GetLastErrorRule(); r != nil {
			what = r.Identifier() + " " + what
		}
		err = fmt.Errorf("%s matched more than 1000000 times: scan of this block stopped (make the rule more specific)", what)
	}
	if it.err != nil {
		err = errors.Join(err, fmt.Errorf("read: %w (unreadable bytes scanned as zeros)", it.err))
	}
	return col.hits, err
}

// blockIter hands the unit's blocks to libyara, each read when YARA asks for it.
type blockIter struct {
	u      *unit
	blocks []memory.Range
	i      int
	err    error
}

func (b *blockIter) Filesize() uint64 { return b.u.size }

func (b *blockIter) First() *yr.MemoryBlock {
	b.i = 0
	return b.block()
}

func (b *blockIter) Next() *yr.MemoryBlock {
	b.i++
	return b.block()
}

func (b *blockIter) block() *yr.MemoryBlock {
	if b.i >= len(b.blocks) {
		return nil
	}
	r := b.blocks[b.i]
	return &yr.MemoryBlock{Base: r.Start, Size: r.End - r.Start, FetchData: func(buf []byte) {
		buf = buf[:r.End-r.Start] // go-yara's buffer keeps the size of the largest block so far
		n, err := b.u.read(buf, r.Start)
		clear(buf[n:]) // pages the checkpoint does not hold read as zeros
		if err != nil && b.err == nil {
			b.err = err
		}
	}}
}

// collector turns rule matches into hits.
type collector struct {
	u    *unit
	max  int
	hits []Hit
}

func (c *collector) RuleMatching(sc *yr.ScanContext, r *yr.Rule) (bool, error) {
	h := c.u.tmpl
	h.Rule, h.Namespace, h.Tags = r.Identifier(), r.Namespace(), r.Tags()
	for _, m := range r.Metas() {
		if h.Meta == nil {
			h.Meta = map[string]string{}
		}
		if _, ok := h.Meta[m.Identifier]; !ok {
			h.Meta[m.Identifier] = fmt.Sprint(m.Value)
		}
	}
	h.Addr = ^uint64(0)
	for _, s := range r.Strings() {
		ms := s.Matches(sc) // in address order
		h.Matches += len(ms)
		for i := range ms[:min(len(ms), c.max)] {
			a := uint64(ms[i].Base() + ms[i].Offset())
			h.Addr = min(h.Addr, a)
			h.Strings = append(h.Strings, String{Name: s.Identifier(), Addr: a, Data: trim(ms[i].Data())})
		}
	}
	slices.SortFunc(h.Strings, func(a, b String) int { return cmp.Or(cmp.Compare(a.Addr, b.Addr), cmp.Compare(a.Name, b.Name)) })
	if len(h.Strings) > c.max {
		h.Strings = slices.Clip(h.Strings[:c.max])
	}
	if h.Matches == 0 {
		h.Addr = h.Start // a condition-only rule (filesize, modules, uint32(...))
	}
	c.hits = append(c.hits, h)
	return false, nil
}

func trim(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

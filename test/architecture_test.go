package test

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docJob is one row of the job table in docs/architecture.md.
type docJob struct {
	name    string
	pkg     string // directory of the package, e.g. forensics/open
	symbol  string // Func or Type.Method
	callers []string
}

var backticked = regexp.MustCompile("`([^`]+)`")

// readJobTable parses the table under "## Jobs": | job | `pkg.Symbol` | `caller`, ... | `caller`, ... or — |
func readJobTable(t *testing.T, doc string) []docJob {
	t.Helper()
	f, err := os.Open(doc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var jobs []docJob
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Jobs"
			continue
		}
		if !in || !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| job ") || strings.HasPrefix(line, "| ---") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 4 {
			t.Fatalf("job table row has %d cells, want 4: %s", len(cells), line)
		}
		call := backticked.FindStringSubmatch(cells[1])
		if call == nil {
			t.Fatalf("job %q names no call in backticks", strings.TrimSpace(cells[0]))
		}
		// forensics/open.Open -> package forensics/open, symbol Open; cluster.Acquire -> cluster, Acquire;
		// forensics/memory.Memory.Search -> forensics/memory, Memory.Search
		dir, rest := "", call[1]
		if i := strings.LastIndexByte(rest, '/'); i >= 0 {
			dir, rest = rest[:i+1], rest[i+1:]
		}
		pkg, sym, ok := strings.Cut(rest, ".")
		if !ok {
			t.Fatalf("job %q: call %q is not package.Symbol", strings.TrimSpace(cells[0]), call[1])
		}
		j := docJob{name: strings.TrimSpace(cells[0]), pkg: dir + pkg, symbol: sym}
		for _, cell := range cells[2:] {
			// only the backticked paths before a parenthesis are callers
			cell, _, _ = strings.Cut(cell, "(")
			for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
				j.callers = append(j.callers, m[1])
			}
		}
		jobs = append(jobs, j)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return jobs
}

// exported reports whether the package in dir (non-test files) declares the exported function
// or method sym ("Func" or "Type.Method").
func exported(t *testing.T, dir, sym string) bool {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("%s: no Go files (%v)", dir, err)
	}
	recv, name, isMethod := strings.Cut(sym, ".")
	if !isMethod {
		name, recv = recv, ""
	}
	for _, p := range files {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Name.Name != name || !fd.Name.IsExported() {
				continue
			}
			if recvName(fd) == recv {
				return true
			}
		}
	}
	return false
}

func recvName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return ""
	}
	e := fd.Recv.List[0].Type
	if s, ok := e.(*ast.StarExpr); ok {
		e = s.X
	}
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return "?"
}

// TestArchitectureJobsExist keeps docs/architecture.md true: every job it names is an exported
// call of the package it names, and every caller it names (CLI and TUI) makes that call.
func TestArchitectureJobsExist(t *testing.T) {
	root := ".."
	jobs := readJobTable(t, filepath.Join(root, "docs", "architecture.md"))
	if len(jobs) < 8 {
		t.Fatalf("docs/architecture.md lists %d jobs; the table was not found or lost rows", len(jobs))
	}
	both := 0
	for _, j := range jobs {
		t.Run(j.name, func(t *testing.T) {
			if !exported(t, filepath.Join(root, j.pkg), j.symbol) {
				t.Fatalf("%s.%s: no such exported call (docs/architecture.md is out of date)", j.pkg, j.symbol)
			}
			if len(j.callers) == 0 {
				t.Fatalf("%s names no caller", j.name)
			}
			// the call as it is written at the call site: open.Open( for a function,
			// .Search( for a method
			call := filepath.Base(j.pkg) + "." + j.symbol + "("
			if _, m, ok := strings.Cut(j.symbol, "."); ok {
				call = "." + m + "("
			}
			cli, tui := false, false
			for _, c := range j.callers {
				b, err := os.ReadFile(filepath.Join(root, c))
				if err != nil {
					t.Fatalf("caller %s: %v", c, err)
				}
				if !strings.Contains(string(b), call) {
					t.Errorf("%s does not call %s (docs/architecture.md is out of date)", c, call)
				}
				cli = cli || strings.HasPrefix(c, "cmd/")
				tui = tui || strings.HasPrefix(c, "tui/")
			}
			if cli && tui {
				both++
			}
		})
	}
	if both < 6 {
		t.Errorf("only %d jobs are called by both the CLI and the TUI", both)
	}
}

// TestArchitectureCatchesRot proves the check is not vacuous: a renamed call is reported
// missing and a method is told from a function of the same name.
func TestArchitectureCatchesRot(t *testing.T) {
	if exported(t, "../forensics/open", "OpenCheckpoint") {
		t.Fatal("a call that does not exist was found")
	}
	if !exported(t, "../forensics/memory", "Memory.Search") || exported(t, "../forensics/memory", "Search") {
		t.Fatal("methods and functions are confused")
	}
	if exported(t, "../forensics/archive", "member") {
		t.Fatal("an unexported declaration counts as a job")
	}
}

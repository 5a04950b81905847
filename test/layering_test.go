package test

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/podsleuth/podsleuth"

type goPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// listPackages runs `go list -deps=false -json ./...` from the module root.
func listPackages(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// layer returns the top-level directory of a podsleuth package ("forensics", "cmd", ...), or ""
// for packages outside the module.
func layer(path string) string {
	if !strings.HasPrefix(path, module+"/") {
		return ""
	}
	rest := strings.TrimPrefix(path, module+"/")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		if strings.HasPrefix(rest, "test/fixtures") {
			return "test/fixtures"
		}
		return rest[:i]
	}
	return rest
}

// allowed lists, for each layer, which podsleuth layers it may import (besides itself).
// The arrows point one way: cmd -> tui -> {forensics, cluster, sandbox} -> config.
// test/fixtures is a leaf data package (the embedded sample evidence).
var allowed = map[string][]string{
	"cmd":           {"tui", "forensics", "cluster", "sandbox", "config", "test/fixtures"},
	"tui":           {"forensics", "cluster", "sandbox", "config", "test/fixtures"},
	"cluster":       {"forensics", "config"},
	"sandbox":       {"forensics", "cluster", "config"},
	"forensics":     {"config"},
	"config":        {},
	"test/fixtures": {},
}

// forbiddenDeps lists import path prefixes a layer must not depend on, even transitively.
var forbiddenDeps = map[string][]string{
	"forensics":     {"k8s.io/", "charm.land/", "github.com/charmbracelet/"},
	"cluster":       {"charm.land/", "github.com/charmbracelet/"},
	"sandbox":       {"charm.land/", "github.com/charmbracelet/"},
	"config":        {"k8s.io/", "charm.land/"},
	"test/fixtures": {"k8s.io/", "charm.land/"},
}

// forbiddenImports lists import path prefixes a layer must not import directly (it goes through
// another layer's API instead): sandbox execs in pods through cluster's client layer (cluster.Exec),
// never with client-go's exec machinery itself.
var forbiddenImports = map[string][]string{
	// cmd parses flags (cli-runtime's ConfigFlags) and calls the jobs; every Kubernetes call,
	// object and error goes through the cluster package.
	"cmd": {"k8s.io/client-go", "k8s.io/api", "k8s.io/apimachinery"},
	"sandbox": {
		"k8s.io/client-go/tools/remotecommand", "k8s.io/client-go/util/exec",
		"k8s.io/client-go/transport/spdy", "k8s.io/client-go/transport/websocket",
		"k8s.io/apimachinery/pkg/util/httpstream", "k8s.io/apimachinery/pkg/util/remotecommand",
	},
}

// jobImports lists, for cmd and tui, the forensics packages they must not import: decoding and
// analysing are jobs (forensics/open, forensics/analysis), called the same way by both, never
// assembled again from the decoder and the rules.
var jobImports = map[string][]string{
	"cmd": {module + "/forensics/criu", module + "/forensics/findings"},
	"tui": {module + "/forensics/criu", module + "/forensics/findings"},
}

func TestLayering(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	for _, p := range pkgs {
		from := layer(p.ImportPath)
		ok, known := allowed[from]
		if !known {
			continue // test harness packages may import anything
		}
		for _, imp := range p.Imports {
			if forbiddenImport(from, imp) {
				t.Errorf("%s imports %s: %s must go through the cluster package's client layer instead", p.ImportPath, imp, from)
			}
			if contains(jobImports[from], imp) {
				t.Errorf("%s imports %s: %s opens and analyses checkpoints with forensics/open and forensics/analysis", p.ImportPath, imp, from)
			}
			to := layer(imp)
			if to == "" || to == from {
				continue
			}
			if !contains(ok, to) {
				t.Errorf("%s imports %s: %s may import only %v", p.ImportPath, imp, from, ok)
			}
		}
		for _, dep := range p.Deps {
			for _, bad := range forbiddenDeps[from] {
				if strings.HasPrefix(dep, bad) {
					t.Errorf("%s depends on %s: %s must not depend on %s*", p.ImportPath, dep, from, bad)
				}
			}
		}
	}
}

// TestLayeringCatchesViolations proves the check is not vacuous: a forbidden edge is reported.
func TestLayeringCatchesViolations(t *testing.T) {
	if contains(allowed["forensics"], "cluster") || contains(allowed["cluster"], "tui") {
		t.Fatal("layering table allows an upward edge")
	}
	if !forbiddenImport("sandbox", "k8s.io/client-go/tools/remotecommand") {
		t.Fatal("sandbox may import client-go's exec directly")
	}
	if !forbiddenImport("cmd", "k8s.io/client-go/kubernetes") || !forbiddenImport("cmd", "k8s.io/api/core/v1") ||
		forbiddenImport("cmd", "k8s.io/cli-runtime/pkg/genericclioptions") || forbiddenImport("cmd", "k8s.io/client-gox") {
		t.Fatal("cmd may use client-go's clients directly, or may not parse kubectl's flags")
	}
	if !contains(jobImports["tui"], module+"/forensics/criu") || !contains(jobImports["cmd"], module+"/forensics/findings") {
		t.Fatal("cmd or tui may assemble the open or analyse job themselves")
	}
	if layer(module+"/forensics/archive") != "forensics" || layer("k8s.io/client-go") != "" {
		t.Fatal("layer() misclassifies packages")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// forbiddenImport reports whether layer from may not import imp directly (imp is one of the
// listed packages or below one).
func forbiddenImport(from, imp string) bool {
	for _, bad := range forbiddenImports[from] {
		if imp == bad || strings.HasPrefix(imp, bad+"/") {
			return true
		}
	}
	return false
}

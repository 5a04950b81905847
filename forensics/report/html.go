package report

import (
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/podsleuth/podsleuth/forensics/diff"
)

// The HTML report is one file: CSS and JavaScript are inline and a Content-Security-Policy of
// default-src 'none' forbids the browser from fetching anything, so opening it on an analyst's
// machine contacts nobody.
//
//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"utc":       utc,
	"bytes":     func(n any) string { return humanAny(n) },
	"join":      strings.Join,
	"ints":      ints,
	"where":     where,
	"us":        us,
	"details":   details,
	"sortedKey": sortedKeys,
	"cmdline":   cmdlineString,
	"tree":      procTree,
	"procLine":  diff.ProcessLine,
	"change":    diff.ChangeLine,
	"sockLine":  diff.SocketRefLine,
	"fdLine":    diff.FDLine,
	"short":     short,
	"sev":       func(s fmt.Stringer) string { return s.String() },
	"caps":      CapsSummary,
	"show":      printable,
}).Parse(htmlSource))

// WriteHTML writes the report as one self-contained HTML page.
func (r *Report) WriteHTML(w io.Writer) error {
	return r.RenderContext(context.Background(), w, HTML)
}

func (r *Report) writeHTML(w io.Writer) error {
	if err := htmlTemplate.Execute(w, r); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func humanAny(n any) string {
	switch v := n.(type) {
	case int64:
		return humanBytes(v)
	case uint64:
		return humanBytes(v)
	case int:
		return humanBytes(v)
	}
	return fmt.Sprint(n)
}

func cmdlineString(p Process) string {
	if len(p.Cmdline) == 0 {
		return "[" + p.Comm + "]"
	}
	return strings.Join(p.Cmdline, " ")
}

// ProcNode is a process with its children, for rendering the tree.
type ProcNode struct {
	P    Process
	Kids []*ProcNode
}

// procTree rebuilds the tree from the depth-first, depth-annotated process list.
func procTree(ps []Process) []*ProcNode {
	var roots []*ProcNode
	var stack []*ProcNode
	for _, p := range ps {
		n := &ProcNode{P: p}
		for len(stack) > p.Depth {
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			roots = append(roots, n)
		} else {
			parent := stack[len(stack)-1]
			parent.Kids = append(parent.Kids, n)
		}
		stack = append(stack, n)
	}
	return roots
}

package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/report"
)

// terminalHostile holds every class of character the sanitiser must neutralise.
var terminalHostile = []struct{ raw, shown string }{
	{"\x1b]0;pwned\x07", `\x1b]0;pwned\x07`},   // ESC OSC title, BEL
	{"\x1b[2J", `\x1b[2J`},                     // ESC CSI clear screen
	{"\r", `\x0d`},                             // carriage return: overwrites the line
	{"\u009b31m", `\u009b31m`},                 // C1 CSI
	{"\u0085", `\u0085`},                       // C1 NEL
	{"evil\u202etxt.exe", `evil\u202etxt.exe`}, // right-to-left override
	{"\u2066x\u2069", `\u2066x\u2069`},         // bidi isolates
	{"a\u200bb\u200dc\ufeff", `a\u200bb\u200dc\ufeff`},
	{"\u2028", `\u2028`},
	{"\xff\xfe", `\xff\xfe`}, // invalid UTF-8
}

func hostileTerminalCheckpoint() *forensics.Checkpoint {
	var comm, env []string
	for _, h := range terminalHostile {
		comm = append(comm, h.raw)
		env = append(env, "X="+h.raw)
	}
	all := strings.Join(comm, " ")
	return &forensics.Checkpoint{
		SchemaVersion: forensics.SchemaVersion,
		Source:        forensics.Source{Path: "/tmp/" + all, Format: "dir"},
		Container:     &forensics.Container{Name: all, Image: all, Env: env, Hostname: all, Labels: map[string]string{all: all}},
		Processes: []forensics.Process{{PID: 1, Comm: all, State: "alive", Threads: []int{1},
			Cmdline: []string{all}, Environ: env, Exe: all, Cwd: all,
			FDs: []forensics.FD{{FD: 3, Type: forensics.FDRegular, Path: all}}}},
		Rootfs:   []forensics.RootfsChange{{Path: "/" + all, Kind: forensics.RootfsAdded, Type: "file"}},
		Findings: []forensics.Finding{{Rule: "r", Severity: forensics.SeverityHigh, Title: all, Reason: all, Location: forensics.Location{Kind: "process", PID: 1, Comm: all}}},
		Warnings: []string{all},
	}
}

// TestSanitiserCoversC0C1BidiZeroWidth: no control, C1, bidi or zero-width character and no
// invalid UTF-8 reaches the Markdown or HTML report, each is shown in its escaped form, and
// the JSON report keeps the strings exactly.
func TestSanitiserCoversC0C1BidiZeroWidth(t *testing.T) {
	r, err := report.Build([]report.Input{{Checkpoint: hostileTerminalCheckpoint()}}, report.Options{CaseID: "case\x1b[31m", Notes: "note\u202e"})
	require.NoError(t, err)
	for _, f := range []report.Format{report.Markdown, report.HTML} {
		t.Run(string(f), func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, r.Render(&b, f))
			out := b.String()
			require.True(t, utf8.ValidString(out), "valid UTF-8")
			for _, c := range out {
				bad := c < 0x20 && c != '\n' && c != '\t' || c == 0x7f || c >= 0x80 && c <= 0x9f ||
					c >= 0x200b && c <= 0x200f || c >= 0x202a && c <= 0x202e || c >= 0x2066 && c <= 0x2069 || c == 0xfeff || c == 0x2028
				require.False(t, bad, "%U reached the %s report", c, f)
			}
			for _, h := range terminalHostile {
				require.Contains(t, out, h.shown, "escaped form of %q", h.raw)
			}
			if f == report.HTML {
				require.Contains(t, out, `case\x1b[31m`)
			}
		})
	}
	var j bytes.Buffer
	require.NoError(t, r.Render(&j, report.JSON))
	var back report.Report
	require.NoError(t, json.Unmarshal(j.Bytes(), &back))
	require.Contains(t, back.Checkpoints[0].Processes[0].Comm, "\x1b]0;pwned\x07", "JSON keeps strings exactly")
}

// chain is a checkpoint whose processes form one chain of the given depth.
func chain(depth int) *forensics.Checkpoint {
	cp := &forensics.Checkpoint{SchemaVersion: forensics.SchemaVersion, Source: forensics.Source{Path: "/x", Format: "dir"}}
	for pid := 1; pid <= depth; pid++ {
		p := forensics.Process{PID: pid, PPID: pid - 1, Comm: "sh", State: "alive", Threads: []int{pid}}
		if pid < depth {
			p.Children = []int{pid + 1}
		}
		cp.Processes = append(cp.Processes, p)
	}
	return cp
}

// TestDeepChainOutputIsLinear: a 20,000-deep chain renders in output linear in its length
// (indentation stops at MaxTreeDepth; deeper processes say their depth), and doubling the
// depth at most doubles the output.
func TestDeepChainOutputIsLinear(t *testing.T) {
	size := func(depth int, f report.Format) int {
		r, err := report.Build([]report.Input{{Checkpoint: chain(depth)}}, report.Options{})
		require.NoError(t, err)
		var b bytes.Buffer
		require.NoError(t, r.Render(&b, f))
		if depth == 20000 && f == report.Markdown {
			require.Contains(t, b.String(), "↳ depth 19999: **20000**")
			require.Contains(t, b.String(), strings.Repeat("  ", report.MaxTreeDepth)+"- ↳ depth 65: **66**")
		}
		return b.Len()
	}
	for _, f := range []report.Format{report.Markdown, report.HTML} {
		small, big := size(10000, f), size(20000, f)
		require.Less(t, big, small*21/10, "%s: output grows linearly (%d -> %d bytes)", f, small, big)
		require.Less(t, big, 20000*2000, "%s: at most ~2 KB per process", f)
	}
}

// TestRenderHonoursCancellation: a cancelled context stops a long HTML or Markdown render at
// the next write, with the context's error.
func TestRenderHonoursCancellation(t *testing.T) {
	r, err := report.Build([]report.Input{{Checkpoint: chain(50000)}}, report.Options{})
	require.NoError(t, err)
	for _, f := range []report.Format{report.HTML, report.Markdown, report.JSON} {
		t.Run(string(f), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			w := &cancelAfter{n: 64 << 10, cancel: cancel}
			start := time.Now()
			err := r.RenderContext(ctx, w, f)
			require.True(t, errors.Is(err, context.Canceled), "got %v", err)
			require.Less(t, w.written, int64(8<<20), "stopped soon after the cancel")
			t.Logf("%s: stopped after %d bytes, %v", f, w.written, time.Since(start))
		})
	}
}

// cancelAfter cancels once n bytes were written.
type cancelAfter struct {
	n, written int64
	cancel     func()
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.written += int64(len(p))
	if c.written >= c.n {
		c.cancel()
	}
	return len(p), nil
}

var _ io.Writer = (*cancelAfter)(nil)

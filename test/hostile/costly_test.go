package hostile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/criu"
	"github.com/podsleuth/podsleuth/forensics/findings"
	"github.com/podsleuth/podsleuth/forensics/memory"
	"github.com/podsleuth/podsleuth/forensics/report"
)

const (
	childEnv      = "PODSLEUTH_HOSTILE_CHILD"
	childCacheEnv = "PODSLEUTH_HOSTILE_CACHE"
	// Targets of issue 12 per hostile input; RSS is asserted with a 2x margin.
	maxRSS  = 2 * 256 << 20
	maxDisk = 64 << 20
	maxOut  = 64 << 20
)

// childResult is what the child process reports of one input.
type childResult struct {
	Err        string   `json:"err,omitempty"`
	Warnings   []string `json:"warnings,omitempty"`
	Processes  int      `json:"processes"`
	Traversals int      `json:"traversals"`
	Findings   []string `json:"findings,omitempty"`
	// what the container metadata kept (metadata-flood)
	Labels      int     `json:"labels"`
	Annotations int     `json:"annotations"`
	Args        int     `json:"args"`
	Env         int     `json:"env"`
	Pod         string  `json:"pod,omitempty"`
	Markdown    int64   `json:"markdown_bytes"`
	HTML        int64   `json:"html_bytes"`
	Disk        int64   `json:"disk_bytes"`
	Seconds     float64 `json:"seconds"`
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// costlyChild runs what `podsleuth inspect`, `memsearch` and `report` run on one input, with
// the default limits, and prints a childResult.
func costlyChild(path, cache string) int {
	start := time.Now()
	res := childResult{}
	defer func() {
		res.Seconds = time.Since(start).Seconds()
		_ = json.NewEncoder(os.Stdout).Encode(res)
	}()
	ctx := context.Background()
	a, err := archive.Open(ctx, path, archive.DefaultLimits(), cache)
	if err != nil {
		res.Err = err.Error()
		return 0
	}
	defer a.Close()
	cp, err := criu.Decode(ctx, a)
	res.Disk = a.SpillDiskBytes()
	if err != nil {
		res.Err = err.Error()
		return 0
	}
	res.Warnings = cp.Warnings
	res.Processes = len(cp.Processes)
	if c := cp.Container; c != nil {
		res.Labels, res.Annotations, res.Args, res.Env = len(c.Labels), len(c.Annotations), len(c.Args), len(c.Env)
		if c.Pod != nil {
			res.Pod = c.Pod.Name
		}
	}
	for _, c := range cp.Rootfs {
		if c.Traversal {
			res.Traversals++
		}
	}
	mem, err := memory.Open(ctx, a, cp)
	if err != nil {
		res.Err = err.Error()
		return 0
	}
	res.Warnings = append(res.Warnings, mem.Warnings...)
	for _, f := range findings.Analyze(cp) {
		res.Findings = append(res.Findings, f.Rule)
	}
	r, err := report.Build([]report.Input{{Checkpoint: cp}}, report.Options{})
	if err != nil {
		res.Err = err.Error()
		return 0
	}
	var md, html counter
	if err := r.RenderContext(ctx, &md, report.Markdown); err != nil {
		res.Err = err.Error()
	}
	if err := r.RenderContext(ctx, &html, report.HTML); err != nil {
		res.Err = err.Error()
	}
	res.Markdown, res.HTML = md.n, html.n
	return 0
}

// costlyDir is the directory of the costly inputs, shared by the subtests of one run.
var costlyDir = sync.OnceValues(func() (string, error) { return os.MkdirTemp("", "podsleuth-hostile-") })

// costlyInput writes one costly input (only the ones a run selects: the whole corpus is ~6 GiB
// through zstd) and returns its path.
func costlyInput(t *testing.T, name string) string {
	dir, err := costlyDir()
	require.NoError(t, err)
	path := filepath.Join(dir, name)
	require.NoError(t, WriteCostly(dir, name))
	t.Cleanup(func() { _ = os.Remove(path) })
	return path
}

// TestCostlyInputs feeds each costly input to a child process (open, decode, index memory,
// analyse, render Markdown and HTML with the default limits) and asserts the named error or
// the visible truncation, the output and temporary-disk bounds, and the child's peak RSS.
// Time is reported, not asserted (make bench measures it).
func TestCostlyInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("writes ~6 GiB through zstd to build the costly corpus; not in -short")
	}
	t.Cleanup(func() {
		if dir, err := costlyDir(); err == nil {
			_ = os.RemoveAll(dir)
		}
	})
	tests := []struct {
		name    string
		err     string // the named error, when opening must fail
		warning string // else the visible truncation or report
		check   func(t *testing.T, r childResult)
	}{
		{name: "pages-4gib-zeros.tar.zst", warning: "checkpoint/pages-1.img: 4294967296 bytes, but the pagemaps declare 4096 bytes of pages for it"},
		{name: "pages-undeclared-1gib.tar.zst", warning: "checkpoint/pages-7.img: 1073741824 bytes, but no pagemap names it"},
		{name: "pipe-1gib.tar.zst", warning: "pipe 9: 1073741824 bytes queued at offset 20, more than any kernel queue holds: only the first 16777216 bytes"},
		{name: "pax-names.tar.zst", warning: "rootfs-diff.tar: exceeds limit: names add up to more than 67108864 bytes"},
		{name: "million-procs.tar.zst", warning: "pstree.img: 1000000 processes; only the first 32768 are decoded", check: func(t *testing.T, r childResult) {
			require.Equal(t, criu.DefaultMaxProcesses, r.Processes)
		}},
		{name: "deep-chain.tar.zst", warning: "pstree.img: 120000 processes; only the first 32768 are decoded", check: func(t *testing.T, r childResult) {
			require.Less(t, r.Markdown, int64(32768*400), "Markdown linear in the processes")
		}},
		{name: "pagemap-overflow.tar", warning: "pagemap-1.img: bad CRIU image: entry 2047: the present pages add up to more than 9223372036854775807 bytes"},
		{name: "trailing-data.tar", warning: "(tar): 35 bytes of data after the tar end marker"},
		{name: "extra-member.tar.gz", warning: "1 more gzip member(s) after the one holding the tar end marker"},
		{name: "metadata-flood.tar.zst", warning: "spec.dump: 1000000 environment entries; only the first 65536", check: func(t *testing.T, r childResult) {
			w := strings.Join(r.Warnings, "\n")
			require.Contains(t, w, "config.dump: 1 labels over 262144 bytes dropped (the first \"zz-huge\")")
			require.Contains(t, w, "config.dump: 300001 labels")
			require.Contains(t, w, "spec.dump: 300004 annotations")
			require.Contains(t, w, "spec.dump: 1000000 arguments; only the first 65536")
			require.Equal(t, 4096, r.Labels)
			require.LessOrEqual(t, r.Annotations, 4096)
			require.Equal(t, 65536, r.Args)
			require.Equal(t, 65536, r.Env)
			require.Equal(t, "flood-pod", r.Pod, "the pod annotations are read before the bound")
		}},
		{name: "rootfs-traversal.tar", check: func(t *testing.T, r childResult) {
			require.Equal(t, 2, r.Traversals, "../../etc/cron.d/evil and /abs/evil")
			require.Contains(t, r.Findings, findings.RuleRootfsTraversal)
		}},
	}
	require.Len(t, tests, len(Costly))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := t.TempDir()
			path := costlyInput(t, tt.name)
			st, err := os.Stat(path)
			require.NoError(t, err)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+path, childCacheEnv+"="+cache)
			var out, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &stderr
			require.NoError(t, cmd.Run(), "child: %s", stderr.String())
			rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
			var r childResult
			require.NoError(t, json.Unmarshal(lastLine(out.String()), &r), "child output %q", out.String())
			t.Logf("%s (%d bytes): %.2fs, peak RSS %d MiB, temp disk %d KiB, markdown %d KiB, html %d KiB, err %q",
				tt.name, st.Size(), r.Seconds, rss>>20, r.Disk>>10, r.Markdown>>10, r.HTML>>10, r.Err)
			if tt.err != "" {
				require.Contains(t, r.Err, tt.err)
			} else {
				require.Empty(t, r.Err)
			}
			if tt.warning != "" {
				require.Contains(t, strings.Join(r.Warnings, "\n"), tt.warning)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
			require.Less(t, rss, int64(maxRSS), "peak RSS")
			require.Less(t, r.Disk, int64(maxDisk), "temporary disk")
			require.Less(t, r.Markdown, int64(maxOut), "Markdown report size")
			require.Less(t, r.HTML, int64(maxOut), "HTML report size")
			ents, err := os.ReadDir(cache)
			require.NoError(t, err)
			require.Empty(t, ents, "nothing left in the cache directory")
		})
	}
}

func lastLine(s string) []byte {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return []byte(lines[len(lines)-1])
}

var _ = io.Discard
var _ = fmt.Sprint

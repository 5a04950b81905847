package analysis_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/findings"
	"github.com/podsleuth/podsleuth/forensics/ioc"
	"github.com/podsleuth/podsleuth/forensics/memory"
	"github.com/podsleuth/podsleuth/test/fixture"
)

func open(t *testing.T, name string) (*archive.Archive, *forensics.Checkpoint, *memory.Memory) {
	t.Helper()
	return fixture.Open(t, name)
}

func rules(fs []forensics.Finding) map[string]bool {
	out := map[string]bool{}
	for _, f := range fs {
		out[f.Rule] = true
	}
	return out
}

func types(is []forensics.IOC) map[string]bool {
	out := map[string]bool{}
	for _, i := range is {
		out[i.Type] = true
	}
	return out
}

// TestRun: with memory, Run reports what the analysers find on the real fixture (the planted RWX
// mapping found by peeking into memory, indicators read from memory), stores the findings in the
// model, and redacts secrets unless Reveal.
func TestRun(t *testing.T) {
	ctx := context.Background()
	_, cp, m := open(t, "archives/podman-crun.tar")
	res, err := analysis.Run(ctx, cp, m, analysis.Options{})
	require.NoError(t, err)
	require.True(t, res.MemoryScanned)
	require.NoError(t, res.IndicatorsErr)
	require.True(t, rules(res.Findings)[findings.RuleAnonRWX], "the planted RWX mapping: %v", rules(res.Findings))
	require.Equal(t, res.Findings, cp.Findings, "the model carries the findings")
	require.Equal(t, findings.Analyze(cp, findings.WithMemory(m), findings.WithIndicators(res.Indicators)), res.Findings)
	want, err := ioc.Extract(ctx, cp, m, ioc.Options{})
	require.NoError(t, err)
	// the analysis grades each indicator (and hides none here: no system-file-only strings)
	got := slices.Clone(res.Indicators)
	for i := range got {
		require.NotEmpty(t, got[i].Confidence)
		got[i].Confidence = ""
	}
	require.Equal(t, want, got)
	require.NotEmpty(t, res.Indicators)

	revealed, err := analysis.Run(ctx, cp, m, analysis.Options{Reveal: true})
	require.NoError(t, err)
	require.Len(t, revealed.Indicators, len(res.Indicators))
	differ := false
	for i := range res.Indicators {
		if res.Indicators[i].Value != revealed.Indicators[i].Value {
			differ = true
		}
	}
	require.True(t, differ, "Reveal shows a secret the default redacts")
}

// TestRunWithoutMemory: without a memory index (nil, or a typed nil *memory.Memory) only the model
// is analysed: no memory indicator, no memory peek, and nothing fails.
func TestRunWithoutMemory(t *testing.T) {
	ctx := context.Background()
	_, cp, m := open(t, "archives/podman-crun.tar")
	full, err := analysis.Run(ctx, cp, m, analysis.Options{})
	require.NoError(t, err)
	for _, mem := range []analysis.Memory{nil, (*memory.Memory)(nil)} {
		res, err := analysis.Run(ctx, cp, mem, analysis.Options{})
		require.NoError(t, err)
		require.False(t, res.MemoryScanned)
		require.Less(t, len(res.Indicators), len(full.Indicators), "memory holds indicators the model does not")
		for _, i := range res.Indicators {
			for _, w := range i.Where {
				require.NotEqual(t, "memory", w.Kind, "no memory was read")
			}
		}
		require.Equal(t, findings.Analyze(cp, findings.WithIndicators(res.Indicators)), res.Findings)
	}
}

// TestRunOptions: NoIndicators skips the scan; Types and IndexWarnings reach the analysers;
// Members adds the rootfs changes' files; a cancelled context is an error, not a partial result.
func TestRunOptions(t *testing.T) {
	ctx := context.Background()
	a, cp, m := open(t, "archives/podman-crun.tar")
	res, err := analysis.Run(ctx, cp, m, analysis.Options{NoIndicators: true, IndexWarnings: []string{"pagemap-1.img: pages past the end"}})
	require.NoError(t, err)
	require.Empty(t, res.Indicators)
	require.True(t, rules(res.Findings)[findings.RuleMemoryIndex])

	res, err = analysis.Run(ctx, cp, m, analysis.Options{Types: []string{"ipv4"}})
	require.NoError(t, err)
	require.NotEmpty(t, res.Indicators)
	require.Equal(t, map[string]bool{"ipv4": true}, types(res.Indicators))

	withRootfs, err := analysis.Run(ctx, cp, m, analysis.Options{Members: a})
	require.NoError(t, err)
	rootfs := 0
	for _, i := range withRootfs.Indicators {
		for _, w := range i.Where {
			if w.Kind == "rootfs" {
				rootfs++
			}
		}
	}
	require.Positive(t, rootfs, "the rootfs changes' files are scanned")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = analysis.Run(cctx, cp, m, analysis.Options{})
	require.ErrorIs(t, err, context.Canceled)
}

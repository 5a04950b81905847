package hunt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/open"
	"github.com/podsleuth/podsleuth/forensics/yara"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

const crun = "podman-crun.tar"

func archivesDir() string { return filepath.Join(fixtures.Dir(), "archives") }

// TestAnalyzeIsTheLocalTriage: the hunt's result for a real Podman/crun checkpoint carries the
// same findings (rule, severity, order) as the local triage's analysis of the same archive, the
// archive's SHA-256, the planted marker's exact hit count (README: 17 in the heap), and round-trips
// through DecodeResult.
func TestAnalyzeIsTheLocalTriage(t *testing.T) {
	dir := archivesDir()
	req := &Request{Archive: crun, Patterns: []Pattern{
		{Expr: "CRIU-FORENSIC-MARKER-7f3a9c", Severity: "critical"},
		{Expr: "NOT-IN-THIS-CHECKPOINT-4242"},
	}}
	res := Analyze(t.Context(), req, Options{Dir: dir, CacheDir: t.TempDir()})
	require.Empty(t, res.Error, res.Stage)

	b, err := os.ReadFile(filepath.Join(dir, crun))
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	require.Equal(t, hex.EncodeToString(sum[:]), res.SHA256)
	require.EqualValues(t, len(b), res.Size)

	// the local triage, as `podsleuth findings` runs it
	cs, err := open.Open(t.Context(), open.Config{Arg: filepath.Join(dir, crun), NoStore: true, CacheDir: t.TempDir(), Memory: true})
	require.NoError(t, err)
	defer cs.Close()
	an, err := analysis.Run(t.Context(), cs.Checkpoint, cs.Memory, analysis.Options{Archive: cs.Archive})
	require.NoError(t, err)
	defer an.Close()
	require.NotEmpty(t, an.Findings)
	require.Len(t, res.Findings, len(an.Findings))
	for i, f := range an.Findings {
		require.Equal(t, f.Rule, res.Findings[i].Rule)
		require.Equal(t, f.Severity, res.Findings[i].Severity)
	}
	require.Len(t, res.Indicators, min(len(an.Indicators), DefaultMax))
	require.Equal(t, len(cs.Checkpoint.Processes), res.Processes)
	require.Positive(t, res.MemoryBytes)

	require.Equal(t, []PatternHits{
		{Pattern: "CRIU-FORENSIC-MARKER-7f3a9c", Hits: 17, Severity: forensics.SeverityCritical, First: res.Patterns[0].First},
		{Pattern: "NOT-IN-THIS-CHECKPOINT-4242", Hits: 0, Severity: forensics.SeverityHigh},
	}, res.Patterns)
	require.Contains(t, res.Patterns[0].First, "memory pid ")
	require.Equal(t, "critical", res.Severity, "the critical pattern hit")
	require.True(t, res.Reaches(forensics.SeverityCritical))
	require.Positive(t, res.PeakRSS)
	require.Positive(t, res.Timings.Total)

	line, err := json.Marshal(res)
	require.NoError(t, err)
	back, err := DecodeResult(line)
	require.NoError(t, err)
	require.Equal(t, res.SHA256, back.SHA256)
	require.Equal(t, res.Findings, back.Findings)
	require.Equal(t, res.Patterns, back.Patterns)
}

// TestAnalyzeYaraRulesGivenToTheHunt: rule sources sent in the request run on the archive and
// their hits are counted and join the findings, with the rule's severity meta.
func TestAnalyzeYaraRulesGivenToTheHunt(t *testing.T) {
	if !yara.Built {
		if os.Getenv("CI") != "" {
			t.Fatal("built without YARA in CI (GOFLAGS=-tags=yara)")
		}
		t.Skip("built without the yara tag: the hunt's rules cannot run")
	}
	req := &Request{Archive: crun, Rules: []Rule{{Name: "marker.yar", Source: `rule hunt_marker { meta: severity = "high"
  strings: $m = "CRIU-FORENSIC-MARKER-7f3a9c" condition: $m }`}}}
	res := Analyze(t.Context(), req, Options{Dir: archivesDir(), CacheDir: t.TempDir()})
	require.Empty(t, res.Error, res.Stage)
	require.Len(t, res.Yara, 1)
	require.Equal(t, "hunt_marker", res.Yara[0].Rule)
	require.Equal(t, forensics.SeverityHigh, res.Yara[0].Severity)
	require.Positive(t, res.Yara[0].Hits)
	var rules []string
	for _, f := range res.Findings {
		rules = append(rules, f.Rule)
	}
	require.Contains(t, rules, yara.RulePrefix+"hunt_marker")
}

// TestAnalyzeFailuresAreNamed: what cannot be analysed is a result with its stage, never a panic.
func TestAnalyzeFailuresAreNamed(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "junk.tar"), []byte("not a tar at all, not at all"), 0o600))
	require.NoError(t, os.Symlink(filepath.Join(archivesDir(), crun), filepath.Join(dir, "link.tar")))
	tests := []struct {
		name, archive, stage, contains string
	}{
		{"traversal", "../etc/shadow", "request", "not a file name"},
		{"missing", "checkpoint-gone.tar", "open", "no such file"},
		{"not an archive", "junk.tar", "open", ""},
		{"symlink", "link.tar", "open", "not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Analyze(t.Context(), &Request{Archive: tc.archive}, Options{Dir: dir, CacheDir: t.TempDir()})
			require.Equal(t, tc.stage, res.Stage, res.Error)
			require.NotEmpty(t, res.Error)
			require.Contains(t, res.Error, tc.contains)
			require.Empty(t, res.Severity)
		})
	}
	res := Analyze(t.Context(), &Request{Archive: crun, Timeout: time.Nanosecond}, Options{Dir: archivesDir(), CacheDir: t.TempDir()})
	require.Equal(t, "timeout", res.Stage, res.Error)
	require.Contains(t, res.Error, "time budget per archive")
}

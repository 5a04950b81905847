package report_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/criu"
	"github.com/podsleuth/podsleuth/forensics/diff"
	"github.com/podsleuth/podsleuth/forensics/findings"
	"github.com/podsleuth/podsleuth/forensics/ioc"
	"github.com/podsleuth/podsleuth/forensics/memory"
	"github.com/podsleuth/podsleuth/forensics/report"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// The fixtures are opened by a path relative to this package so that the paths recorded in the
// reports (and the goldens) are the same on every machine.
const fixtureDir = "../../test/fixtures"

// Fixtures of the case report: the bare CRIU dump of the fixture process before and after
// SIGUSR1, and a Podman checkpoint archive of the same program (container metadata, rootfs).
var caseFixtures = []string{"images/full", "images/full-t2", "archives/podman-crun.tar.gz"}

// goldenTime and goldenVersion normalise the generated time and tool version.
var goldenTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const goldenVersion = "v0.0.0-test"

// artifactsDir is where the Chromium test leaves report.html, the screenshots and the PDF:
// `go test -artifacts -outputdir DIR` keeps them under DIR, otherwise they are temporary.
func artifactsDir(t *testing.T) string { return t.ArtifactDir() }

// decoded is one real fixture, decoded with the real decoder and indicator extractor.
type decoded struct {
	cp   *forensics.Checkpoint
	iocs []forensics.IOC
}

var decodeCache = map[string]decoded{}

// decodeFixture decodes a fixture through the same path `podsleuth report` takes: decoder,
// memory index, indicator extraction and findings.
func decodeFixture(t *testing.T, rel string) decoded {
	t.Helper()
	if d, ok := decodeCache[rel]; ok {
		return d
	}
	p := filepath.Join(fixtureDir, rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("fixture %s is missing (run `make fixtures`): %v", p, err)
	}
	ctx := context.Background()
	a, err := archive.Open(ctx, p, archive.DefaultLimits(), t.TempDir())
	require.NoError(t, err, p)
	defer a.Close()
	cp, err := criu.DecodeWith(ctx, a, criu.Options{Hash: true})
	require.NoError(t, err, p)
	mem, err := memory.Open(ctx, a, cp)
	require.NoError(t, err, p)
	iocs, err := ioc.Extract(ctx, cp, mem, ioc.Options{})
	require.NoError(t, err, p)
	cp.Findings = findings.Analyze(cp, findings.WithMemory(mem), findings.WithIndicators(iocs))
	d := decoded{cp: cp, iocs: iocs}
	decodeCache[rel] = d
	return d
}

// fixtureCase builds the case report of caseFixtures with the diff of the first two.
func fixtureCase(t *testing.T, reveal bool) *report.Report {
	t.Helper()
	var in []report.Input
	for _, rel := range caseFixtures {
		d := decodeFixture(t, rel)
		in = append(in, report.Input{Checkpoint: d.cp, IOCs: d.iocs})
	}
	a, b := decodeFixture(t, caseFixtures[0]), decodeFixture(t, caseFixtures[1])
	dr, err := diff.Compare(diff.Input{Checkpoint: a.cp, IOCs: a.iocs}, diff.Input{Checkpoint: b.cp, IOCs: b.iocs})
	require.NoError(t, err)
	r, err := report.Build(in, report.Options{
		CaseID: "IR-2024-0042", Analyst: "dana@example.org", Notes: "Suspicious beaconing from the fixture workload.\nSecond checkpoint taken after SIGUSR1.",
		ToolVersion: goldenVersion, Generated: goldenTime, Reveal: reveal, Diff: dr,
	})
	require.NoError(t, err)
	return r
}

func renderFixtureReport(t *testing.T, format string) []byte {
	t.Helper()
	f, err := report.ParseFormat(format)
	require.NoError(t, err)
	var buf bytesBuffer
	require.NoError(t, fixtureCase(t, false).Render(&buf, f))
	return buf.Bytes()
}

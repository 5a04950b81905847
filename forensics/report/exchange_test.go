package report_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/forensics/open"
	"github.com/podsleuth/podsleuth/forensics/report"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

// TestExchangeExports: the CSV export of real store evidence opens with Go's encoding/csv, has
// its header and one row per finding and per indicator of the one analysis (secrets redacted),
// no cell a spreadsheet would evaluate; the Timesketch export has one JSON line per timeline
// event with message, datetime (RFC 3339) and timestamp_desc; each export is a custody event
// with its format and the SHA-256 of what was written.
func TestExchangeExports(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	st, err := evidence.Open(data)
	require.NoError(t, err)
	it, err := st.Import(ctx, filepath.Join(fixtures.Dir(), "archives/podman-crun.tar"), evidence.Manifest{CaseID: "IR-14"})
	require.NoError(t, err)
	in, err := report.OpenInput(ctx, open.Config{Arg: it.ID, DataDir: data, CacheDir: t.TempDir(), By: "test", Memory: true}, analysis.Options{})
	require.NoError(t, err)
	gen := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	var out bytes.Buffer
	ex, err := report.Export(ctx, []report.Input{in}, report.ExportConfig{Options: report.Options{Generated: gen}, Format: report.CSV, Out: &out, Store: st})
	require.NoError(t, err)
	rows, err := csv.NewReader(bytes.NewReader(out.Bytes())).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"kind", "evidence", "severity", "rule", "technique", "title", "type", "value", "sha256",
		"confidence", "count", "reason", "location", "pid", "comm"}, rows[0])
	var findings, iocs int
	for _, r := range rows[1:] {
		for _, c := range r {
			require.False(t, c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])), "cell %q would be evaluated", c)
		}
		switch r[0] {
		case "finding":
			findings++
			require.NotEmpty(t, r[3], "rule")
		case "indicator":
			iocs++
			require.NotEmpty(t, r[8], "sha256")
		}
	}
	require.Equal(t, len(ex.Report.Findings), findings)
	require.Equal(t, len(ex.Report.IOCs), iocs)
	require.NotZero(t, findings)
	require.NotZero(t, iocs)
	for _, i := range ex.Report.IOCs {
		if i.Secret {
			require.True(t, i.Redacted, "secrets stay redacted without --reveal")
		}
	}
	csvSum := ex.SHA256

	out.Reset()
	ex, err = report.Export(ctx, []report.Input{in}, report.ExportConfig{Options: report.Options{Generated: gen}, Format: report.Timesketch, Out: &out, Store: st})
	require.NoError(t, err)
	require.NotEmpty(t, ex.Report.Timeline)
	sc := bufio.NewScanner(&out)
	n := 0
	for sc.Scan() {
		var ev map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev))
		for _, k := range []string{"message", "datetime", "timestamp_desc"} {
			s, ok := ev[k].(string)
			require.True(t, ok && s != "", "line %d: %s missing: %s", n, k, sc.Text())
		}
		_, err := time.Parse(time.RFC3339Nano, ev["datetime"].(string))
		require.NoError(t, err)
		require.Equal(t, it.ID, ev["store_id"])
		n++
	}
	require.Equal(t, len(ex.Report.Timeline), n)

	evs, err := st.Custody(it.ID)
	require.NoError(t, err)
	got := map[string]string{}
	for _, e := range evs {
		if e.Action == evidence.ActionExported {
			got[e.Details["format"]] = e.Details["report_sha256"]
		}
	}
	require.Equal(t, csvSum, got["csv"])
	require.Equal(t, ex.SHA256, got["timesketch"])
}

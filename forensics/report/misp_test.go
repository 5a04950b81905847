package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/forensics/open"
	"github.com/podsleuth/podsleuth/forensics/report"
)

// mispCategories are the categories MISP accepts for each attribute type the export writes
// (MISP's Attribute category definitions, the MISP core format's category/type table).
var mispCategories = map[string][]string{
	"ip-dst":      {"Payload delivery", "Network activity", "External analysis"},
	"ip-dst|port": {"Payload delivery", "Network activity", "External analysis"},
	"domain":      {"Payload delivery", "Network activity", "External analysis"},
	"url":         {"Payload delivery", "Network activity", "External analysis"},
	"email":       {"Payload delivery", "Network activity", "Social network", "Attribution", "Person"},
	"btc":         {"Financial fraud"},
	"xmr":         {"Financial fraud"},
	"filename":    {"Payload delivery", "Artifacts dropped", "Payload installation", "Persistence mechanism", "External analysis"},
	"text":        {"Internal reference", "Antivirus detection", "Payload delivery", "Artifacts dropped", "Network activity", "Financial fraud", "Other"},
	"comment":     {"Internal reference", "Payload delivery", "Artifacts dropped", "Network activity", "Financial fraud", "Other"},
}

var (
	reMISPDate  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	reMISPStamp = regexp.MustCompile(`^[0-9]+$`)
	reMISPUUID  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

// checkMISPEvent returns every way a decoded export breaks the MISP core format: one Event with
// uuid, info, date, timestamp, threat_level_id 1-4, analysis 0-2, distribution 0-5 and the
// published flag; attributes with a unique uuid, a type in a category MISP accepts for it, a
// value, to_ids and timestamp; tags with a name.
func checkMISPEvent(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var doc map[string]map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	require.Len(t, doc, 1)
	ev := doc["Event"]
	require.NotNil(t, ev)
	require.Regexp(t, reMISPUUID, ev["uuid"])
	require.NotEmpty(t, ev["info"])
	require.Regexp(t, reMISPDate, ev["date"])
	require.Regexp(t, reMISPStamp, ev["timestamp"])
	require.Contains(t, []any{"1", "2", "3", "4"}, ev["threat_level_id"])
	require.Contains(t, []any{"0", "1", "2"}, ev["analysis"])
	require.Contains(t, []any{"0", "1", "2", "3", "5"}, ev["distribution"])
	require.IsType(t, false, ev["published"])
	for _, tg := range ev["Tag"].([]any) {
		require.NotEmpty(t, tg.(map[string]any)["name"])
	}
	seen := map[string]bool{}
	for _, a := range ev["Attribute"].([]any) {
		m := a.(map[string]any)
		u := m["uuid"].(string)
		require.Regexp(t, reMISPUUID, u)
		require.False(t, seen[u], "uuid %s twice", u)
		seen[u] = true
		require.Contains(t, mispCategories[m["type"].(string)], m["category"], "type %v", m["type"])
		require.NotEmpty(t, m["value"])
		require.IsType(t, false, m["to_ids"])
		require.Regexp(t, reMISPStamp, m["timestamp"])
		if m["type"] == "ip-dst|port" {
			require.Regexp(t, `^[0-9a-f.:]+\|[0-9]+$`, m["value"])
		}
	}
	return ev
}

func mispOf(t *testing.T, rel string, reveal bool) ([]byte, map[string]any) {
	t.Helper()
	in, err := report.OpenInput(context.Background(), open.Config{Arg: filepath.Join(fixtureDir, rel), NoStore: true, CacheDir: t.TempDir(),
		By: "test", Memory: true}, analysis.Options{Reveal: reveal})
	require.NoError(t, err)
	r, err := report.Build([]report.Input{in}, report.Options{Generated: goldenTime, Reveal: reveal})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, r.Render(&buf, report.MISP))
	return buf.Bytes(), checkMISPEvent(t, buf.Bytes())
}

// TestMISPEventOfTheMiner (images/triage-miner): one MISP event in the core format whose
// attributes are the stratum URL and the wallets (to_ids), the miner's executable and its pool
// connection (context), with the mining technique as a mitre-attack-pattern galaxy tag, high
// threat level and the verdict; redacted secrets are not in it, and --reveal adds them as text
// attributes that never go to IDS.
func TestMISPEventOfTheMiner(t *testing.T) {
	raw, ev := mispOf(t, "images/triage-miner", false)
	require.Equal(t, "1", ev["threat_level_id"])
	var tags []string
	for _, tg := range ev["Tag"].([]any) {
		tags = append(tags, tg.(map[string]any)["name"].(string))
	}
	require.Contains(t, tags, `misp-galaxy:mitre-attack-pattern="Resource Hijacking - T1496"`)
	require.Contains(t, tags, `podsleuth:verdict="compromised"`)
	require.Contains(t, tags, "tlp:amber")
	attrs := map[string]map[string]any{}
	for _, a := range ev["Attribute"].([]any) {
		m := a.(map[string]any)
		attrs[m["type"].(string)+" "+m["value"].(string)] = m
	}
	url := attrs["url stratum+tcp://127.0.0.1:3333"]
	require.NotNil(t, url)
	require.Equal(t, true, url["to_ids"])
	require.Equal(t, "Network activity", url["category"])
	require.NotNil(t, attrs["xmr 48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGzKt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZijBGUicoD"])
	require.Equal(t, true, attrs["btc bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"]["to_ids"])
	require.NotNil(t, attrs["filename /tmp/.xm/xmrig"])
	require.NotNil(t, attrs["ip-dst|port 127.0.0.1|3333"])

	rraw, rev := mispOf(t, "images/triage-miner", true)
	require.NotEqual(t, ev["uuid"], rev["uuid"], "a revealed export is another event")
	var secrets int
	for _, a := range rev["Attribute"].([]any) {
		m := a.(map[string]any)
		if m["type"] == "text" && m["category"] == "Other" {
			secrets++
			require.Equal(t, false, m["to_ids"])
			require.NotContains(t, string(raw), m["value"], "a secret in the redacted event")
		}
	}
	require.Equal(t, 4, secrets)
	require.Contains(t, string(rraw), "s3cr3t-db-pass")
}

// TestMISPExportIsLogged: the export of store evidence is an "exported" custody event with
// format misp, and two exports at different times are the same bytes.
func TestMISPExportIsLogged(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	st, err := evidence.Open(data)
	require.NoError(t, err)
	it, err := st.Import(ctx, filepath.Join(fixtureDir, "archives/podman-crun.tar"), evidence.Manifest{CaseID: "IR-14"})
	require.NoError(t, err)
	in, err := report.OpenInput(ctx, open.Config{Arg: it.ID, DataDir: data, CacheDir: t.TempDir(), By: "test", Memory: true}, analysis.Options{})
	require.NoError(t, err)
	var outs []string
	for _, gen := range []time.Time{goldenTime, goldenTime.Add(time.Hour)} {
		var out bytes.Buffer
		_, err := report.Export(ctx, []report.Input{in}, report.ExportConfig{Options: report.Options{Generated: gen}, Format: report.MISP, Out: &out, Store: st})
		require.NoError(t, err)
		checkMISPEvent(t, out.Bytes())
		outs = append(outs, out.String())
	}
	require.Equal(t, outs[0], outs[1])
	require.True(t, strings.Contains(outs[0], "evil.example"), "the fixture's C2 domain")
	evs, err := st.Custody(it.ID)
	require.NoError(t, err)
	var n int
	for _, e := range evs {
		if e.Action == evidence.ActionExported && e.Details["format"] == "misp" {
			n++
		}
	}
	require.Equal(t, 2, n)
}

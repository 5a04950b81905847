package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
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

// stixOf renders the STIX bundle of the report of one real fixture, opened and analysed as
// `podsleuth report --no-store` does (the one analysis: findings, indicators, conclusion).
func stixOf(t *testing.T, rel string, reveal bool, gen time.Time) ([]byte, map[string]any) {
	t.Helper()
	in, err := report.OpenInput(context.Background(), open.Config{Arg: filepath.Join(fixtureDir, rel), NoStore: true, CacheDir: t.TempDir(),
		By: "test", Memory: true}, analysis.Options{Reveal: reveal})
	require.NoError(t, err)
	r, err := report.Build([]report.Input{in}, report.Options{Generated: gen, Reveal: reveal, CaseID: "IR-14"})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, r.Render(&buf, report.STIX))
	var b map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &b))
	return buf.Bytes(), b
}

func objectsOf(b map[string]any, typ string) []map[string]any {
	var out []map[string]any
	for _, o := range b["objects"].([]any) {
		if m := o.(map[string]any); m["type"] == typ {
			out = append(out, m)
		}
	}
	return out
}

// TestSTIXBundleOfTheMiner (images/triage-miner): the bundle passes the specification's rules
// (stixspec_test.go: identifiers, timestamps, required properties, references, relationships,
// the pattern grammar) and holds what a responder feeds a threat-intelligence platform: the
// stratum URL and the wallets as indicators, the mining technique T1496 as an attack-pattern
// with its ATT&CK reference and kill chain phase, the miner as a malware instance that uses it
// and that the URL indicates, the miner's process with its executable and its connection to
// the pool as observed data, and the grouping with the verdict. No secret value is in it.
func TestSTIXBundleOfTheMiner(t *testing.T) {
	raw, b := stixOf(t, "images/triage-miner", false, goldenTime)
	require.Empty(t, checkBundle(b))

	var url map[string]any
	for _, ind := range objectsOf(b, "indicator") {
		if ind["pattern"] == "[url:value = 'stratum+tcp://127.0.0.1:3333']" {
			url = ind
		}
	}
	require.NotNil(t, url, "the stratum URL indicator")
	require.Equal(t, "stix", url["pattern_type"])
	require.Equal(t, []any{"malicious-activity"}, url["indicator_types"])
	cmp, err := PatternComparisons(url["pattern"].(string))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"url:value": "stratum+tcp://127.0.0.1:3333"}, cmp)
	var wallets int
	for _, ind := range objectsOf(b, "indicator") {
		if strings.HasPrefix(ind["pattern"].(string), "[cryptocurrency-wallet:value = ") {
			wallets++
		}
	}
	require.Equal(t, 3, wallets, "monero, bitcoin and ethereum")

	var mining map[string]any
	for _, ap := range objectsOf(b, "attack-pattern") {
		ref := ap["external_references"].([]any)[0].(map[string]any)
		if ref["external_id"] == "T1496" {
			mining = ap
			require.Equal(t, "mitre-attack", ref["source_name"])
			require.Equal(t, "https://attack.mitre.org/techniques/T1496/", ref["url"])
		}
	}
	require.NotNil(t, mining, "the attack-pattern of the mining technique")
	require.Equal(t, "Resource Hijacking", mining["name"])
	require.Equal(t, []any{map[string]any{"kill_chain_name": "mitre-attack", "phase_name": "impact"}}, mining["kill_chain_phases"])

	mal := objectsOf(b, "malware")
	require.Len(t, mal, 1, "the conclusion is compromised")
	require.Equal(t, false, mal[0]["is_family"])
	require.Equal(t, "xmrig in triage-miner", mal[0]["name"])
	require.Contains(t, mal[0]["malware_types"], "resource-exploitation")
	rel := map[string]bool{}
	for _, r := range objectsOf(b, "relationship") {
		rel[r["source_ref"].(string)+" "+r["relationship_type"].(string)+" "+r["target_ref"].(string)] = true
	}
	require.True(t, rel[mal[0]["id"].(string)+" uses "+mining["id"].(string)])
	require.True(t, rel[url["id"].(string)+" indicates "+mal[0]["id"].(string)])

	procs := objectsOf(b, "process")
	require.Len(t, procs, 1)
	require.EqualValues(t, 9987, procs[0]["pid"])
	require.Equal(t, "xmrig", procs[0]["x_podsleuth_comm"])
	byID := map[string]map[string]any{}
	for _, o := range b["objects"].([]any) {
		byID[o.(map[string]any)["id"].(string)] = o.(map[string]any)
	}
	exe := byID[procs[0]["image_ref"].(string)]
	require.Equal(t, "xmrig", exe["name"])
	require.Equal(t, "/tmp/.xm", byID[exe["parent_directory_ref"].(string)]["path"])
	conn := byID[procs[0]["opened_connection_refs"].([]any)[0].(string)]
	require.EqualValues(t, 3333, conn["dst_port"])
	require.Equal(t, []any{"ipv4", "tcp"}, conn["protocols"])
	require.Equal(t, "127.0.0.1", byID[conn["dst_ref"].(string)]["value"])
	obs := objectsOf(b, "observed-data")
	require.Len(t, obs, 1)
	require.Contains(t, obs[0]["object_refs"], procs[0]["id"])

	g := objectsOf(b, "grouping")
	require.Len(t, g, 1)
	require.Equal(t, "suspicious-activity", g[0]["context"])
	require.Contains(t, g[0]["description"], "COMPROMISED")
	require.Contains(t, g[0]["description"], "Exposed credentials")
	require.Contains(t, g[0]["object_refs"], url["id"])
	require.Contains(t, g[0]["object_refs"], mal[0]["id"])

	// redaction: the secrets the revealed report holds are nowhere in the redacted bundle, and
	// the revealed bundle has them as indicators (the environment entry as an environment
	// variable of a process)
	_, rb := stixOf(t, "images/triage-miner", true, goldenTime)
	require.Empty(t, checkBundle(rb))
	var secrets int
	for _, ind := range objectsOf(rb, "indicator") {
		cmp, err := PatternComparisons(ind["pattern"].(string))
		require.NoError(t, err)
		for path, v := range cmp {
			if strings.HasPrefix(path, "process:environment_variables.") || path == "user-account:credential" {
				secrets++
				require.NotContains(t, string(raw), v, "a secret in the redacted bundle")
			}
		}
	}
	require.Equal(t, 4, secrets, "AWS secret key, and three secret environment entries")
	require.Contains(t, string(raw), "podsleuth analysis of triage-miner")
}

// TestSTIXBundleOfTheShells (images/triage-shells): the reverse and bind shells' technique
// T1059.004 is an attack-pattern with the sub-technique's page, and the bundle passes the
// specification's rules.
func TestSTIXBundleOfTheShells(t *testing.T) {
	_, b := stixOf(t, "images/triage-shells", false, goldenTime)
	require.Empty(t, checkBundle(b))
	var found bool
	for _, ap := range objectsOf(b, "attack-pattern") {
		ref := ap["external_references"].([]any)[0].(map[string]any)
		if ref["external_id"] == "T1059.004" {
			found = true
			require.Equal(t, "https://attack.mitre.org/techniques/T1059/004/", ref["url"])
			require.Equal(t, "execution", ap["kill_chain_phases"].([]any)[0].(map[string]any)["phase_name"])
		}
	}
	require.True(t, found)
	require.NotEmpty(t, objectsOf(b, "network-traffic"))
}

// TestSTIXExportIsReproducibleAndLogged: two exports of the same store evidence at different
// times are the same bytes (identifiers from the evidence, times from its acquisition), and
// each is an "exported" custody event with format stix and the hash of what was written; an
// export with --reveal is a different bundle (other identifiers), never a new version of the
// redacted one.
func TestSTIXExportIsReproducibleAndLogged(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	st, err := evidence.Open(data)
	require.NoError(t, err)
	it, err := st.Import(ctx, filepath.Join(fixtures.Dir(), "archives/podman-crun.tar"), evidence.Manifest{CaseID: "IR-14"})
	require.NoError(t, err)
	in, err := report.OpenInput(ctx, open.Config{Arg: it.ID, DataDir: data, CacheDir: t.TempDir(), By: "test", Memory: true}, analysis.Options{})
	require.NoError(t, err)
	export := func(gen time.Time, reveal bool) (*report.Exported, []byte) {
		var out bytes.Buffer
		ex, err := report.Export(ctx, []report.Input{in}, report.ExportConfig{Options: report.Options{Generated: gen, Reveal: reveal},
			Format: report.STIX, Out: &out, Store: st})
		require.NoError(t, err)
		return ex, out.Bytes()
	}
	ex1, a := export(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), false)
	ex2, b := export(time.Date(2027, 6, 7, 8, 9, 10, 0, time.UTC), false)
	require.Equal(t, string(a), string(b))
	require.Equal(t, ex1.SHA256, ex2.SHA256)
	var bundle map[string]any
	require.NoError(t, json.Unmarshal(a, &bundle))
	require.Empty(t, checkBundle(bundle))
	g := objectsOf(bundle, "grouping")[0]
	require.Equal(t, "verified", g["x_podsleuth_verification"])
	require.Contains(t, g["description"], "evidence store item "+it.ID)

	_, c := export(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), true)
	var revealed map[string]any
	require.NoError(t, json.Unmarshal(c, &revealed))
	require.NotEqual(t, bundle["id"], revealed["id"])
	require.NotEqual(t, g["id"], objectsOf(revealed, "grouping")[0]["id"])

	evs, err := st.Custody(it.ID)
	require.NoError(t, err)
	var stix []evidence.Event
	for _, e := range evs {
		if e.Action == evidence.ActionExported && e.Details["format"] == "stix" {
			stix = append(stix, e)
		}
	}
	require.Len(t, stix, 3)
	require.Equal(t, ex1.SHA256, stix[0].Details["report_sha256"])
	require.Equal(t, "true", stix[0].Details["redacted"])
	require.Equal(t, "false", stix[2].Details["redacted"])
}

// TestSTIXPatternGrammar: the checker's parser (built from section 9) accepts the
// specification's example patterns and rejects broken ones, so that a pass of the export's
// patterns means something.
func TestSTIXPatternGrammar(t *testing.T) {
	for _, p := range []string{
		`[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']`,
		`[email-message:from_ref.value MATCHES '.+\\@example\\.com$' AND email-message:body_multipart[*].body_raw_ref.name MATCHES '^Final Report.+\\.exe$']`,
		`[ipv4-addr:value = '198.51.100.1/32' OR ipv4-addr:value = '203.0.113.33/32' OR ipv6-addr:value = '2001:0db8:dead:beef:dead:beef:dead:0001/128']`,
		`[domain-name:value = 'example.com'] FOLLOWEDBY [domain-name:value = 'example.org'] WITHIN 300 SECONDS`,
		`([file:hashes.MD5 = '79054025255fb1a26e4bc422aef54eb4'] AND [windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\foo\\bar']) WITHIN 300 SECONDS`,
		`[network-traffic:dst_ref.type = 'domain-name' AND network-traffic:dst_ref.value = 'example.com'] REPEATS 5 TIMES WITHIN 180 SECONDS`,
		`[file:name = 'foo.dll'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'`,
		`[x509-certificate:issuer = 'CN=WEBMAIL' AND x509-certificate:serial_number = '4c:0b:1d:19:74:86:a7:66:b4:1a:bf:40:27:21:76:28']`,
		`[artifact:mime_type = 'application/vnd.tcpdump.pcap' AND artifact:payload_bin MATCHES '\\xd4\\xc3\\xb2\\xa1\\x02\\x00\\x04\\x00']`,
		`[process:environment_variables.'AWS_SECRET' = 'it\'s']`,
		`[network-traffic:dst_port IN (80, 443) AND network-traffic:src_port NOT < 1024]`,
		`[file:size > 1024 AND file:x_data = h'4d5a' AND file:y = b'TVo=' AND file:z != true]`,
	} {
		require.NoError(t, ParsePattern(p), p)
	}
	for _, p := range []string{
		``, `file:name = 'x'`, `[file:name = 'x'`, `[file:name = x]`, `[file:name = 'it's']`, `[file:name = 'a\b']`,
		`[file:name 'x']`, `[:name = 'x']`, `[file:name = 'x'] AND`, `[file:name = 'x'] REPEATS 0 TIMES`,
		`[file:size > true]`, `[file:name = 'x'] WITHIN SECONDS`, `[file:name = 'x' AND NOT file:size < 2]`, `[file:name = 'x'] START '2016' STOP '2017'`,
	} {
		require.Error(t, ParsePattern(p), p)
	}
}

// FuzzSTIXPatternString: any value, however quoted or escaped, gives an indicator whose
// pattern parses and whose string literal unescapes to the value (invalid UTF-8 as U+FFFD).
func FuzzSTIXPatternString(f *testing.F) {
	for _, s := range []string{"stratum+tcp://127.0.0.1:3333", `it's`, `a\b`, `\'`, `'\\'`, "x\ny", "\xff", "]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		p := report.STIXPatternOf("url", v)
		cmp, err := PatternComparisons(p)
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		if got := cmp["url:value"]; got != strings.ToValidUTF8(v, "\uFFFD") {
			t.Fatalf("%q unescapes to %q, want %q", p, got, v)
		}
	})
}

// TestSTIXObservableIDsIndependently: the npm package @security-alliance/stix (its own UUIDv5
// and RFC 8785 canonicalisation, by json-canonicalize) computes the deterministic identifier of
// every cyber-observable of the miner's and the shells' bundles from their ID contributing
// properties, and each equals podsleuth's. test/setup/npm.sh installs it (cached).
func TestSTIXObservableIDsIndependently(t *testing.T) {
	dir := filepath.Join(cacheDir(), "npm-stix")
	if _, err := os.Stat(filepath.Join(dir, "node_modules/@security-alliance/stix/package.json")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("@security-alliance/stix is missing (test/setup/npm.sh installs it): %v", err)
		}
		t.Skipf("@security-alliance/stix is not installed (test/setup/npm.sh installs it): %v", err)
	}
	script, err := filepath.Abs("testdata/stix_sco_ids.mjs")
	require.NoError(t, err)
	for _, rel := range []string{"images/triage-miner", "images/triage-shells"} {
		raw, _ := stixOf(t, rel, false, goldenTime)
		f := filepath.Join(t.TempDir(), "bundle.json")
		require.NoError(t, os.WriteFile(f, raw, 0o600))
		// the script is run from the package's directory so that node resolves its imports there
		mjs := filepath.Join(dir, "check.mjs")
		src, err := os.ReadFile(script)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(mjs, src, 0o644))
		out, err := exec.Command("node", mjs, f).CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Regexp(t, `^[1-9][0-9]* checked, 0 mismatched`, string(out), rel)
	}
}

func cacheDir() string {
	if d := os.Getenv("PODSLEUTH_CACHE"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache/podsleuth-dev")
}

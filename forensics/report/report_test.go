package report_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/report"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(report.Schema))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	require.NoError(t, c.AddResource("report-v1.json", doc))
	s, err := c.Compile("report-v1.json")
	require.NoError(t, err)
	return s
}

func unmarshal(t *testing.T, b []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	return v
}

// TestJSONValidatesAgainstSchema validates the real case report, and checks that the schema
// rejects documents a SIEM parser would choke on.
func TestJSONValidatesAgainstSchema(t *testing.T) {
	s := compileSchema(t)
	good := renderFixtureReport(t, "json")
	require.NoError(t, s.Validate(unmarshal(t, good)))

	var base map[string]any
	require.NoError(t, json.Unmarshal(good, &base))
	require.Equal(t, report.SchemaVersion, base["schema_version"])

	tests := []struct {
		name   string
		mutate func(m map[string]any)
	}{
		{"wrong schema version", func(m map[string]any) { m["schema_version"] = "podsleuth.report/v0" }},
		{"missing evidence", func(m map[string]any) { delete(m, "evidence") }},
		{"findings is not a list", func(m map[string]any) { m["findings"] = "none" }},
		{"unknown severity", func(m map[string]any) {
			m["findings"] = []any{map[string]any{"evidence": "E1", "rule": "x", "severity": "urgent", "title": "t", "reason": "r", "location": map[string]any{"kind": "process"}}}
		}},
		{"local time instead of UTC", func(m map[string]any) { m["generated_at"] = "2026-01-02T04:04:05+01:00" }},
		{"bad sha256", func(m map[string]any) { m["evidence"].([]any)[0].(map[string]any)["sha256"] = "xyz" }},
		{"unknown top-level field", func(m map[string]any) { m["extra"] = true }},
		{"process without pid", func(m map[string]any) {
			cp := m["checkpoints"].([]any)[0].(map[string]any)
			delete(cp["processes"].([]any)[0].(map[string]any), "pid")
		}},
		{"decimal address in memory map", func(m map[string]any) {
			for _, c := range m["checkpoints"].([]any) {
				for _, ms := range c.(map[string]any)["memory_maps"].([]any) {
					for _, n := range ms.(map[string]any)["notable"].([]any) {
						n.(map[string]any)["start"] = "4194304"
						return
					}
				}
			}
			panic("the fixture has no notable mapping")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]any
			require.NoError(t, json.Unmarshal(good, &m))
			tt.mutate(m)
			b, err := json.Marshal(m)
			require.NoError(t, err)
			require.Error(t, s.Validate(unmarshal(t, b)))
		})
	}
}

// The fixture's planted secrets (test/fixtures/README.md): environment values and credential
// strings in memory.
var plantedSecrets = []string{"hunter2-env-marker", "s3cr3t-db-pass", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	"pdsl_fake_token_", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", "-----END RSA PRIVATE KEY-----"}

// memoryOnly are strings that exist only in process memory: a report never copies memory
// beyond the context of a hit, so none of them may appear.
var memoryOnly = []string{"MAIN-STACK-MARKER-a11c", "THREAD-STACK-MARKER-3d4e", "CHILD-HEAP-MARKER-kw01", "RWX-SHELLCODE-MARKER", "SHMEM-MARKER-5e1f"}

func TestSecretsRedactedUnlessRevealed(t *testing.T) {
	for _, format := range []report.Format{report.JSON, report.Markdown, report.HTML} {
		t.Run(string(format), func(t *testing.T) {
			var red, rev bytes.Buffer
			require.NoError(t, fixtureCase(t, false).Render(&red, format))
			require.NoError(t, fixtureCase(t, true).Render(&rev, format))
			for _, s := range plantedSecrets {
				require.NotContains(t, red.String(), s, "a redacted report leaks %q", s)
			}
			for _, s := range []string{"FORENSIC_SECRET=hunter2-env-marker", "DB_PASSWORD=s3cr3t-db-pass"} {
				require.Contains(t, rev.String(), s, "--reveal shows the environment as it was")
			}
			// the redacted value keeps a fingerprint that correlates with the revealed one
			require.Contains(t, red.String(), report.Mask("env-secret", "FORENSIC_SECRET=hunter2-env-marker"))
			for _, s := range memoryOnly {
				require.NotContains(t, red.String(), s)
				require.NotContains(t, rev.String(), s)
			}
		})
	}
}

func TestRedactor(t *testing.T) {
	x := report.Redactor{}
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU"
	const pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
	tests := []struct {
		name, in, want string
		f              func(string) string
	}{
		{"secret env name", "DB_PASSWORD=s3cr3t", report.Mask("env-secret", "DB_PASSWORD=s3cr3t"), x.Env},
		{"token env name", "GITHUB_TOKEN=ghp_abcdefghijklmnop", report.Mask("env-secret", "GITHUB_TOKEN=ghp_abcdefghijklmnop"), x.Env},
		{"plain env", "PATH=/usr/bin:/bin", "PATH=/usr/bin:/bin", x.Env},
		{"empty secret stays empty", "API_KEY=", "API_KEY=", x.Env},
		{"aws key id is an identifier", "key AKIAIOSFODNN7EXAMPLE used", "key AKIAIOSFODNN7EXAMPLE used", x.Text},
		{"bearer token", "Authorization: Bearer pdsl_fake_token_123", "Authorization: Bearer " + report.Mask("bearer-token", "pdsl_fake_token_123"), x.Text},
		{"jwt", "t=" + jwt + " end", "t=" + report.Mask("jwt", jwt) + " end", x.Text},
		{"private key", "k=" + pem, "k=" + report.Mask("private-key", pem), x.Text},
		{"nothing secret", "GET /index.html", "GET /index.html", x.Text},
		{"revealed", "DB_PASSWORD=s3cr3t", "DB_PASSWORD=s3cr3t", report.Redactor{Reveal: true}.Env},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.f(tt.in))
		})
	}
	args := x.Args([]string{"server", "--password=hunter2pass", "--token", "tok-123456789", "-v"})
	require.Equal(t, "server", args[0])
	require.Equal(t, "-v", args[4])
	require.Equal(t, "--token", args[2])
	require.Regexp(t, `^--password=hu…ss sha256:[0-9a-f]{8}$`, args[1])
	require.Regexp(t, `^to…89 sha256:[0-9a-f]{8}$`, args[3])
	require.NotContains(t, strings.Join(args, " "), "hunter2pass")
	require.Regexp(t, `^wJ…EY sha256:[0-9a-f]{8}$`, report.Mask("aws-secret-access-key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"))
	require.Regexp(t, `^… sha256:[0-9a-f]{8}$`, report.Mask("bearer-token", "short"), "short secrets show no characters")
}

// hostile builds a checkpoint whose strings try to break out of Markdown tables and HTML.
func hostile() *forensics.Checkpoint {
	evil := "a|b`c</td><script>alert(1)</script>*x*_y_"
	return &forensics.Checkpoint{
		SchemaVersion: forensics.SchemaVersion,
		Source:        forensics.Source{Path: "/tmp/" + evil, Format: "dir"},
		Processes: []forensics.Process{{PID: 1, Comm: evil, State: "alive", Threads: []int{1},
			Cmdline: []string{evil, "--x"}, Environ: []string{"X=" + evil},
			FDs: []forensics.FD{{FD: 3, Type: forensics.FDRegular, Path: evil}}}},
		Findings: []forensics.Finding{{Rule: "r", Severity: forensics.SeverityHigh, Title: evil, Reason: evil, Location: forensics.Location{Kind: "process", PID: 1, Comm: evil}}},
	}
}

func TestHostileStringsAreEscaped(t *testing.T) {
	r, err := report.Build([]report.Input{{Checkpoint: hostile()}}, report.Options{CaseID: "<b>case</b>", Notes: "| not a table"})
	require.NoError(t, err)
	var h, m, j bytes.Buffer
	require.NoError(t, r.WriteHTML(&h))
	require.NoError(t, r.WriteMarkdown(&m))
	require.NoError(t, r.WriteJSON(&j))
	require.NotContains(t, h.String(), "<script>alert", "HTML escapes process strings")
	require.NotContains(t, h.String(), "<b>case</b>")
	// outside fenced code blocks (which render literally), no raw HTML survives
	outside := withoutFences(m.String())
	require.Contains(t, m.String(), "X=a|b`c</td><script>", "the environment is shown verbatim in a code block")
	require.NotContains(t, outside, "<script>", "Markdown escapes raw HTML")
	require.NotContains(t, outside, "</td>")
	for _, line := range strings.Split(m.String(), "\n") {
		if strings.HasPrefix(line, "| ") && strings.Contains(line, "alert") {
			// a table row keeps its column count: every pipe inside a cell is escaped
			require.NotContains(t, line, "a|b", "unescaped pipe in %q", line)
		}
	}
	var back report.Report
	require.NoError(t, json.Unmarshal(j.Bytes(), &back), "JSON round-trips")
	require.Equal(t, "a|b`c</td><script>alert(1)</script>*x*_y_", back.Checkpoints[0].Processes[0].Comm)
}

func TestBuildErrors(t *testing.T) {
	_, err := report.Build(nil, report.Options{})
	require.ErrorIs(t, err, report.ErrNoCheckpoints)
	_, err = report.Build([]report.Input{{}}, report.Options{})
	require.ErrorIs(t, err, report.ErrNoCheckpoints)
	_, err = report.ParseFormat("pdf")
	require.ErrorIs(t, err, report.ErrFormat)
	for _, f := range []string{"json", "md", "markdown", "html"} {
		_, err := report.ParseFormat(f)
		require.NoError(t, err)
	}
}

// withoutFences drops fenced code blocks from Markdown.
func withoutFences(md string) string {
	var out []string
	fence := ""
	for _, l := range strings.Split(md, "\n") {
		switch {
		case fence == "" && strings.HasPrefix(l, "```"):
			fence = l
		case fence != "" && l == fence:
			fence = ""
		case fence == "":
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestWriteFile(t *testing.T) {
	r := fixtureCase(t, false)
	dir := t.TempDir()
	p := filepath.Join(dir, "case.html")
	sum, err := r.WriteFile(p, report.HTML)
	require.NoError(t, err)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	h := sha256.Sum256(b)
	require.Equal(t, hex.EncodeToString(h[:]), sum)
	st, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left behind")

	_, err = r.WriteFile(filepath.Join(dir, "missing", "x.json"), report.JSON)
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = r.WriteFile(filepath.Join(dir, "x.pdf"), report.Format("pdf"))
	require.ErrorIs(t, err, report.ErrFormat)
	_, err = os.Stat(filepath.Join(dir, "x.pdf"))
	require.ErrorIs(t, err, os.ErrNotExist, "a failed render leaves no file")
}

// TestJSONFieldNamesAreSnakeCase: SIEM pipelines key on field names; every object key of the
// real report is lower snake_case, except the free-form maps (labels, annotations, custody
// details) whose keys are data.
func TestJSONFieldNamesAreSnakeCase(t *testing.T) {
	var doc any
	require.NoError(t, json.Unmarshal(renderFixtureReport(t, "json"), &doc))
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	freeForm := map[string]bool{"labels": true, "annotations": true, "details": true}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				require.Regexp(t, snake, k, "field %s.%s", path, k)
				if !freeForm[k] {
					walk(path+"."+k, e)
				}
			}
		case []any:
			for _, e := range x {
				walk(path+"[]", e)
			}
		}
	}
	walk("", doc)
}

// TestIndicatorFindings: every secret indicator becomes a finding (credentials to rotate), and
// the outside infrastructure the fixture plants (test/fixtures/README.md) is summarised in one
// finding per checkpoint.
func TestIndicatorFindings(t *testing.T) {
	r := fixtureCase(t, false)
	secrets := map[string]int{}
	network := map[string]string{}
	for _, f := range r.Findings {
		switch f.Rule {
		case report.RuleSecretExposed:
			secrets[f.Evidence]++
			require.Contains(t, f.Reason, "sha256:", "the value is shown redacted")
		case report.RuleNetworkIndicators:
			network[f.Evidence] = f.Reason
		}
	}
	for i, e := range r.Evidence {
		d := decodeFixture(t, caseFixtures[i])
		want := 0
		for _, ioc := range d.iocs {
			if ioc.Secret {
				want++
			}
		}
		require.Positive(t, want)
		require.Equal(t, want, secrets[e.ID], "one finding per secret indicator of %s", e.ID)
		for _, v := range []string{"http://c2.evil.example:8443/beacon", "203.0.113.66", "ops@evil.example"} {
			require.Contains(t, network[e.ID], v)
		}
	}
	for i := 1; i < len(r.Findings); i++ {
		require.GreaterOrEqual(t, r.Findings[i-1].Severity, r.Findings[i].Severity, "findings are ordered by severity")
	}
}

// TestReportSectionsHoldTheFixtureFacts checks the sections against test/fixtures/README.md, so
// the goldens are known to be right, not merely unchanged.
func TestReportSectionsHoldTheFixtureFacts(t *testing.T) {
	r := fixtureCase(t, false)
	require.Len(t, r.Checkpoints, 3)
	full, t2, crun := r.Checkpoints[0], r.Checkpoints[1], r.Checkpoints[2]

	// process tree, depth-first: target > kworker/0:1 > grandchild, late-child under target in t2
	tree := func(c report.Checkpoint) []string {
		var s []string
		for _, p := range c.Processes {
			s = append(s, strings.Repeat(" ", p.Depth)+p.Comm)
		}
		return s
	}
	require.Equal(t, []string{"target", " kworker/0:1", "  grandchild"}, tree(full))
	require.Equal(t, []string{"target", " kworker/0:1", "  grandchild", " late-child"}, tree(t2))
	require.Equal(t, 2, full.Processes[0].Threads)
	require.Equal(t, []string{"[kworker/0:1]"}, full.Processes[1].Cmdline)
	require.Equal(t, []string{"/target", "--workdir", "/work", "--mode", "full"}, crun.Processes[0].Cmdline)

	// container metadata of the Podman archive
	require.NotNil(t, crun.Container)
	require.Equal(t, "fx-crun", crun.Container.Name)
	require.Equal(t, "Podman", crun.Container.Engine)
	require.Equal(t, "localhost/podsleuth-fixture:latest", crun.Container.Image)
	require.Equal(t, "fixture-host", crun.Container.Hostname)
	require.Nil(t, full.Container, "a bare image directory has no container metadata")

	// network: the loopback listener and the unix socket path
	var endpoints []string
	for _, s := range full.Network {
		endpoints = append(endpoints, s.Endpoint)
	}
	require.Contains(t, endpoints, "tcp 127.0.0.1:47777 LISTEN")
	require.Contains(t, endpoints, "tcp6 [::1]:47779 LISTEN")

	// open files: the deleted file and the memfd
	var deleted, memfd bool
	for _, f := range full.OpenFiles {
		deleted = deleted || f.Deleted && f.Target == "/tmp/podsleuth-fx/deleted-evidence.bin"
		memfd = memfd || f.Type == "MEMFD" && f.Target == "memfd:payload"
	}
	require.True(t, deleted, "the deleted file is listed as deleted")
	var pipeData bool
	for _, f := range full.OpenFiles {
		pipeData = pipeData || f.Type == "PIPE" && strings.Contains(f.Target, "16 B unread: pipe-data-marker")
	}
	require.True(t, pipeData, "the pipe's unread data is shown")
	require.True(t, memfd, "the memfd is listed")

	// rootfs changes of the container: the dropped executable and the deleted log, with times in
	// the timeline
	var miner, authlog bool
	for _, c := range crun.RootfsChanges {
		miner = miner || c.Path == "/tmp/.x/miner" && c.Executable && c.Kind == "added or modified" // no base image given
		authlog = authlog || c.Path == "/var/log/auth.log" && c.Kind == "deleted"
	}
	require.True(t, miner)
	require.True(t, authlog)
	var rootfsEvents int
	for _, e := range r.Timeline {
		if e.Evidence == "E3" && strings.HasPrefix(e.Event, "rootfs ") {
			rootfsEvents++
		}
	}
	require.Positive(t, rootfsEvents)

	// memory summary: the RWX anonymous page and the executable memfd of the main process
	var why []string
	for _, n := range full.MemoryMaps[0].Notable {
		why = append(why, n.Why)
	}
	require.ElementsMatch(t, []string{"writable and executable", "executable memfd"}, why)

	// CRIU statistics
	require.NotNil(t, full.CRIU.DumpStats)
	require.Positive(t, full.CRIU.DumpStats.PagesWritten)
	require.Equal(t, "nr_pages", full.CRIU.PagemapFormat)
}

// TestReportIsReproducible: two independent decodes of the same evidence give byte-identical
// reports (the indicator extractor scans memory in parallel; the report orders what it finds).
func TestReportIsReproducible(t *testing.T) {
	build := func() []byte {
		delete(decodeCache, "archives/podman-crun.tar")
		d := decodeFixture(t, "archives/podman-crun.tar")
		r, err := report.Build([]report.Input{{Checkpoint: d.cp, IOCs: d.iocs}}, report.Options{Generated: goldenTime, ToolVersion: goldenVersion})
		require.NoError(t, err)
		var b bytes.Buffer
		require.NoError(t, r.WriteJSON(&b))
		return b.Bytes()
	}
	first := build()
	for range 3 {
		require.Equal(t, string(first), string(build()))
	}
}

// TestOpenFilesCarryFDState: the report's open files say what a special fd holds, from the real
// images/fds fixture (eventfd counter, inotify watch, pty), in JSON and in the Markdown table.
func TestOpenFilesCarryFDState(t *testing.T) {
	d := decodeFixture(t, filepath.Join("images", "fds"))
	r, err := report.Build([]report.Input{{Checkpoint: d.cp, IOCs: d.iocs}}, report.Options{ToolVersion: goldenVersion, Generated: goldenTime})
	require.NoError(t, err)
	got := map[int]string{}
	for _, f := range r.Checkpoints[0].OpenFiles {
		got[f.FD] = f.Detail
	}
	require.Equal(t, "counter 7", got[3])
	require.Contains(t, got[6], "/tmp/podsleuth-fx-fds/watched.txt")
	require.Contains(t, got[6], "IN_MODIFY|IN_CLOSE_WRITE")
	require.Equal(t, "PTY master, pts 0, window 40 rows x 132 cols", got[8])
	require.Empty(t, got[0], "a plain file has no state")
	var md bytes.Buffer
	require.NoError(t, r.WriteMarkdown(&md))
	require.Contains(t, md.String(), "| counter 7 |")
}

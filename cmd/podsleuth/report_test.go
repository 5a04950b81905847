package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/forensics/report"
)

const fixtureRoot = "../../test/fixtures"

// TestReportOfStoreEvidence: a case report of one archive from the evidence store (by its ID)
// and one image directory carries the store item's manifest and custody log, validates against
// the schema, is written 0600, and its export is recorded in the item's custody log with the
// report's hash.
func TestReportOfStoreEvidence(t *testing.T) {
	data := t.TempDir()
	code, out, errOut := runCLI(t, data, "evidence", "add", filepath.Join(fixtureRoot, "archives/podman-crun.tar"), "--case-id", "IR-7", "-o", "json")
	require.Equal(t, 0, code, errOut)
	var added struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(out), &added))

	dst := filepath.Join(t.TempDir(), "case.json")
	code, _, errOut = runCLI(t, data, "report", added.ID, filepath.Join(fixtureRoot, "images/full"),
		"-o", dst, "--case-id", "IR-7", "--case-analyst", "dana", "--notes", "first look")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, errOut, "wrote "+dst+" (json")
	st, err := os.Stat(dst)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "reports hold sensitive data")
	body, err := os.ReadFile(dst)
	require.NoError(t, err)

	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(report.Schema))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("s.json", doc))
	sch, err := c.Compile("s.json")
	require.NoError(t, err)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	require.NoError(t, err)
	require.NoError(t, sch.Validate(inst))

	var r report.Report
	require.NoError(t, json.Unmarshal(body, &r))
	require.Equal(t, report.Case{ID: "IR-7", Analyst: "dana", Notes: "first look"}, r.Case)
	require.Len(t, r.Evidence, 2)
	e := r.Evidence[0]
	require.Equal(t, added.ID, e.StoreID)
	require.NotNil(t, e.Manifest)
	require.Equal(t, "IR-7", e.Manifest.CaseID)
	require.Equal(t, e.Manifest.LocalSHA256, e.SHA256, "the decoder's hash of the archive is the one the store recorded")
	require.NotEmpty(t, e.Custody, "the custody log is in the report")
	require.Equal(t, "E2", r.Evidence[1].ID)
	require.Empty(t, r.Evidence[1].StoreID, "an image directory is not store evidence")
	require.Equal(t, "fx-crun", r.Checkpoints[0].Title)
	require.True(t, r.Redacted)
	require.NotContains(t, string(body), "hunter2-env-marker")

	// the export is in the custody log, with the hash of the file written
	code, out, errOut = runCLI(t, data, "evidence", "show", added.ID, "-o", "json")
	require.Equal(t, 0, code, errOut)
	var shown struct {
		Custody []struct {
			Action  string
			Details map[string]string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &shown))
	last := shown.Custody[len(shown.Custody)-1]
	require.Equal(t, "exported", last.Action)
	sum := sha256.Sum256(body)
	require.Equal(t, hex.EncodeToString(sum[:]), last.Details["report_sha256"])
	require.Equal(t, dst, last.Details["file"])

	// the custody chain is still intact after the export event
	code, out, errOut = runCLI(t, data, "evidence", "verify", added.ID)
	require.Equal(t, 0, code, out+errOut)
}

func TestReportFormatsAndErrors(t *testing.T) {
	data := t.TempDir()
	full := filepath.Join(fixtureRoot, "images/full")
	t2 := filepath.Join(fixtureRoot, "images/full-t2")
	tests := []struct {
		name    string
		args    []string
		code    int
		want    string // in stdout (or the -o file)
		wantErr string
	}{
		{"markdown to stdout by default", []string{"report", full}, 0, "# Forensic report", ""},
		{"html from the file extension", []string{"report", full, "-o", "{dir}/r.html"}, 0, "<!DOCTYPE html>", ""},
		{"explicit format wins", []string{"report", full, "-f", "json"}, 0, `"schema_version": "podsleuth.report/v1"`, ""},
		{"stix from the .stix.json extension", []string{"report", full, "-o", "{dir}/case.stix.json"}, 0, `"spec_version": "2.1"`, ""},
		{"stix by name", []string{"report", full, "-f", "stix"}, 0, `"type": "bundle"`, ""},
		{"misp from the .misp.json extension", []string{"report", full, "-o", "{dir}/case.misp.json"}, 0, `"threat_level_id"`, ""},
		{"diff section", []string{"report", full, t2, "--diff", "-f", "md"}, 0, "## Changes between checkpoints", ""},
		{"reveal", []string{"report", full, "--reveal", "-f", "json"}, 0, "FORENSIC_SECRET=hunter2-env-marker", ""},
		{"unknown format", []string{"report", full, "-f", "pdf"}, 1, "", `unknown report format "pdf"`},
		{"diff needs two", []string{"report", full, "--diff"}, 1, "", "--diff needs two checkpoints"},
		{"missing input", []string{"report", "/nonexistent/x.tar"}, 1, "", "/nonexistent/x.tar"},
		{"no input", []string{"report"}, 1, "", "requires at least 1 arg"},
		{"print the schema", []string{"report", "--print-schema"}, 0, `"$id": "https://github.com/podsleuth/podsleuth/forensics/report/schema/report-v1.json"`, ""},
		{"schema takes no input", []string{"report", "--print-schema", full}, 1, "", "unknown command"},
		{"not a checkpoint", []string{"report", "report_test.go"}, 1, "", "open report_test.go: not a checkpoint archive"},
		{"directory without images", []string{"report", "."}, 1, "", "pstree.img"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := make([]string, len(tt.args))
			outFile := ""
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "{dir}", dir)
				if i > 0 && tt.args[i-1] == "-o" {
					outFile = args[i]
				}
			}
			code, out, errOut := runCLI(t, data, args...)
			require.Equal(t, tt.code, code, errOut)
			if outFile != "" {
				b, err := os.ReadFile(outFile)
				require.NoError(t, err)
				out = string(b)
			}
			require.Contains(t, out, tt.want)
			require.Contains(t, errOut, tt.wantErr)
		})
	}
}

// TestDiffCommand runs `podsleuth diff` on the two real dumps of the fixture process.
func TestDiffCommand(t *testing.T) {
	data := t.TempDir()
	full := filepath.Join(fixtureRoot, "images/full")
	t2 := filepath.Join(fixtureRoot, "images/full-t2")
	code, out, errOut := runCLI(t, data, "diff", full, t2)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "+ pid ")
	require.Contains(t, out, "late-child")
	require.Contains(t, out, "+ tcp 127.0.0.1:47791 -> 127.0.0.1:47777 ESTABLISHED")
	require.Contains(t, out, "+ [info] loopback-connection", "the new connection's findings")
	require.Contains(t, out, "8 change(s)")

	code, out, errOut = runCLI(t, data, "diff", full, t2, "-o", "json")
	require.Equal(t, 0, code, errOut)
	var r struct {
		ProcessesAdded []struct{ Comm string } `json:"processes_added"`
		SocketsOpened  []any                   `json:"sockets_opened"`
		FDsAdded       []any                   `json:"fds_added"`
		SocketsClosed  []any                   `json:"sockets_closed"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &r))
	// the JSON is the diff section of the report schema
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(report.Schema))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("report-v1.json", doc))
	sch, err := c.Compile("report-v1.json#/$defs/diff")
	require.NoError(t, err)
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	require.NoError(t, err)
	require.NoError(t, sch.Validate(inst))
	require.Len(t, r.ProcessesAdded, 1)
	require.Len(t, r.SocketsOpened, 2)
	require.Len(t, r.FDsAdded, 2)
	require.Empty(t, r.SocketsClosed)

	code, out, _ = runCLI(t, data, "diff", full, full)
	require.Equal(t, 0, code)
	require.Contains(t, out, "no changes")

	code, _, errOut = runCLI(t, data, "diff", full, t2, "-o", "yaml")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `unknown output format "yaml"`)
	code, _, errOut = runCLI(t, data, "diff", full)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "accepts 2 arg(s)")
}

// TestReportExporter is the TUI's export (evidence screen, x): an HTML report of a store item
// in DATA_DIR/reports, logged in the item's custody log.
func TestReportExporter(t *testing.T) {
	data := t.TempDir()
	code, out, errOut := runCLI(t, data, "evidence", "add", filepath.Join(fixtureRoot, "archives/podman-crun.tar.gz"), "-o", "json")
	require.Equal(t, 0, code, errOut)
	var added struct{ ID, Archive string }
	require.NoError(t, json.Unmarshal([]byte(out), &added))

	t.Setenv("PODSLEUTH_CASE_ID", "IR-77")
	cfg, err := config.Load(config.Options{})
	require.NoError(t, err)
	require.Equal(t, "html", cfg.Report.Format, "the default export format")
	file, err := reportExporter(cfg)(context.Background(), added.Archive)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(data, "reports"), filepath.Dir(file))
	require.True(t, strings.HasPrefix(filepath.Base(file), "report-"+added.ID+"-"), file)
	require.True(t, strings.HasSuffix(file, ".html"))
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Contains(t, string(b), "<title>Forensic report: IR-77</title>")
	require.Contains(t, string(b), added.ID, "the store item is in the report")

	code, out, errOut = runCLI(t, data, "evidence", "show", added.ID, "-o", "json")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, `"action": "exported"`)
	require.Contains(t, out, file)

	t.Setenv("PODSLEUTH_REPORT_FORMAT", "pdf")
	_, err = config.Load(config.Options{})
	require.ErrorIs(t, err, config.ErrInvalid, "an unknown export format is refused when the config loads")
}

// TestReportFindsStoreEvidenceByHash: a copy of store evidence outside the store (the original
// file here) is recognised by its SHA-256, so its report still carries the chain of custody;
// --no-store turns the lookup off.
func TestReportFindsStoreEvidenceByHash(t *testing.T) {
	data := t.TempDir()
	src := filepath.Join(fixtureRoot, "archives/podman-runc.tar")
	code, out, errOut := runCLI(t, data, "evidence", "add", src, "-o", "json")
	require.Equal(t, 0, code, errOut)
	var added struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(out), &added))

	for _, tt := range []struct {
		name    string
		args    []string
		storeID string
	}{
		{"by hash", []string{"report", src, "-f", "json"}, added.ID},
		{"lookup off", []string{"report", src, "-f", "json", "--no-store"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, data, tt.args...)
			require.Equal(t, 0, code, errOut)
			var r report.Report
			require.NoError(t, json.Unmarshal([]byte(out), &r))
			require.Equal(t, tt.storeID, r.Evidence[0].StoreID)
			require.Equal(t, tt.storeID != "", r.Evidence[0].Manifest != nil)
		})
	}
}

// TestNoMemoryScan: without the memory scan the report still has the environment's secrets and
// the model's findings, but no indicator found only in memory (the planted C2 URL).
func TestNoMemoryScan(t *testing.T) {
	data := t.TempDir()
	full := filepath.Join(fixtureRoot, "images/full")
	parse := func(args ...string) report.Report {
		code, out, errOut := runCLI(t, data, append([]string{"report", full, "-f", "json"}, args...)...)
		require.Equal(t, 0, code, errOut)
		var r report.Report
		require.NoError(t, json.Unmarshal([]byte(out), &r))
		return r
	}
	values := func(r report.Report) (vals []string, kinds map[string]bool) {
		kinds = map[string]bool{}
		for _, i := range r.IOCs {
			vals = append(vals, i.Value)
			for _, w := range i.Where {
				kinds[w.Kind] = true
			}
		}
		return vals, kinds
	}
	scanned, scannedKinds := values(parse())
	quick, quickKinds := values(parse("--no-memory-scan"))
	require.Contains(t, scanned, "http://c2.evil.example:8443/beacon")
	require.True(t, scannedKinds["memory"])
	require.NotContains(t, quick, "http://c2.evil.example:8443/beacon")
	require.False(t, quickKinds["memory"], "no sighting in memory without the scan")
	require.True(t, quickKinds["env"], "the environment is still scanned")
	r := parse("--no-memory-scan")
	rules := map[string]bool{}
	for _, f := range r.Findings {
		rules[f.Rule] = true
	}
	require.True(t, rules["anon-rwx-mapping"], "model findings need no memory scan")
	require.True(t, rules["fake-kernel-thread"])
}

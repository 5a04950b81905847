package main

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/test/fixtures"
)

// TestAlteredEvidenceIsNotHandedOn: a store item (the real Podman fixture) with one byte of its
// archive changed after acquisition is refused by `evidence export` and `restore` with exit
// status 3 and the reason; `evidence export --force` writes the bundle, warns and exits 3; the
// custody log records each refusal and the forced export with verification=MISMATCH.
func TestAlteredEvidenceIsNotHandedOn(t *testing.T) {
	data := t.TempDir()
	code, out, errOut := runCLI(t, data, "evidence", "add", filepath.Join(fixtures.Dir(), "archives", "podman-crun.tar"), "-o", "json")
	require.Equal(t, 0, code, errOut)
	var it struct{ ID, Archive string }
	require.NoError(t, json.Unmarshal([]byte(out), &it))
	require.NoError(t, os.Chmod(it.Archive, 0o600))
	b, err := os.ReadFile(it.Archive)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x01
	require.NoError(t, os.WriteFile(it.Archive, b, 0o400))

	bundle := filepath.Join(t.TempDir(), "item.evidence.tar")
	code, _, errOut = runCLI(t, data, "evidence", "export", it.ID, "--to", bundle)
	require.Equal(t, 3, code, errOut)
	require.Contains(t, errOut, "refused: altered evidence would be handed on as if intact")
	require.Contains(t, errOut, "--force exports it anyway")
	require.NoFileExists(t, bundle)

	code, _, errOut = runCLI(t, data, "restore", it.ID, "--local")
	require.Equal(t, 3, code, errOut)
	require.Contains(t, errOut, "restore "+it.ID+" refused")
	require.Contains(t, errOut, "--force restores it anyway")

	code, out, errOut = runCLI(t, data, "evidence", "export", it.ID, "--to", bundle, "--force")
	require.Equal(t, 3, code, errOut)
	require.Contains(t, out, "exported "+it.ID+" to "+bundle)
	require.Contains(t, errOut, "failed verification and was exported with --force")
	require.FileExists(t, bundle)

	code, out, _ = runCLI(t, data, "evidence", "show", it.ID, "-o", "json")
	require.Equal(t, 0, code)
	var shown struct {
		Custody []struct {
			Action  string
			Details map[string]string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &shown))
	var refusedRestore, forcedExport bool
	for _, e := range shown.Custody {
		if e.Details["sandbox_action"] == "restore-refused" && e.Details["verification"] == "MISMATCH" {
			refusedRestore = true
		}
		if e.Action == "exported" && e.Details["forced"] == "true" && e.Details["verification"] == "MISMATCH" {
			forcedExport = true
		}
	}
	require.True(t, refusedRestore, "%s", out)
	require.True(t, forcedExport, "%s", out)
}

// TestEvidenceListCSV: `evidence list -o csv` opens with Go's encoding/csv, has a header and
// one row per item; a case ID a spreadsheet would evaluate is kept inert; other evidence
// commands still refuse -o csv.
func TestEvidenceListCSV(t *testing.T) {
	data := t.TempDir()
	code, out, errOut := runCLI(t, data, "evidence", "add", filepath.Join(fixtures.Dir(), "archives", "podman-crun.tar"),
		"--case-id", "=HYPERLINK(\"http://x\")", "-o", "json")
	require.Equal(t, 0, code, errOut)
	var it struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(out), &it))
	code, out, errOut = runCLI(t, data, "evidence", "list", "-o", "csv")
	require.Equal(t, 0, code, errOut)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.Equal(t, []string{"id", "case_id", "namespace", "pod", "container", "node", "source", "acquired_at",
		"size", "sha256", "last_verified", "last_verified_ok"}, rows[0])
	require.Equal(t, it.ID, rows[1][0])
	require.Equal(t, `'=HYPERLINK("http://x")`, rows[1][1])
	require.Len(t, rows[1][9], 64)
	code, _, errOut = runCLI(t, data, "evidence", "show", it.ID, "-o", "csv")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "--output must be text or json")
}

// TestInspectHashesByDefault: a plain tar opened by path is hashed by default (the SHA-256 of
// its bytes in the JSON); --no-hash and --hash=false skip it.
func TestInspectHashesByDefault(t *testing.T) {
	p := filepath.Join(fixtures.Dir(), "archives", "podman-crun.tar")
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	want := sha256.Sum256(b)
	for _, tc := range []struct {
		flags []string
		sum   string
	}{{nil, hex.EncodeToString(want[:])}, {[]string{"--no-hash"}, ""}, {[]string{"--hash=false"}, ""}} {
		code, out, errOut := runCLI(t, t.TempDir(), append([]string{"inspect", p, "-o", "json"}, tc.flags...)...)
		require.Equal(t, 0, code, errOut)
		var doc struct {
			Source struct {
				SHA256 string `json:"sha256"`
			} `json:"source"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &doc), out[:min(len(out), 200)])
		require.Equal(t, tc.sum, doc.Source.SHA256, "%v", tc.flags)
	}
}

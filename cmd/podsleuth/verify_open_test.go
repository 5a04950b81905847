package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEveryEntryPointReportsAlteredEvidence: one flipped byte in a stored archive makes every
// CLI analysis command warn on stderr and exit with status 3 after its output (the evidence is
// analysed, never silently), the report carries the red banner, and the custody log records
// each opening with its result.
func TestEveryEntryPointReportsAlteredEvidence(t *testing.T) {
	data := t.TempDir()
	code, out, errOut := runCLI(t, data, "evidence", "add", crunTar, "-o", "json")
	require.Equal(t, 0, code, errOut)
	var added struct{ ID, Archive string }
	require.NoError(t, json.Unmarshal([]byte(out), &added))

	// intact: exit 0, no warning
	code, _, errOut = runCLI(t, data, "findings", added.ID)
	require.Equal(t, 0, code, errOut)
	require.NotContains(t, errOut, "WARNING")

	require.NoError(t, os.Chmod(added.Archive, 0o600))
	b, err := os.ReadFile(added.Archive)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x01 // inside a member: the archive still decodes
	require.NoError(t, os.WriteFile(added.Archive, b, 0o400))

	report := filepath.Join(t.TempDir(), "r.md")
	html := filepath.Join(t.TempDir(), "r.html")
	for _, args := range [][]string{
		{"findings", added.ID},
		{"iocs", added.ID},
		{"inspect", added.ID},
		{"memsearch", added.ID, "bash"},
		{"report", added.ID, "-o", report},
		{"report", added.ID, "-o", html},
		{"diff", added.ID, crunTar},
	} {
		code, _, errOut := runCLI(t, data, args...)
		require.Equal(t, exitMismatch, code, "%v: %s", args, errOut)
		require.Contains(t, errOut, "MISMATCH", args)
		require.Contains(t, errOut, "FAILED verification on open", args)
	}
	md, err := os.ReadFile(report)
	require.NoError(t, err)
	require.True(t, strings.Contains(string(md), "FAILED VERIFICATION: MISMATCH"), "the Markdown report has the banner")
	h, err := os.ReadFile(html)
	require.NoError(t, err)
	require.Contains(t, string(h), `id="verification-mismatch"`)

	code, out, _ = runCLI(t, data, "evidence", "show", added.ID, "-o", "json")
	require.Equal(t, 0, code)
	var shown struct {
		Custody []struct {
			Action  string
			Details map[string]string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &shown))
	mism := 0
	for _, e := range shown.Custody {
		if e.Action == "opened" && e.Details["verification"] == "MISMATCH" {
			mism++
		}
	}
	require.GreaterOrEqual(t, mism, 7, "each opening is recorded with its result")
}

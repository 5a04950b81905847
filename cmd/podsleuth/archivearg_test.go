package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAnalysisOfEvidenceIsInTheCustodyLog: every analysis command takes an evidence ID as well as
// a path, and each opening of evidence (by ID or by its path in the store) is an "opened" event
// in its custody log naming the command; the chain still verifies. A file outside the store is
// not evidence: nothing is recorded and no store is created for it.
func TestAnalysisOfEvidenceIsInTheCustodyLog(t *testing.T) {
	data := t.TempDir()
	code, out, errOut := runCLI(t, data, "evidence", "add", crunTar, "-o", "json")
	require.Equal(t, 0, code, errOut)
	var added struct{ ID, Archive string }
	require.NoError(t, json.Unmarshal([]byte(out), &added))

	for _, args := range [][]string{
		{"inspect", added.ID},
		{"inspect", added.Archive},
		{"findings", added.ID},
		{"iocs", added.ID[:20]},
		{"memsearch", added.ID, "CRIU-FORENSIC-MARKER-7f3a9c", "--count"},
		{"memdump", added.ID, "--pid", "1", "--maps"},
		{"diff", added.ID, added.Archive, "--no-memory-scan"},
	} {
		code, out, errOut := runCLI(t, data, args...)
		require.Equal(t, 0, code, "%v: %s", args, errOut)
		require.NotEmpty(t, out, args)
	}
	code, out, _ = runCLI(t, data, "memsearch", added.ID, "CRIU-FORENSIC-MARKER-7f3a9c", "--count")
	require.Equal(t, 0, code)
	require.Contains(t, out, "17", "the ID opens the same archive: the planted marker's 17 copies")

	code, out, errOut = runCLI(t, data, "evidence", "show", added.ID, "-o", "json")
	require.Equal(t, 0, code, errOut)
	var shown struct {
		Custody []struct {
			Action  string
			Details map[string]string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &shown))
	var by []string
	for _, e := range shown.Custody {
		if e.Action == "opened" {
			by = append(by, e.Details["by"])
		}
	}
	require.Equal(t, []string{
		"podsleuth inspect", "podsleuth inspect", "podsleuth findings", "podsleuth iocs",
		"podsleuth memsearch", "podsleuth memdump", "podsleuth diff", "podsleuth diff",
		"podsleuth memsearch",
	}, by)

	code, out, errOut = runCLI(t, data, "evidence", "verify", added.ID)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "OK")

	code, _, errOut = runCLI(t, data, "findings", "no-such-id")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "no-such-id: no such file, and not an evidence ID")

	fresh := filepath.Join(t.TempDir(), "never-created")
	code, _, errOut = runCLI(t, fresh, "inspect", crunTar)
	require.Equal(t, 0, code, errOut)
	_, err := os.Stat(fresh)
	require.ErrorIs(t, err, os.ErrNotExist, "inspecting a file outside the store creates no store")
}

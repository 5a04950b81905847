package report_test

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
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/forensics/open"
	"github.com/podsleuth/podsleuth/forensics/report"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

// TestExportFromOpenedEvidence: the export job writes a report of evidence opened and analysed
// once (OpenInput), to a named file or one it names in a directory, with the hash of what it
// wrote in the item's custody log; writing to a stream logs the same hash. Exporting the same
// input twice reads nothing again: the inputs are reused as they are.
func TestExportFromOpenedEvidence(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	st, err := evidence.Open(data)
	require.NoError(t, err)
	it, err := st.Import(ctx, filepath.Join(fixtures.Dir(), "archives/podman-crun.tar"), evidence.Manifest{CaseID: "IR-9"})
	require.NoError(t, err)

	in, err := report.OpenInput(ctx, open.Config{Arg: it.ID[:16], DataDir: data, CacheDir: t.TempDir(), By: "test", Memory: true}, analysis.Options{})
	require.NoError(t, err)
	require.NotNil(t, in.Store, "evidence carries its store record")
	require.Equal(t, it.ID, in.Store.ID)
	require.Equal(t, "opened", in.Store.Custody[len(in.Store.Custody)-1].Action, "the custody log is read after the opening")
	require.NotEmpty(t, in.Checkpoint.Findings)
	require.NotEmpty(t, in.IOCs)

	gen := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ex, err := report.Export(ctx, []report.Input{in}, report.ExportConfig{Options: report.Options{CaseID: "IR-9", Generated: gen},
		Format: report.JSON, Dir: filepath.Join(data, "reports"), Store: st})
	require.NoError(t, err)
	require.Equal(t, filepath.Join(data, "reports", "report-"+it.ID+"-20260102T030405Z.json"), ex.File)
	b, err := os.ReadFile(ex.File)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	require.Equal(t, hex.EncodeToString(sum[:]), ex.SHA256)
	var doc struct {
		Case     struct{ ID string }
		Evidence []struct{ ID, StoreID string }
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	require.Equal(t, "IR-9", doc.Case.ID)

	var buf bytes.Buffer
	ex2, err := report.Export(ctx, []report.Input{in}, report.ExportConfig{Options: report.Options{Generated: gen}, Format: report.Markdown, Out: &buf, Store: st})
	require.NoError(t, err)
	require.Empty(t, ex2.File)
	sum = sha256.Sum256(buf.Bytes())
	require.Equal(t, hex.EncodeToString(sum[:]), ex2.SHA256)

	evs, err := st.Custody(it.ID)
	require.NoError(t, err)
	var exported []map[string]string
	for _, e := range evs {
		if e.Action == evidence.ActionExported {
			exported = append(exported, e.Details)
		}
	}
	require.Len(t, exported, 2)
	require.Equal(t, ex.File, exported[0]["file"])
	require.Equal(t, ex.SHA256, exported[0]["report_sha256"])
	require.Equal(t, "true", exported[0]["redacted"])
	require.Equal(t, ex2.SHA256, exported[1]["report_sha256"])
	require.Equal(t, "md", exported[1]["format"])
	_, hasFile := exported[1]["file"]
	require.False(t, hasFile)
}

// TestNewInputFindsCopies: a copy of store evidence elsewhere is recognised by its hash; without a
// store, or for a directory, there is no record.
func TestNewInputFindsCopies(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	st, err := evidence.Open(data)
	require.NoError(t, err)
	src := filepath.Join(fixtures.Dir(), "archives/podman-runc.tar")
	it, err := st.Import(ctx, src, evidence.Manifest{})
	require.NoError(t, err)
	cs, err := open.Open(ctx, open.Config{Arg: src, DataDir: data})
	require.NoError(t, err)
	defer cs.Close()
	require.Nil(t, cs.Item, "the original is not in the store")
	in, err := report.NewInput(cs.Checkpoint, nil, nil, cs.Store)
	require.NoError(t, err)
	require.NotNil(t, in.Store)
	require.Equal(t, it.ID, in.Store.ID)

	in, err = report.NewInput(cs.Checkpoint, nil, nil, nil)
	require.NoError(t, err)
	require.Nil(t, in.Store)

	_, err = report.Export(ctx, nil, report.ExportConfig{Format: report.JSON, Out: &bytes.Buffer{}})
	require.ErrorIs(t, err, report.ErrNoCheckpoints)
	require.True(t, strings.HasPrefix(report.FileName(report.Input{Checkpoint: cs.Checkpoint}, report.HTML, time.Unix(0, 0)), "report-podman-runc-19700101T000000Z.html"))
}

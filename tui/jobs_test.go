package tui

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/forensics"
	fevidence "github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/test/fixtures"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
	"github.com/podsleuth/podsleuth/tui/screens/evidence"
)

// TestReportOfAnOpenedCheckpointIsNotDecodedAgain: the evidence view's export (x) of a checkpoint
// already opened in the workbench builds the report from the analysed model: the custody log has
// the workbench's one opening and the export, no second opening by the export; an item not
// opened before is opened (and recorded) by the export itself.
func TestReportOfAnOpenedCheckpointIsNotDecodedAgain(t *testing.T) {
	dir := t.TempDir()
	st, err := fevidence.Open(dir)
	require.NoError(t, err)
	src := filepath.Join(fixtures.Dir(), "archives", "podman-crun.tar.zst")
	it, err := st.Import(t.Context(), src, fevidence.Manifest{CaseID: "IR-8"})
	require.NoError(t, err)
	other, err := st.Import(t.Context(), filepath.Join(fixtures.Dir(), "archives", "podman-runc.tar"), fevidence.Manifest{})
	require.NoError(t, err)
	cfg := &config.Config{CacheDir: t.TempDir(), DataDir: dir}
	cfg.Limits = config.Limits{MaxMemberBytes: 1 << 30, MaxTotalBytes: 4 << 30, MaxEntries: 100000}
	cfg.Report.Format = "json"
	jobs := NewJobs(cfg, "test")

	ld, err := jobs.Loader()(t.Context(), checkpoint.Source{Path: it.Archive})
	require.NoError(t, err)
	require.NoError(t, ld.Close())
	file, err := jobs.Report(t.Context(), it.Archive)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "reports"), filepath.Dir(file))

	actions := func(id string) (opened []string, exported int) {
		evs, err := st.Custody(id)
		require.NoError(t, err)
		for _, e := range evs {
			switch e.Action {
			case fevidence.ActionOpened:
				opened = append(opened, e.Details["by"])
			case fevidence.ActionExported:
				exported++
			}
		}
		return opened, exported
	}
	opened, exported := actions(it.ID)
	require.Equal(t, []string{"podsleuth TUI"}, opened, "the export reused the opened model")
	require.Equal(t, 1, exported)

	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var rep struct {
		Redacted bool
		Findings []json.RawMessage
		IOCs     []struct {
			Value    string
			Secret   bool
			Redacted bool
		} `json:"iocs"`
	}
	require.NoError(t, json.Unmarshal(b, &rep))
	require.True(t, rep.Redacted)
	require.NotEmpty(t, rep.Findings)
	secrets := 0
	for _, i := range rep.IOCs {
		if i.Secret {
			secrets++
			require.True(t, i.Redacted, "the workbench's unredacted indicators are redacted in the report: %s", i.Value)
		}
	}
	require.Positive(t, secrets)

	_, err = jobs.Report(t.Context(), other.ID)
	require.NoError(t, err)
	opened, exported = actions(other.ID)
	require.Equal(t, []string{"podsleuth TUI (report)"}, opened, "not opened before: the export opens it")
	require.Equal(t, 1, exported)
}

// TestPrintableCopyLeavesTheModel: the screens get a printable deep copy; the decoded model keeps
// the bytes the checkpoint held (reports escape them themselves).
func TestPrintableCopyLeavesTheModel(t *testing.T) {
	cp := &forensics.Checkpoint{Processes: []forensics.Process{{PID: 1, Comm: "a\x1b[2Jb", Environ: []string{"X=\x07"}}}}
	want := "a\x1b[2Jb"
	c := printableCopy(cp)
	require.Equal(t, want, cp.Processes[0].Comm)
	require.Equal(t, "X=\x07", cp.Processes[0].Environ[0])
	require.NotEqual(t, want, c.Processes[0].Comm)
	require.Equal(t, forensics.Printable(want), c.Processes[0].Comm)
	require.False(t, reflect.ValueOf(c.Processes).Pointer() == reflect.ValueOf(cp.Processes).Pointer(), "nothing shared")
}

// TestRestoreIsTheSandboxJob: the evidence view's restore runs sandbox/restore's job directly: a
// refused restore (no criu) comes back as the error and is in the custody log.
func TestRestoreIsTheSandboxJob(t *testing.T) {
	dir := t.TempDir()
	st, err := fevidence.Open(dir)
	require.NoError(t, err)
	it, err := st.Import(t.Context(), filepath.Join(fixtures.Dir(), "archives", "podman-crun.tar"), fevidence.Manifest{})
	require.NoError(t, err)
	cfg := &config.Config{CacheDir: t.TempDir(), DataDir: dir}
	cfg.Sandbox.CRIU = filepath.Join(t.TempDir(), "no-criu")
	cfg.Sandbox.StateDir = t.TempDir()
	_, err = NewJobs(cfg, "test").Restore(t.Context(), it.Archive, evidence.RestoreOptions{})
	require.Error(t, err)
	evs, err := st.Custody(it.ID)
	require.NoError(t, err)
	require.Equal(t, "restore-refused", evs[len(evs)-1].Details["sandbox_action"])
}

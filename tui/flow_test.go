package tui

import (
	"bytes"
	"context"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/podsleuth/podsleuth/config"
	fevidence "github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/test/fixtures"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/screens/evidence"
)

// flowApp is the App as cmd builds it for the embedded default: real samples (extracted from
// the embedded FS), the real loader, an empty store.
func flowApp(t *testing.T) *App {
	t.Helper()
	cache := t.TempDir()
	st, err := fevidence.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{CacheDir: cache, Limits: config.Limits{MaxMemberBytes: 1 << 30, MaxTotalBytes: 4 << 30, MaxEntries: 100000}}
	return New(Options{
		Keys: keys.Default(), Theme: "dark", NoCluster: "no kubeconfig", Loader: NewLoader(cfg),
		Evidence: evidence.Source{Store: st, Samples: func() ([]evidence.Sample, error) { return Samples(fixtures.FS) }},
		Extract: func(ctx context.Context, name string) (string, error) {
			return ExtractSample(ctx, fixtures.FS, name, cache)
		},
	})
}

func waitFor(t *testing.T, tm *teatest.TestModel, s string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(s)) },
		teatest.WithDuration(30*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
}

// TestFlowOpenBundledSample drives the real program loop: the embedded sample is extracted,
// decoded, and the planted marker is found in memory.
func TestFlowOpenBundledSample(t *testing.T) {
	tm := teatest.NewTestModel(t, flowApp(t), teatest.WithInitialTermSize(120, 40),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii)))
	waitFor(t, tm, "images/full")
	tm.Type("/criu41")
	tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
	// no wait for the filtered count here: the renderer rewrites only the cells that changed,
	// so "1/1 of" may never reach the output in one piece. Keys are handled in order, so the
	// next enter opens the one row the filter left.
	tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
	waitFor(t, tm, "Findings")
	tm.Type("7")
	tm.Type("/")
	tm.Type("CRIU-FORENSIC-MARKER")
	tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
	waitFor(t, tm, "CRIU-FORENSIC-MARKER-7f3a9c")
	tm.Type("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
}

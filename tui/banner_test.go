package tui

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/config"
	fevidence "github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/test/fixtures"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
	"github.com/podsleuth/podsleuth/tui/screens/evidence"
)

// bannerApp opens the real fixture images/full through the real Loader, whose outcome is
// given the re-check state first (as the open job reports it while hashing) and then the
// outcome "then" through VerifyCmd. It returns the App after the load, before the outcome,
// and the Cmd that delivers it.
func bannerApp(t *testing.T, w, h int, then checkpoint.Verification) (*App, tea.Cmd) {
	t.Helper()
	cfg := &config.Config{CacheDir: t.TempDir()}
	cfg.Limits = config.Limits{MaxMemberBytes: 1 << 30, MaxTotalBytes: 4 << 30, MaxEntries: 100000}
	real := NewLoader(cfg)
	load := func(ctx context.Context, src checkpoint.Source) (*checkpoint.Loaded, error) {
		ld, err := real(ctx, src)
		if err != nil {
			return nil, err
		}
		ld.Verification = checkpoint.Verification{Item: "20261123T120000Z-7f3a9c", State: checkpoint.StateVerifying,
			Summary: "verifying the evidence (re-hashing the archive and artifacts)..."}
		ld.Verified = func(context.Context) (checkpoint.Verification, string) {
			return then, "opening recorded in the custody log of " + then.Item
		}
		return ld, nil
	}
	a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "test", Loader: load})
	a.Update(tea.WindowSizeMsg{Width: w, Height: h})
	_, cmd := a.Update(openMsg(filepath.Join("..", "test", "fixtures", "images", "full"), "images/full"))
	loaded, ok := cmd().(checkpoint.LoadedMsg)
	require.True(t, ok)
	require.NoError(t, loaded.Err)
	_, next := a.Update(loaded)
	return a, next
}

// TestEvidenceBannerStates: the banner under the header says verifying while the evidence is
// re-hashed, then verified, or MISMATCH (red) for altered evidence, on every tab; the body
// gives up one line for it, so every frame keeps the terminal's size.
func TestEvidenceBannerStates(t *testing.T) {
	verified := checkpoint.Verification{Item: "20261123T120000Z-7f3a9c", State: checkpoint.StateVerified,
		Summary: "verified at 2026-11-23T12:00:03Z: sha256 9d4e1c0a5b7f matches the acquisition; custody signed by analyst"}
	mismatch := checkpoint.Verification{Item: "20261123T120000Z-7f3a9c", State: checkpoint.StateMismatch,
		Summary: "MISMATCH at 2026-11-23T12:00:03Z: this evidence was altered after acquisition: archive sha256 differs"}

	a, next := bannerApp(t, 80, 24, verified)
	golden(t, "banner-verifying-80x24", a.Render())
	require.Contains(t, ansi.Strip(a.Render()), "… evidence 20261123T120000Z-7f3a9c: verifying")
	run(t, a, next)
	golden(t, "banner-verified-80x24", a.Render())
	status, errLine := a.Status()
	require.Empty(t, errLine)
	require.Contains(t, status, "evidence verified at 2026-11-23T12:00:03Z")
	require.Contains(t, status, "opening recorded in the custody log of 20261123T120000Z-7f3a9c")

	a, next = bannerApp(t, 80, 24, mismatch)
	run(t, a, next)
	golden(t, "banner-mismatch-80x24", a.Render())
	_, errLine = a.Status()
	require.Contains(t, errLine, "evidence MISMATCH at 2026-11-23T12:00:03Z")
	require.Contains(t, a.hint, "podsleuth evidence verify 20261123T120000Z-7f3a9c")
	for tab := range checkpoint.TabNames {
		a.Update(press(rune('1' + tab)))
		lines := strings.Split(ansi.Strip(a.Render()), "\n")
		require.Len(t, lines, 24)
		require.True(t, strings.HasPrefix(lines[1], " ✗ EVIDENCE ALTERED evidence 20261123T120000Z-7f3a9c: MISMATCH"), "tab %d: %q", tab, lines[1])
	}
	// red: the dark theme draws the mismatch on the error style (a red background)
	setDark(a)
	banner := strings.Split(a.Render(), "\n")[1]
	require.Equal(t, a.th.Error.Render(ansi.Strip(banner)), banner)

	// a file opened by path is no evidence: no banner, the body keeps the line
	b, _ := checkpointApp(t, 80, 24)
	require.NotContains(t, b.Render(), "evidence 2026")
	require.Equal(t, 0, b.bannerH)
}

// TestTamperedEvidenceShowsMismatch: a store item with one byte changed after acquisition,
// opened from the evidence view with the real Loader (the open job re-hashes it beside the
// decoding), is shown with the MISMATCH banner on every tab; its custody log holds the opening
// with verification=MISMATCH. The untouched item shows verified.
func TestTamperedEvidenceShowsMismatch(t *testing.T) {
	for _, tamper := range []bool{false, true} {
		dir := t.TempDir()
		st, err := fevidence.Open(dir)
		require.NoError(t, err)
		it, err := st.Import(t.Context(), filepath.Join(fixtures.Dir(), "archives", "podman-crun.tar"), fevidence.Manifest{CaseID: "IR-14"})
		require.NoError(t, err)
		if tamper {
			// in the middle of the plain tar: the archive still decodes, its hash no longer matches
			require.NoError(t, os.Chmod(it.Archive, 0o600))
			b, err := os.ReadFile(it.Archive)
			require.NoError(t, err)
			b[len(b)/2] ^= 0x01
			require.NoError(t, os.WriteFile(it.Archive, b, 0o400))
		}
		cfg := &config.Config{CacheDir: t.TempDir(), DataDir: dir}
		cfg.Limits = config.Limits{MaxMemberBytes: 1 << 30, MaxTotalBytes: 4 << 30, MaxEntries: 100000}
		a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "test", Evidence: evidence.Source{Store: st}, Loader: NewLoader(cfg)})
		a.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
		run(t, a, a.Init())
		_, cmd := a.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
		run(t, a, cmd)
		cp, ok := a.Top().(*checkpoint.Model)
		require.True(t, ok)
		require.NotNil(t, cp.Loaded(), "decoded: altered evidence is analysed, never refused")
		evs, err := st.Custody(it.ID)
		require.NoError(t, err)
		last := evs[len(evs)-1]
		require.Equal(t, fevidence.ActionOpened, last.Action)
		status, errLine := a.Status()
		if !tamper {
			require.Equal(t, "verified", last.Details["verification"])
			require.Empty(t, errLine)
			require.Contains(t, status, "opening recorded in the custody log of "+it.ID)
			require.Contains(t, ansi.Strip(a.Render()), "✓ evidence "+it.ID+": verified at ")
			continue
		}
		require.Equal(t, "MISMATCH", last.Details["verification"])
		require.Contains(t, errLine, "evidence MISMATCH at ")
		for tab := range checkpoint.TabNames {
			a.Update(press(rune('1' + tab)))
			require.Contains(t, strings.Split(ansi.Strip(a.Render()), "\n")[1], "✗ EVIDENCE ALTERED evidence "+it.ID+": MISMATCH", "tab %d", tab)
		}
	}
}

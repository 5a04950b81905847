package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/test/testenv"
)

// TestTUITamperedEvidenceInTmux runs the real binary in tmux over a store whose item had one
// byte of its archive changed after acquisition: opened from the evidence view, the item is
// analysed with the red MISMATCH banner on every tab (never silently), and its custody log
// records the opening with verification=MISMATCH.
func TestTUITamperedEvidenceInTmux(t *testing.T) {
	data := t.TempDir()
	st, err := evidence.Open(filepath.Join(data, "podsleuth"))
	require.NoError(t, err)
	it, err := st.Import(t.Context(), filepath.Join(testenv.Root(), "test", "fixtures", "archives", "podman-crun.tar"),
		evidence.Manifest{CaseID: "IR-TAMPER", Namespace: "prod", Pod: "web-1", Container: "app"})
	require.NoError(t, err)
	require.NoError(t, os.Chmod(it.Archive, 0o600))
	b, err := os.ReadFile(it.Archive)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x01 // inside a member: the archive still decodes, its hash no longer matches
	require.NoError(t, os.WriteFile(it.Archive, b, 0o400))

	tm := newTmux(t, []string{"KUBECONFIG=" + filepath.Join(t.TempDir(), "none"), "XDG_DATA_HOME=" + data}, nil, 120, 40)
	tm.waitFor("IR-TAMPER", 20*time.Second)
	tm.keys("/", "IR-TAMPER", "Enter")
	tm.waitFor("1/1 of", 5*time.Second)
	tm.keys("Enter")
	screen := tm.waitFor("EVIDENCE ALTERED evidence "+it.ID+": MISMATCH", 60*time.Second)
	require.Contains(t, screen, "podsleuth evidence verify "+it.ID)
	for _, tab := range []string{"2", "3", "9"} {
		tm.keys(tab)
		time.Sleep(200 * time.Millisecond)
		lines := strings.Split(tm.capture(), "\n")
		require.Contains(t, lines[1], "EVIDENCE ALTERED evidence "+it.ID, "tab %s", tab)
	}
	tm.keys("q")
	tm.waitExit(10 * time.Second)

	evs, err := st.Custody(it.ID)
	require.NoError(t, err)
	last := evs[len(evs)-1]
	require.Equal(t, evidence.ActionOpened, last.Action)
	require.Equal(t, "podsleuth TUI", last.Details["by"])
	require.Equal(t, "MISMATCH", last.Details["verification"])
}

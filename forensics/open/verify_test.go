package open_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/forensics/open"
)

// flipByte changes one byte in the middle of a read-only store file.
func flipByte(t *testing.T, p string) {
	t.Helper()
	require.NoError(t, os.Chmod(p, 0o600))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x01
	require.NoError(t, os.WriteFile(p, b, 0o600))
	require.NoError(t, os.Chmod(p, 0o400))
}

// TestOpenVerifiesEvidence: every opening of store evidence re-hashes the archive and its
// artifacts; a flipped byte in either makes the opening report MISMATCH (the analysis still
// opens), and the custody log records the opening with its result.
func TestOpenVerifiesEvidence(t *testing.T) {
	ctx := context.Background()
	for _, target := range []string{"", "archive", "artifact"} {
		t.Run("flipped "+target, func(t *testing.T) {
			data := t.TempDir()
			st, err := evidence.Open(data)
			require.NoError(t, err)
			src, err := os.Open(fixture("archives/podman-crun.tar"))
			require.NoError(t, err)
			defer src.Close()
			arts := []evidence.ArtifactData{{Artifact: evidence.Artifact{Name: "pod.json"}, Data: []byte(`{"kind":"Pod","metadata":{"name":"web"}}`)}}
			it, err := st.AcquireWith(ctx, src, evidence.Manifest{ArchiveName: "c.tar"},
				evidence.AcquireOptions{ArtifactsFunc: func(context.Context) ([]evidence.ArtifactData, error) { return arts, nil }})
			require.NoError(t, err)
			switch target {
			case "archive":
				flipByte(t, it.Archive)
			case "artifact":
				flipByte(t, filepath.Join(it.Dir, "artifacts", "pod.json"))
			}
			cs, err := open.Open(ctx, open.Config{Arg: it.ID, DataDir: data, CacheDir: t.TempDir(), By: "podsleuth findings"})
			require.NoError(t, err, "altered evidence is analysed, with the mismatch reported")
			defer cs.Close()
			require.NotNil(t, cs.Verification)
			require.True(t, cs.Recorded)
			evs, err := st.Custody(it.ID)
			require.NoError(t, err)
			last := evs[len(evs)-1]
			require.Equal(t, evidence.ActionOpened, last.Action)
			require.Equal(t, "podsleuth findings", last.Details["by"])
			verr := cs.VerificationErr(ctx)
			if target == "" {
				require.NoError(t, verr)
				require.Equal(t, open.StateVerified, cs.Verification.State())
				require.Equal(t, "verified", last.Details["verification"])
				require.Contains(t, cs.Verification.Summary(), "verified at ")
				require.Equal(t, it.Manifest.LocalSHA256, cs.Checkpoint.Source.SHA256, "hashed once, by the verification")
				return
			}
			require.ErrorIs(t, verr, open.ErrMismatch)
			require.ErrorIs(t, verr, evidence.ErrTampered)
			require.Equal(t, open.StateMismatch, cs.Verification.State())
			require.Equal(t, "MISMATCH", last.Details["verification"])
			require.NotEmpty(t, last.Details["problems"])
			require.True(t, strings.HasPrefix(cs.Verification.Summary(), "MISMATCH at "), cs.Verification.Summary())
		})
	}
}

// TestOpenVerifyAsync: with VerifyAsync the opening returns with the model while the
// verification may still run; it ends verified and records the opening then.
func TestOpenVerifyAsync(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	st, err := evidence.Open(data)
	require.NoError(t, err)
	it, err := st.Import(ctx, fixture("archives/podman-crun.tar"), evidence.Manifest{})
	require.NoError(t, err)
	cs, err := open.Open(ctx, open.Config{Arg: it.ID, DataDir: data, CacheDir: t.TempDir(), By: "podsleuth TUI", VerifyAsync: true})
	require.NoError(t, err)
	defer cs.Close()
	require.NotNil(t, cs.Checkpoint)
	require.Contains(t, []string{open.StateVerifying, open.StateVerified}, cs.Verification.State())
	require.NoError(t, cs.VerificationErr(ctx))
	require.Equal(t, open.StateVerified, cs.Verification.State())
	require.False(t, cs.Verification.Finished().IsZero())
	require.Equal(t, []string{"podsleuth TUI"}, opened(t, st, it.ID))
}

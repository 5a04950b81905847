package restore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/forensics/open"
	"github.com/podsleuth/podsleuth/sandbox/restore"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

func settings(t *testing.T, data string) *config.Config {
	t.Helper()
	c := &config.Config{DataDir: data, CacheDir: t.TempDir()}
	c.Limits = config.Limits{MaxMemberBytes: 1 << 30, MaxTotalBytes: 4 << 30, MaxEntries: 100000}
	c.Sandbox.CRIU = filepath.Join(t.TempDir(), "no-criu-here")
	c.Sandbox.StateDir = t.TempDir()
	return c
}

// TestRunRecordsARefusedRestore: an evidence ID resolves to the stored archive, which is unpacked
// under the cache; the backend's refusal (no criu) is returned and logged as "restore-refused"
// with the error in the item's custody log, and nothing unpacked is left behind.
func TestRunRecordsARefusedRestore(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	st, err := evidence.Open(data)
	require.NoError(t, err)
	it, err := st.Import(ctx, filepath.Join(fixtures.Dir(), "archives/podman-crun.tar.zst"), evidence.Manifest{CaseID: "IR-3"})
	require.NoError(t, err)
	c := settings(t, data)

	_, err = restore.Run(ctx, restore.Config{Settings: c, Arg: it.ID[:12]})
	require.Error(t, err)
	evs, err := st.Custody(it.ID)
	require.NoError(t, err)
	last := evs[len(evs)-1]
	require.Equal(t, evidence.ActionSandbox, last.Action)
	require.Equal(t, "restore-refused", last.Details["sandbox_action"])
	require.NotEmpty(t, last.Details["error"])
	left, err := os.ReadDir(c.CacheDir)
	require.NoError(t, err)
	require.Empty(t, left, "the unpacked archive is removed")
	res, err := st.Verify(ctx, it.ID)
	require.NoError(t, err)
	require.True(t, res.OK, "the chain verifies: %+v", res)
}

// TestRunRefusals: what the job refuses before restoring anything.
func TestRunRefusals(t *testing.T) {
	ctx := context.Background()
	c := settings(t, t.TempDir())
	images := filepath.Join(fixtures.Dir(), "images/full")
	tests := []struct {
		name string
		cfg  restore.Config
		want error
		msg  string
	}{
		{"rootfs for bare images", restore.Config{Settings: c, Arg: images, Rootfs: t.TempDir()}, restore.ErrRootfsForBareImages, ""},
		{"readonly cluster", restore.Config{Settings: c, Arg: images, Cluster: &cluster.Conn{Readonly: true}}, cluster.ErrReadonly, ""},
		{"sinkhole in a cluster", restore.Config{Settings: c, Arg: images, Cluster: &cluster.Conn{}, Sinkhole: true}, nil, "--sinkhole is for --local sandboxes"},
		{"relative held file", restore.Config{Settings: c, Arg: images, Files: map[string]string{"etc/x": "/tmp/x"}}, nil, "absolute held path"},
		{"unknown argument", restore.Config{Settings: c, Arg: "no-such-id"}, nil, "no-such-id: no such file, and not an evidence ID"},
		{"no settings", restore.Config{Arg: images}, nil, "no settings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := restore.Run(ctx, tt.cfg)
			require.Error(t, err)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
			}
			require.Contains(t, err.Error(), tt.msg)
		})
	}
}

// TestBackends: the backends are built from the settings, state under sandbox.state_dir or
// CACHE/sandboxes.
func TestBackends(t *testing.T) {
	c := &config.Config{CacheDir: "/var/cache/ps"}
	require.Equal(t, "/var/cache/ps/sandboxes", restore.StateDir(c))
	c.Sandbox.StateDir = "/srv/sb"
	require.Equal(t, "/srv/sb", restore.StateDir(c))
	require.NotNil(t, restore.Local(c))
	require.NotNil(t, restore.Cluster(c, &cluster.Conn{}, "node-a", false))
}

// TestRunRefusesAlteredEvidence: a store item with one byte of its archive changed after
// acquisition is re-checked before anything is unpacked or restored, refused with
// open.ErrMismatch naming the problem, and the refusal is recorded with verification=MISMATCH;
// with Force the check no longer stops it, and whatever the restore then does is recorded with
// verification=MISMATCH and forced=true.
func TestRunRefusesAlteredEvidence(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	st, err := evidence.Open(data)
	require.NoError(t, err)
	it, err := st.Import(ctx, filepath.Join(fixtures.Dir(), "archives/podman-crun.tar"), evidence.Manifest{CaseID: "IR-14"})
	require.NoError(t, err)
	require.NoError(t, os.Chmod(it.Archive, 0o600))
	b, err := os.ReadFile(it.Archive)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x01
	require.NoError(t, os.WriteFile(it.Archive, b, 0o400))
	c := settings(t, data)

	_, err = restore.Run(ctx, restore.Config{Settings: c, Arg: it.ID})
	require.ErrorIs(t, err, open.ErrMismatch)
	require.ErrorContains(t, err, "the manifest recorded "+it.Manifest.LocalSHA256)
	require.ErrorContains(t, err, "--force")
	evs, err := st.Custody(it.ID)
	require.NoError(t, err)
	last := evs[len(evs)-1]
	require.Equal(t, "restore-refused", last.Details["sandbox_action"])
	require.Equal(t, open.StateMismatch, last.Details["verification"])
	require.Empty(t, last.Details["forced"])
	left, err := os.ReadDir(c.CacheDir)
	require.NoError(t, err)
	require.Empty(t, left, "nothing unpacked")

	_, err = restore.Run(ctx, restore.Config{Settings: c, Arg: it.ID, Force: true})
	require.Error(t, err, "no base root filesystem: the restore itself still fails here")
	require.NotErrorIs(t, err, open.ErrMismatch)
	evs, err = st.Custody(it.ID)
	require.NoError(t, err)
	last = evs[len(evs)-1]
	require.Equal(t, open.StateMismatch, last.Details["verification"])
	require.Equal(t, "true", last.Details["forced"])
	require.Contains(t, last.Details["problems"], "archive sha256 is")
}

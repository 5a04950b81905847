package sandbox

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/evidence"
)

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		id := NewID()
		require.NoError(t, ValidID(id))
		require.False(t, seen[id])
		seen[id] = true
	}
	for _, bad := range []string{"", "../etc", "ABCDEF0123", "0123456789/x", "abc", "g123456789"} {
		require.ErrorIs(t, ValidID(bad), ErrNotFound, bad)
	}
}

func TestStates(t *testing.T) {
	st := States{Root: filepath.Join(t.TempDir(), "sandboxes")}
	list, err := st.List("")
	require.NoError(t, err)
	require.Empty(t, list)
	for i, b := range []string{BackendLocal, BackendCluster} {
		in := &Info{ID: NewID(), Backend: b, Created: time.Now().Add(time.Duration(i) * time.Second), State: "stopped"}
		require.NoError(t, os.MkdirAll(st.Dir(in.ID), 0o700))
		require.NoError(t, st.Save(in))
		got, err := st.Load(in.ID)
		require.NoError(t, err)
		require.Equal(t, in.Backend, got.Backend)
	}
	// a half-made directory (restore in progress) is skipped, not an error
	require.NoError(t, os.MkdirAll(st.Dir("abcdef0123"), 0o700))
	all, err := st.List("")
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.True(t, all[0].Created.Before(all[1].Created))
	local, err := st.List(BackendLocal)
	require.NoError(t, err)
	require.Len(t, local, 1)
	_, err = st.Load("abcdef0123")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = st.Load("../../etc")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestLogCustody(t *testing.T) {
	store, err := evidence.Open(t.TempDir())
	require.NoError(t, err)
	f := filepath.Join(t.TempDir(), "a.tar")
	require.NoError(t, os.WriteFile(f, []byte("not really an archive"), 0o600))
	it, err := store.Import(t.Context(), f, evidence.Manifest{})
	require.NoError(t, err)
	require.NoError(t, LogCustody(store, it.ID, "restored", map[string]string{"sandbox": "0123456789"}))
	require.NoError(t, LogCustody(store, it.ID, "destroyed", nil))
	require.NoError(t, LogCustody(nil, it.ID, "ignored", nil), "no store: nothing to do")
	evs, err := store.Custody(it.ID)
	require.NoError(t, err)
	var got []string
	for _, e := range evs {
		got = append(got, e.Action+"/"+e.Details["sandbox_action"])
	}
	require.Contains(t, got, evidence.ActionRestored+"/restored")
	require.Contains(t, got, evidence.ActionSandbox+"/destroyed")
	v, err := store.Verify(t.Context(), it.ID)
	require.NoError(t, err)
	require.True(t, v.OK)
}

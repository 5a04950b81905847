package evidence

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHuntLogSignedOnReceipt: every entry of a hunt is signed by the analyst's key as it is
// appended, chained, and the signed head catches lines cut from the end; a changed byte or a
// store that does not trust the key is named.
func TestHuntLogSignedOnReceipt(t *testing.T) {
	s := newSignedStore(t, "alice")
	l, err := s.NewHunt(HuntHeader{Analyst: "alice", Targets: 3, Nodes: 1, Selection: "-n prod -l app=web", Image: "x@sha256:00"})
	require.NoError(t, err)
	require.Regexp(t, `^hunt-\d{8}T\d{6}Z-[0-9a-f]{8}$`, l.ID)
	for i, kind := range []string{"result", "failure", "result"} {
		require.NoError(t, l.Append(kind, map[string]any{"n": i, "pod": "web-" + kind}))
	}
	ids, err := s.Hunts()
	require.NoError(t, err)
	require.Equal(t, []string{l.ID}, ids)

	h, err := s.ReadHunt(l.ID[:20])
	require.NoError(t, err)
	require.NoError(t, h.Err)
	require.Equal(t, "signed by alice (this analyst) (key "+func() string { sg, _ := s.Signer(); return sg.KeyID()[:12] }()+")", h.Signature)
	require.Equal(t, 3, h.Header.Targets)
	require.Len(t, h.Entries, 3)
	require.Equal(t, "failure", h.Entries[1].Kind)
	require.JSONEq(t, `{"n":1,"pod":"web-failure"}`, string(h.Entries[1].Data))

	logPath := filepath.Join(l.Dir, huntLogName)
	orig, err := os.ReadFile(logPath)
	require.NoError(t, err)

	// the last line removed: the chain still holds, the signed head does not
	lines := bytes.SplitAfter(orig, []byte("\n"))
	require.NoError(t, os.WriteFile(logPath, bytes.Join(lines[:2], nil), 0o600))
	h, err = s.ReadHunt(l.ID)
	require.NoError(t, err)
	require.ErrorIs(t, h.Err, ErrTruncated)

	// one byte of a signature changed
	bad := bytes.Replace(orig, []byte(`"sig":"`), []byte(`"sig":"A`), 1)
	require.NoError(t, os.WriteFile(logPath, bad, 0o600))
	h, err = s.ReadHunt(l.ID)
	require.NoError(t, err)
	require.ErrorIs(t, h.Err, ErrBadSignature)
	require.Contains(t, h.Signature, "FAILED")

	// another analyst's store that does not trust alice's key
	require.NoError(t, os.WriteFile(logPath, orig, 0o600))
	other := newSignedStore(t, "bob")
	other.dir = s.dir
	_, err = other.ReadHunt(l.ID)
	require.ErrorIs(t, err, ErrUnknownKey, "the header is alice's")

	_, err = s.ReadHunt("hunt-nope")
	require.ErrorIs(t, err, ErrNoHunt)
}

// TestHuntLogUnsigned: without a key the hunt is kept, and says it is unsigned.
func TestHuntLogUnsigned(t *testing.T) {
	s := newStore(t)
	l, err := s.NewHunt(HuntHeader{Targets: 1})
	require.NoError(t, err)
	require.NoError(t, l.Append("result", map[string]string{"a": "b"}))
	h, err := s.ReadHunt(l.ID)
	require.NoError(t, err)
	require.NoError(t, h.Err)
	require.Equal(t, "unsigned", h.Signature)
	require.Len(t, h.Entries, 1)
}

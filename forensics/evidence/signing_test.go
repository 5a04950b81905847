package evidence

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/archive"
)

// newSignedStore is newStore with an analyst key and a trusted keys file of its own.
func newSignedStore(t *testing.T, name string) *Store {
	t.Helper()
	s := newStore(t)
	cfg := t.TempDir()
	s.opts = Options{KeyFile: filepath.Join(cfg, "key.pem"), TrustFile: filepath.Join(cfg, "trusted-keys.json"), Signer: name}
	return s
}

func signedItem(t *testing.T, s *Store) *Item {
	t.Helper()
	arts := []ArtifactData{{Artifact: Artifact{Name: "pod.json"}, Data: []byte(`{"kind":"Pod"}`)}}
	it, err := s.AcquireWith(context.Background(), strings.NewReader(strings.Repeat("checkpoint ", 500)), Manifest{ArchiveName: "c.tar", CaseID: "IR-1"},
		AcquireOptions{ArtifactsFunc: func(context.Context) ([]ArtifactData, error) { return arts, nil }})
	require.NoError(t, err)
	require.NoError(t, s.Log(it.ID, Event{Action: ActionOpened, Details: map[string]string{"by": "podsleuth inspect"}}))
	return it
}

// TestSignedCustodyVerifiesAndNamesTheSigner: with a key, the manifest, every event and the
// head are signed; the key file is created 0600 on first use; verify names the signer.
func TestSignedCustodyVerifiesAndNamesTheSigner(t *testing.T) {
	s := newSignedStore(t, "alice@laptop")
	it := signedItem(t, s)
	st, err := os.Stat(s.opts.KeyFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	for _, f := range []string{manifestSigName, headName} {
		_, err := os.Stat(filepath.Join(it.Dir, f))
		require.NoError(t, err, f)
	}
	evs, err := s.Custody(it.ID)
	require.NoError(t, err)
	for _, e := range evs {
		require.NotNil(t, e.Sig, e.Action)
	}
	res, err := s.Verify(context.Background(), it.ID)
	require.NoError(t, err)
	require.Equal(t, "signed", res.Signature)
	require.Len(t, res.Signers, 1)
	require.Contains(t, res.Signers[0], "alice@laptop")
	key, _ := os.ReadFile(s.opts.KeyFile)
	log, _ := os.ReadFile(filepath.Join(it.Dir, custodyName))
	require.False(t, bytes.Contains(log, key), "the private key never leaves its file")
}

// TestLegacyItemsAreUnsignedNotRefused: an item made without a key verifies as "unsigned (legacy)".
func TestLegacyItemsAreUnsignedNotRefused(t *testing.T) {
	s := newStore(t)
	it, err := s.Acquire(context.Background(), strings.NewReader("a"), Manifest{ArchiveName: "a.tar"})
	require.NoError(t, err)
	res, err := s.Verify(context.Background(), it.ID)
	require.NoError(t, err)
	require.Equal(t, "unsigned (legacy)", res.Signature)
	// signing starts later: the old events stay legacy, the new ones are signed
	s.opts = newSignedStore(t, "bob@ws").opts
	require.NoError(t, s.Log(it.ID, Event{Action: ActionOpened}))
	res, err = s.Verify(context.Background(), it.ID)
	require.NoError(t, err)
	require.Contains(t, res.Signature, "signed since event 3", "acquired and verified unsigned, then signed")
}

// TestWorldReadableKeyIsRefused: a private key others can read is never used; nothing is
// written.
func TestWorldReadableKeyIsRefused(t *testing.T) {
	s := newSignedStore(t, "alice")
	it := signedItem(t, s)
	require.NoError(t, os.Chmod(s.opts.KeyFile, 0o644))
	fresh := newStore(t)
	fresh.opts = s.opts
	err := fresh.Log(it.ID, Event{Action: ActionOpened})
	require.Error(t, err)
	_, err = fresh.Acquire(context.Background(), strings.NewReader("x"), Manifest{ArchiveName: "x.tar"})
	require.ErrorIs(t, err, ErrKeyPermissions)
	require.Contains(t, err.Error(), "mode 0644")
	ents, _ := os.ReadDir(filepath.Join(fresh.Dir(), "evidence"))
	require.Empty(t, ents)
}

// TestGarbageKeysFileIsRefusedByName: a trusted keys file that does not parse fails verify and
// import with ErrBadKeysFile.
func TestGarbageKeysFileIsRefusedByName(t *testing.T) {
	s := newSignedStore(t, "alice")
	it := signedItem(t, s)
	for _, garbage := range []string{"not json", `{"schema":"podsleuth.trusted-keys/v1","keys":[{"keyid":"ab","keytype":"ed25519","public":"zz","added":"2026-01-01T00:00:00Z"}]}`, `{"schema":"other"}`} {
		require.NoError(t, os.WriteFile(s.opts.TrustFile, []byte(garbage), 0o600))
		res, err := s.Verify(context.Background(), it.ID)
		require.ErrorIs(t, err, ErrBadKeysFile, garbage)
		require.False(t, res.OK)
	}
}

// rewriteLog replaces an item's custody log (and head) by events re-chained and signed by
// signer: what someone who can write the store but has another key could do.
func rewriteLog(t *testing.T, it *Item, evs []Event, signer *Signer) {
	t.Helper()
	p := filepath.Join(it.Dir, custodyName)
	require.NoError(t, os.Remove(p))
	for _, e := range evs {
		e.Prev, e.Sig = "", nil
		require.NoError(t, appendEvent(it.Dir, e, signer))
	}
}

// TestCustodyTampering: each way to alter a signed log is refused or flagged by name.
func TestCustodyTampering(t *testing.T) {
	ctx := context.Background()
	t.Run("re-signed by an untrusted key", func(t *testing.T) {
		s := newSignedStore(t, "alice")
		it := signedItem(t, s)
		evs, err := s.Custody(it.ID)
		require.NoError(t, err)
		mallory, err := LoadOrCreateSigner(filepath.Join(t.TempDir(), "m.pem"), "mallory")
		require.NoError(t, err)
		evs[0].Actor = "mallory@ws9"
		rewriteLog(t, it, evs, mallory)
		_, err = s.Verify(ctx, it.ID)
		require.ErrorIs(t, err, ErrUnknownKey)
		require.ErrorIs(t, err, ErrTampered)
	})
	t.Run("one line edited and its signature kept", func(t *testing.T) {
		s := newSignedStore(t, "alice")
		it := signedItem(t, s)
		p := filepath.Join(it.Dir, custodyName)
		b, _ := os.ReadFile(p)
		require.NoError(t, os.WriteFile(p, bytes.Replace(b, []byte(`podsleuth inspect`), []byte(`podsleuth inspecT`), 1), 0o600))
		_, err := s.Verify(ctx, it.ID)
		require.ErrorIs(t, err, ErrBadSignature)
	})
	t.Run("truncated", func(t *testing.T) {
		s := newSignedStore(t, "alice")
		it := signedItem(t, s)
		p := filepath.Join(it.Dir, custodyName)
		b, _ := os.ReadFile(p)
		lines := bytes.SplitAfter(b, []byte("\n"))
		require.NoError(t, os.WriteFile(p, bytes.Join(lines[:1], nil), 0o600))
		_, err := s.Verify(ctx, it.ID)
		require.ErrorIs(t, err, ErrTruncated)
		require.Contains(t, err.Error(), "the log has 1 events, its signed head")
	})
	t.Run("head removed", func(t *testing.T) {
		s := newSignedStore(t, "alice")
		it := signedItem(t, s)
		require.NoError(t, os.Remove(filepath.Join(it.Dir, headName)))
		_, err := s.Verify(ctx, it.ID)
		require.ErrorIs(t, err, ErrTruncated)
	})
	t.Run("reordered", func(t *testing.T) {
		s := newSignedStore(t, "alice")
		it := signedItem(t, s)
		p := filepath.Join(it.Dir, custodyName)
		b, _ := os.ReadFile(p)
		lines := bytes.SplitAfter(bytes.TrimRight(b, "\n"), []byte("\n"))
		require.Len(t, lines, 2)
		require.NoError(t, os.WriteFile(p, append(append(bytes.TrimRight(lines[1], "\n"), '\n'), lines[0]...), 0o600))
		res, err := s.Verify(ctx, it.ID)
		require.ErrorIs(t, err, ErrTampered)
		require.Contains(t, strings.Join(res.Problems, "\n"), "does not chain")
	})
	t.Run("unsigned line appended", func(t *testing.T) {
		s := newSignedStore(t, "alice")
		it := signedItem(t, s)
		require.NoError(t, appendEvent(it.Dir, Event{Time: s.now(), Action: ActionOpened, Actor: "x"}, nil))
		_, err := s.Verify(ctx, it.ID)
		require.ErrorIs(t, err, ErrUnsigned)
	})
	t.Run("signed after revocation", func(t *testing.T) {
		s := newSignedStore(t, "alice")
		it := signedItem(t, s)
		sg, err := s.Signer()
		require.NoError(t, err)
		tr, err := s.Trust()
		require.NoError(t, err)
		_, err = tr.Add(sg.Public(), "alice", s.now())
		require.NoError(t, err)
		res, err := s.Verify(ctx, it.ID)
		require.NoError(t, err, "events before the revocation are fine")
		_, err = tr.Revoke(sg.KeyID()[:10], s.now())
		require.NoError(t, err)
		require.NoError(t, s.Log(it.ID, Event{Action: ActionOpened}))
		res, err = s.Verify(ctx, it.ID)
		require.ErrorIs(t, err, ErrRevokedKey)
		require.Equal(t, "INVALID", res.Signature)
	})
	t.Run("clock going backwards", func(t *testing.T) {
		s := newSignedStore(t, "alice")
		it := signedItem(t, s)
		require.NoError(t, s.Log(it.ID, Event{Action: ActionOpened, Time: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}))
		res, err := s.Verify(ctx, it.ID)
		require.NoError(t, err, "flagged, not refused")
		require.Len(t, res.Warnings, 1)
		require.Contains(t, res.Warnings[0], ErrClockBackwards.Error())
	})
	t.Run("manifest edited", func(t *testing.T) {
		s := newSignedStore(t, "alice")
		it := signedItem(t, s)
		p := filepath.Join(it.Dir, manifestName)
		b, _ := os.ReadFile(p)
		require.NoError(t, os.Chmod(p, 0o600))
		require.NoError(t, os.WriteFile(p, bytes.Replace(b, []byte(`"IR-1"`), []byte(`"IR-2"`), 1), 0o400))
		_, err := s.Verify(ctx, it.ID)
		require.ErrorIs(t, err, ErrBadSignature)
	})
}

// exportSigned returns a signed bundle of a fresh item and the exporting store.
func exportSigned(t *testing.T) (*Store, *Item, []byte) {
	t.Helper()
	s := newSignedStore(t, "alice@laptop")
	it := signedItem(t, s)
	var b bytes.Buffer
	_, err := s.Export(context.Background(), it.ID, &b, ExportOptions{To: "/media/usb/x.tar"})
	require.NoError(t, err)
	return s, it, b.Bytes()
}

func trusting(t *testing.T, src *Store) *Store {
	t.Helper()
	dst := newSignedStore(t, "bob@ws2")
	sg, err := src.Signer()
	require.NoError(t, err)
	tr, err := dst.Trust()
	require.NoError(t, err)
	_, err = tr.Add(sg.Public(), "alice@laptop", time.Now())
	require.NoError(t, err)
	return dst
}

func requireNothingKept(t *testing.T, s *Store) {
	t.Helper()
	items, err := s.List()
	require.NoError(t, err)
	require.Empty(t, items)
	left, err := os.ReadDir(filepath.Join(s.Dir(), "incoming"))
	require.NoError(t, err)
	require.Empty(t, left)
}

// TestSignedBundles: a signed bundle imports where its signer is trusted, naming the signer;
// where it is not, or altered, or stripped of its attestation, it is refused by name and the
// store keeps nothing.
func TestSignedBundles(t *testing.T) {
	ctx := context.Background()
	src, it, b := exportSigned(t)
	dst := trusting(t, src)
	got, err := dst.ImportBundle(ctx, writeBundle(t, b), archive.DefaultLimits(), t.TempDir())
	require.NoError(t, err)
	evs, err := dst.Custody(got.ID)
	require.NoError(t, err)
	last := evs[len(evs)-1]
	require.Equal(t, ActionImported, last.Action)
	require.Contains(t, last.Details["signatures"], "attested by alice@laptop")
	res, err := dst.Verify(ctx, got.ID)
	require.NoError(t, err)
	require.Len(t, res.Signers, 2, "alice acquired, bob imported: %v", res.Signers)

	stranger := newSignedStore(t, "eve")
	_, err = stranger.ImportBundle(ctx, writeBundle(t, b), archive.DefaultLimits(), t.TempDir())
	require.ErrorIs(t, err, ErrUnknownKey)
	requireNothingKept(t, stranger)

	swapped := rewrite(t, b, func(name string, d []byte) []byte {
		if name == "c.tar" {
			return []byte(strings.Repeat("CHECKPOINT ", 500))
		}
		return d
	}, true)
	dst2 := trusting(t, src)
	_, err = dst2.ImportBundle(ctx, writeBundle(t, swapped), archive.DefaultLimits(), t.TempDir())
	require.ErrorIs(t, err, ErrBadBundle)
	requireNothingKept(t, dst2)

	// the manifest and the first event rewritten for the swapped archive: the signatures no
	// longer hold
	stripped := rewrite(t, b, func(name string, d []byte) []byte {
		if name == attestationName {
			return []byte("{}")
		}
		return d
	}, true)
	_, err = dst2.ImportBundle(ctx, writeBundle(t, stripped), archive.DefaultLimits(), t.TempDir())
	require.ErrorIs(t, err, ErrBadBundle)
	require.ErrorIs(t, err, ErrUnsigned)
	requireNothingKept(t, dst2)
	_ = it
}

// TestPythonSecuresystemslibVerifiesTheBundleAttestation: Debian's python3-securesystemslib,
// an implementation podsleuth's authors did not write, verifies the DSSE envelope of an
// exported bundle with the analyst's public key (PAE computed in Python from the DSSE spec)
// and reads the in-toto Statement's subjects.
func TestPythonSecuresystemslibVerifiesTheBundleAttestation(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import securesystemslib.signer").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-securesystemslib is missing (test/setup/apt.sh installs it): %v", err)
		}
		t.Skipf("python3-securesystemslib is not installed (test/setup/apt.sh installs it): %v", err)
	}
	src, it, b := exportSigned(t)
	var env []byte
	rewrite(t, b, func(name string, d []byte) []byte {
		if name == attestationName {
			env = d
		}
		return d
	}, false)
	require.NotEmpty(t, env)
	sg, err := src.Signer()
	require.NoError(t, err)
	dir := t.TempDir()
	envPath := filepath.Join(dir, "attestation.dsse.json")
	require.NoError(t, os.WriteFile(envPath, env, 0o600))
	script := filepath.Join("testdata", "verify_dsse.py")
	run := func(pub string) (string, error) {
		out, err := exec.Command(py, script, envPath, pub).CombinedOutput()
		return string(out), err
	}
	out, err := run(hex.EncodeToString(sg.Public()))
	require.NoError(t, err, out)
	var rep struct {
		Verified bool              `json:"verified"`
		Subjects map[string]string `json:"subjects"`
		KeyID    string            `json:"keyid"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.True(t, rep.Verified)
	require.Equal(t, it.Manifest.LocalSHA256, rep.Subjects["c.tar"])
	require.Equal(t, it.Manifest.Artifacts[0].SHA256, rep.Subjects["artifacts/pod.json"])
	require.Equal(t, sg.KeyID(), rep.KeyID, "securesystemslib computes the same key id")

	other, err := LoadOrCreateSigner(filepath.Join(t.TempDir(), "o.pem"), "o")
	require.NoError(t, err)
	out, err = run(hex.EncodeToString(other.Public()))
	require.Error(t, err, "another key does not verify: %s", out)
	require.Contains(t, out, "signature does not verify")
}

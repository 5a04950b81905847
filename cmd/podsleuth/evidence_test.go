package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// runCLI runs podsleuth in-process with its own data dir and returns status, stdout, stderr.
func runCLI(t *testing.T, dataDir string, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("PODSLEUTH_DATA_DIR", dataDir)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dataDir, "no-config"))
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"podsleuth"}, args...), streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

func TestEvidenceAddListVerifyDetectsTampering(t *testing.T) {
	data := t.TempDir()
	src := filepath.Join(t.TempDir(), "checkpoint.tar")
	require.NoError(t, os.WriteFile(src, bytes.Repeat([]byte{0xAB}, 10000), 0o644))

	code, out, errOut := runCLI(t, data, "evidence", "add", src, "--case-id", "IR-7", "-o", "json")
	require.Equal(t, 0, code, errOut)
	var added struct {
		ID       string
		Archive  string
		Manifest struct {
			CaseID string `json:"case_id"`
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &added))
	require.Equal(t, "IR-7", added.Manifest.CaseID, "the --case-id flag reaches the manifest")

	code, out, _ = runCLI(t, data, "evidence", "list")
	require.Equal(t, 0, code)
	require.Contains(t, out, added.ID)
	require.Contains(t, out, "local file "+src)

	code, out, _ = runCLI(t, data, "evidence", "verify")
	require.Equal(t, 0, code)
	require.Contains(t, out, "OK        "+added.ID)

	require.NoError(t, os.Chmod(added.Archive, 0o600))
	f, err := os.OpenFile(added.Archive, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{0xAA}, 5000)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, os.Chmod(added.Archive, 0o400))

	code, out, errOut = runCLI(t, data, "evidence", "verify", added.ID)
	require.Equal(t, 2, code, "a mismatch exits with status 2")
	require.Contains(t, out, "MISMATCH  "+added.ID)
	require.Contains(t, errOut, "FAILED verification")

	code, out, _ = runCLI(t, data, "evidence", "show", added.ID[len(added.ID)-12:])
	require.Equal(t, 0, code)
	require.Contains(t, out, "verify-failed")
	require.Contains(t, out, "acquired")
}

func TestEvidenceShowUnknownIDIsOneClearLine(t *testing.T) {
	code, _, errOut := runCLI(t, t.TempDir(), "evidence", "show", "nope")
	require.Equal(t, 1, code)
	require.Equal(t, 1, strings.Count(strings.TrimSpace(errOut), "\n")+1, errOut)
	require.Contains(t, errOut, "no such evidence: nope")
}

// TestEvidenceExportImport: an item goes from one store to another with `evidence export` and
// `evidence import`, verifies there with its custody log intact, and a corrupted bundle is refused
// with the reason and a non-zero status.
func TestEvidenceExportImport(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	code, out, errOut := runCLI(t, src, "evidence", "add", crunTar, "-o", "json")
	require.Equal(t, 0, code, errOut)
	var added struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(out), &added))
	bundle := filepath.Join(t.TempDir(), "handover.tar")
	code, out, errOut = runCLI(t, src, "evidence", "export", added.ID, "--to", bundle)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "exported "+added.ID+" to "+bundle)
	st, err := os.Stat(bundle)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o400), st.Mode().Perm())
	code, _, errOut = runCLI(t, src, "evidence", "export", added.ID, "--to", bundle)
	require.Equal(t, 1, code, "an existing bundle is not overwritten")
	require.Contains(t, errOut, "exists")

	// the receiving analyst does not trust the sender's key yet: refused by name, nothing kept
	code, _, errOut = runCLI(t, dst, "evidence", "import", bundle)
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "signed by an untrusted key")
	code, out, _ = runCLI(t, dst, "evidence", "list")
	require.Equal(t, 0, code)
	require.Contains(t, out, "no evidence yet")
	// the sender hands over the public key; the receiver trusts it
	code, out, errOut = runCLI(t, src, "evidence", "key")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "BEGIN PUBLIC KEY")
	require.NotContains(t, out, "PRIVATE")
	pub := filepath.Join(t.TempDir(), "alice.pub")
	require.NoError(t, os.WriteFile(pub, []byte(out), 0o644))
	code, out, errOut = runCLI(t, dst, "evidence", "trust", pub, "--name", "alice@ir")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "trusted alice@ir")
	code, out, _ = runCLI(t, dst, "evidence", "keys")
	require.Equal(t, 0, code)
	require.Contains(t, out, "alice@ir")

	code, out, errOut = runCLI(t, dst, "evidence", "import", bundle)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "imported "+added.ID)
	require.Contains(t, out, "attested by alice@ir")
	code, out, _ = runCLI(t, dst, "evidence", "verify", added.ID)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "signatures: signed by alice@ir")
	code, out, _ = runCLI(t, dst, "evidence", "show", added.ID)
	require.Equal(t, 0, code)
	require.Contains(t, out, "imported")

	b, err := os.ReadFile(bundle)
	require.NoError(t, err)
	b[len(b)/2] ^= 1
	bad := filepath.Join(t.TempDir(), "bad.tar")
	require.NoError(t, os.WriteFile(bad, b, 0o600))
	code, _, errOut = runCLI(t, t.TempDir(), "evidence", "import", bad)
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "evidence bundle rejected")
}

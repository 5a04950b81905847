//go:build yara

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/yara"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

var implantDir = filepath.Join(fixtures.Dir(), "images", "implant")

// TestYaraCLI: `podsleuth yara ARCHIVE` runs the default set (text and JSON agree), RULES and
// --rules take the responder's files, and a broken file is named with its line while the
// others run.
func TestYaraCLI(t *testing.T) {
	code, out, errOut := runCLI(t, t.TempDir(), "yara", implantDir)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "CRITICAL  webshell_php_eval")
	require.Contains(t, out, "where: in deleted file /tmp/podsleuth-fx-implant/upload.php (ghost file) at offset 0x0, held by pid 30248 (implant) fd 4")
	require.Contains(t, out, "$dev at 0xa: \"/dev/tcp/203.0.113.77/4444\"")
	require.Regexp(t, `(?m)^10 hits; 13 rules from 5 files; 13 blocks \(ghost 1, memfd 1, memory 9, pipe 1, socket 1\)`, out)

	code, out, errOut = runCLI(t, t.TempDir(), "yara", "default", implantDir, "-o", "json", "--pid", "30248", "--max-strings", "1")
	require.Equal(t, 0, code, errOut)
	var res yara.Result
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Len(t, res.Hits, 10)
	for _, h := range res.Hits {
		require.Equal(t, 30248, h.PID)
		require.LessOrEqual(t, len(h.Strings), 1)
	}

	rules := filepath.Join(t.TempDir(), "mine.yar")
	require.NoError(t, os.WriteFile(rules, []byte(`rule Mine : ir { meta: severity = "low" strings: $w = "podsleuth-implant-wallet" condition: $w }`), 0o644))
	code, out, errOut = runCLI(t, t.TempDir(), "yara", rules, implantDir, "--rules", "../../forensics/yara/testdata/broken")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "broken.yar:4: undefined identifier \"not_defined_anywhere\" (not used)")
	require.Contains(t, out, "LOW       Mine  (mine.yar)")
	require.Contains(t, out, "Good_Dev_Tcp")
	require.Regexp(t, `(?m)^2 hits; 2 rules from 2 files`, out)

	code, _, errOut = runCLI(t, t.TempDir(), "yara", "../../forensics/yara/testdata/broken/broken.yar", implantDir)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "no YARA rules loaded: ")
	require.Contains(t, errOut, "broken.yar:4:")

	code, out, _ = runCLI(t, t.TempDir(), "yara", "--show-default")
	require.Equal(t, 0, code)
	require.Equal(t, len(yara.DefaultFiles()), strings.Count(out, "// ==== "))
	require.Contains(t, out, "rule webshell_jsp_runtime_exec")
}

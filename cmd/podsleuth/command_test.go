package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

// TestFamiliesValidateBeforeWork runs every `evidence` and `sandbox` subcommand with an output
// format none accepts: each must refuse it by name (Validate) before it does any work. Complete
// may only load the configuration, so neither the evidence store nor the signing key nor the
// sandbox state directory may exist afterwards.
func TestFamiliesValidateBeforeWork(t *testing.T) {
	a := newApp("podsleuth", streams{})
	ran := 0
	for _, family := range []string{"evidence", "sandbox"} {
		fam, _, err := a.root.Find([]string{family})
		require.NoError(t, err)
		for _, sub := range fam.Commands() {
			if sub.Hidden {
				continue // sinkhole-serve: started by restore, takes no -o
			}
			t.Run(family+" "+sub.Name(), func(t *testing.T) {
				dir := t.TempDir()
				data, state, cfg := filepath.Join(dir, "data"), filepath.Join(dir, "state"), filepath.Join(dir, "config")
				t.Setenv("PODSLEUTH_DATA_DIR", data)
				t.Setenv("XDG_STATE_HOME", state)
				t.Setenv("XDG_CONFIG_HOME", cfg)
				args := []string{family, sub.Name(), "-o", "yaml"}
				for range minArgs(sub) {
					args = append(args, "x")
				}
				code, out, errOut := runCLI(t, data, args...)
				require.Equal(t, 1, code, "stdout %q", out)
				require.Contains(t, errOut, `--output must be text or json, not "yaml"`)
				require.Empty(t, out)
				for _, p := range []string{data, state, cfg} {
					_, err := os.Stat(p)
					require.True(t, os.IsNotExist(err), "%s was created before the options were validated", p)
				}
			})
			ran++
		}
	}
	require.GreaterOrEqual(t, ran, 16, "every evidence and sandbox subcommand is checked")
}

// minArgs is how many arguments a command needs at least (from its Use line: each upper-case
// word not in brackets).
func minArgs(c *cobra.Command) int {
	n := 0
	for _, w := range strings.Fields(c.Use)[1:] {
		if strings.HasPrefix(w, "[") || strings.HasPrefix(w, "-") {
			break
		}
		if strings.ToUpper(w) == w {
			n++
		}
	}
	return n
}

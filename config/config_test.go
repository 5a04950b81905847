package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

func isolate(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, e := range []string{"XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"} {
		t.Setenv(e, "")
	}
	return home
}

func TestPrecedenceFlagEnvFileDefault(t *testing.T) {
	home := isolate(t)
	dir := filepath.Join(home, ".config", "podsleuth")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(
		"case:\n  id: FROM-FILE\n  analyst: file-analyst\ncluster:\n  concurrency: 7\n  connect_timeout: 9s\n"), 0o600))
	t.Setenv("PODSLEUTH_CASE_ANALYST", "env-analyst")
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.String("case-id", "", "")
	fs.Bool("cluster", false, "a flag named like a section is not bound to it")
	fs.Bool("readonly", false, "")
	require.NoError(t, fs.Parse([]string{"--case-id", "FROM-FLAG", "--cluster", "--readonly"}))

	c, err := Load(Options{Flags: fs})
	require.NoError(t, err)
	require.Equal(t, "FROM-FLAG", c.Case.ID, "flag beats file")
	require.Equal(t, "env-analyst", c.Case.Analyst, "env beats file")
	require.Equal(t, 7, c.Cluster.Concurrency, "file beats default")
	require.Equal(t, 9*time.Second, c.Cluster.ConnectTimeout)
	require.True(t, c.Readonly)
	require.Equal(t, filepath.Join(home, ".local/share/podsleuth"), c.DataDir, "default")
	require.Equal(t, filepath.Join(dir, "config.yaml"), c.File)
}

func TestValidationErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"concurrency", "cluster:\n  concurrency: 0\n", "cluster.concurrency"},
		{"theme", "tui:\n  theme: purple\n", "tui.theme"},
		{"relative data dir", "data_dir: evidence\n", "data_dir must be an absolute path"},
		{"limits", "limits:\n  max_entries: -1\n", "limits must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			f := filepath.Join(t.TempDir(), "c.yaml")
			require.NoError(t, os.WriteFile(f, []byte(tt.yaml), 0o600))
			_, err := Load(Options{File: f})
			require.ErrorIs(t, err, ErrInvalid)
			require.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := Load(Options{File: filepath.Join(t.TempDir(), "missing.yaml")})
	require.ErrorContains(t, err, "missing.yaml")
}

package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/tui"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
)

// rootfsSection is the rootfs part of a JSON report's checkpoint.
type rootfsSection struct {
	Changes json.RawMessage `json:"rootfs_changes"`
	Diffs   json.RawMessage `json:"rootfs_diffs"`
}

func reportRootfs(t *testing.T, data []byte) rootfsSection {
	t.Helper()
	var rep struct {
		Checkpoints []rootfsSection `json:"checkpoints"`
	}
	require.NoError(t, json.Unmarshal(data, &rep))
	require.Len(t, rep.Checkpoints, 1)
	return rep.Checkpoints[0]
}

// TestTUIReportRootfsEqualsCLI: the report the TUI exports (key x: Jobs.Report over the model the
// TUI's loader analysed) of podman-persist.tar opened with --rootfs BASE has the same rootfs
// section (changes with their kinds, and the diffs) as `podsleuth report --rootfs BASE`; without
// the base neither carries diffs.
func TestTUIReportRootfsEqualsCLI(t *testing.T) {
	path := fixture("archives/podman-persist.tar")
	base := fixture("archives/podman-persist.base.tar.gz")
	for _, rootfs := range []string{base, ""} {
		dir := t.TempDir()
		args := []string{"report", path, "-f", "json", "--no-store"}
		if rootfs != "" {
			args = append(args, "--rootfs", rootfs)
		}
		code, out, errOut := runCLI(t, dir, args...)
		require.Equal(t, 0, code, errOut)
		cli := reportRootfs(t, []byte(out))

		cfg, err := config.Load(config.Options{})
		require.NoError(t, err)
		cfg.DataDir = filepath.Join(dir, "data")
		cfg.Report.Format = "json"
		cfg.Report.Dir = t.TempDir()
		jobs := tui.NewJobs(cfg, version)
		ld, err := jobs.Loader()(context.Background(), checkpoint.Source{Path: path, Rootfs: rootfs})
		require.NoError(t, err)
		file, err := jobs.Report(context.Background(), path)
		require.NoError(t, err)
		require.NoError(t, ld.Close())
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		got := reportRootfs(t, data)

		require.JSONEq(t, string(cli.Changes), string(got.Changes), "rootfs changes CLI vs TUI (base %q)", rootfs)
		if rootfs == "" {
			require.Empty(t, cli.Diffs)
			require.Empty(t, got.Diffs)
			continue
		}
		require.Contains(t, string(cli.Diffs), `+backdoor::0:0:backdoor:/root:/bin/sh\n`)
		require.JSONEq(t, string(cli.Diffs), string(got.Diffs), "rootfs diffs CLI vs TUI")
	}
}

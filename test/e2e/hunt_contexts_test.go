package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/test/testenv"
)

// TestHuntTwoContexts: `hunt --context A --contexts B` over two kubeconfig contexts (two names
// for the real test cluster, in a copy of the test kubeconfig) plans and connects once per
// context, prints each context's plan and counts, asks once, and stores one hunt whose header
// lists both contexts: each context's results are there, tagged with it (the planted container
// is HIGH through both), and no Job, pod or archive is left.
func TestHuntTwoContexts(t *testing.T) {
	kc := testenv.Kubeconfig(t)
	testenvKubeconfig = kc
	img := analyzerImage(t)
	raw, err := clientcmd.LoadFromFile(kc)
	require.NoError(t, err)
	second := ctxAdmin + "-second"
	c := *raw.Contexts[ctxAdmin]
	raw.Contexts[second] = &c
	kc2 := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*raw, kc2))

	ns := namespace(t, "e2e-hunt-ctx")
	loop := `while true; do sleep 1; done`
	runPod(t, busyboxPod(ns, "planted-yara", realNode, `M=`+huntYaraMarker+`; `+loop, nil))
	runPod(t, busyboxPod(ns, "clean-a", realNode, loop, nil))
	rules := filepath.Join(t.TempDir(), "hunt.yar")
	require.NoError(t, os.WriteFile(rules, []byte(huntRule), 0o600))
	cli := newHuntCLI(t)
	cmd := exec.CommandContext(t.Context(), cli.exe, "hunt", "--kubeconfig", kc2, "--context", ctxAdmin, "--contexts", second,
		"-n", ns, "--image", img, "--rules", rules, "--yes", "-o", "json", "--start-timeout", "30s",
		"--collector-namespace", "podsleuth-system", "--collector-image", pinnedImage(t))
	cmd.Env = cli.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("stderr:\n%s", stderr.String())
	require.NoError(t, err)
	require.Contains(t, stderr.String(), "hunt plan (context "+ctxAdmin+", namespace "+ns+"): 2 containers on 1 nodes")
	require.Contains(t, stderr.String(), "hunt plan (context "+second+", namespace "+ns+"): 2 containers on 1 nodes")
	require.Contains(t, stderr.String(), "contexts: "+ctxAdmin+": 2 containers on 1 nodes, "+second+": 2 containers on 1 nodes")
	require.Contains(t, stderr.String(), second+": "+ns+"/planted-yara/", "progress lines say the context")

	var rep cluster.HuntReport
	require.NoError(t, json.Unmarshal(out, &rep), "%s", out)
	require.Len(t, rep.Outcomes, 4)
	sev := map[string]string{}
	for _, o := range rep.Outcomes {
		require.Empty(t, o.Error, "%s %s", o.Context, o.Target)
		sev[o.Context+" "+o.Target.Pod] = o.Severity()
	}
	require.Equal(t, "high", sev[ctxAdmin+" planted-yara"])
	require.Equal(t, "high", sev[second+" planted-yara"])
	require.NotEqual(t, "high", sev[ctxAdmin+" clean-a"])
	require.NotEqual(t, "high", sev[second+" clean-a"])

	st, err := evidence.OpenWith(cli.data, cli.keys)
	require.NoError(t, err)
	ids, err := st.Hunts()
	require.NoError(t, err)
	require.Equal(t, []string{rep.ID}, ids, "one hunt for both contexts")
	h, err := st.ReadHunt(rep.ID)
	require.NoError(t, err)
	require.NoError(t, h.Err)
	require.Equal(t, []string{ctxAdmin, second}, h.Header.Contexts)
	require.Equal(t, 4, h.Header.Targets)
	tagged := map[string]int{}
	for _, e := range h.Entries {
		if e.Kind != "result" {
			continue
		}
		var o cluster.HuntOutcome
		require.NoError(t, json.Unmarshal(e.Data, &o))
		tagged[o.Context]++
	}
	require.Equal(t, map[string]int{ctxAdmin: 2, second: 2}, tagged, "the signed entries say their context")
	nothingLeft(t, ns, rep.ID)
}

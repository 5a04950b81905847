package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/test/testenv"
)

// TestTUIHuntInTmux is `:hunt` in the real binary against the real cluster: a namespace with
// one planted pod (the YARA marker in its memory) and one clean pod; the plan asks for
// confirmation, the table fills in, the planted container's row shows the HIGH result with
// its rule hit (the rule ran on the node) and the clean one is clean; enter opens the
// planted container's result; q quits once the hunt ended, and no Job, pod or archive is left.
func TestTUIHuntInTmux(t *testing.T) {
	kc := testenv.Kubeconfig(t)
	testenvKubeconfig = kc
	img := analyzerImage(t)
	ns := namespace(t, "e2e-tui-hunt")
	loop := `while true; do sleep 1; done`
	runPod(t, busyboxPod(ns, "planted-yara", realNode, `M=`+huntYaraMarker+`; `+loop, nil))
	runPod(t, busyboxPod(ns, "clean-a", realNode, loop, nil))
	rules := filepath.Join(t.TempDir(), "hunt.yar")
	require.NoError(t, os.WriteFile(rules, []byte(huntRule), 0o644))
	dir := t.TempDir()
	tm := newTmux(t, []string{"KUBECONFIG=" + kc, "PODSLEUTH_CLUSTER_KUBELET_CHECKPOINT_DIR=" + checkpointDir(t),
		"PODSLEUTH_CLUSTER_COLLECTOR_NAMESPACE=podsleuth-system", "PODSLEUTH_CLUSTER_COLLECTOR_IMAGE=" + pinnedImage(t),
		"PODSLEUTH_SIGNING_KEY=" + filepath.Join(dir, "analyst.pem"), "PODSLEUTH_SIGNING_TRUSTED_KEYS=" + filepath.Join(dir, "trusted.json")},
		nil, 160, 40)
	tm.waitFor("ctx podsleuth-admin", 30*time.Second)
	tm.keys(":", "hunt -n "+ns+" --rules "+rules+" --image "+img, "Enter")
	screen := tm.waitFor("Hunt: checkpoint and analyse 2 containers on 1 nodes?", 30*time.Second)
	require.Contains(t, screen, "YARA: "+rules)
	tm.keys("y")
	screen = tm.waitFor("done: hunt ", 4*time.Minute)
	var planted, clean string
	for _, l := range strings.Split(screen, "\n") {
		switch {
		case strings.Contains(l, ns+"/planted-yara/"):
			planted = l
		case strings.Contains(l, ns+"/clean-a/"):
			clean = l
		}
	}
	t.Logf("screen:\n%s", screen)
	require.Regexp(t, `analysed\s+HIGH\s+\d+\s+[1-9]\d*\s`, planted, "the planted container: HIGH, with hits of the rule")
	require.Regexp(t, `analysed\s+(clean|INFO|LOW)\s`, clean)
	require.NotContains(t, clean, "HIGH")
	require.Contains(t, screen, "2/2 done")
	// the most severe first: the planted row is the first container row; open its result
	tm.keys("/", "planted", "Enter", "Enter")
	screen = tm.waitFor("yara hunt_e2e_marker", 10*time.Second)
	require.Contains(t, screen, "Findings (")
	tm.keys("q")
	tm.waitExit(20 * time.Second)
	nothingLeft(t, ns, "")
}

package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podsleuth/podsleuth/test/testenv"
)

// TestShellCompletionFromTheCluster runs the real binary's __complete (what the bash, zsh and
// fish scripts call) against the test cluster: namespaces for -n, pods for a POD argument (of
// -n's namespace, or NAMESPACE/POD), containers for -c, each within the 1 s bound.
func TestShellCompletionFromTheCluster(t *testing.T) {
	kc := testenv.Kubeconfig(t)
	bin := filepath.Join(t.TempDir(), "podsleuth")
	build := exec.Command("go", "build", "-o", bin, "./cmd/podsleuth")
	build.Dir = testenv.Root()
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))

	ns := namespace(t, "complete")
	cs := admin(t)
	for _, name := range []string{"web-1", "web-2", "db-0"} {
		// bound to the stand-in node: nothing has to run for a name to be listed
		_, err := cs.CoreV1().Pods(ns).Create(t.Context(), busyboxPod(ns, name, fakeNode, "sleep 1", nil), metav1.CreateOptions{})
		require.NoError(t, err)
	}

	complete := func(args ...string) []string {
		t.Helper()
		start := time.Now()
		cmd := exec.Command(bin, append([]string{"__complete", "--kubeconfig", kc, "--context", ctxAdmin}, args...)...)
		cmd.Env = append(cmd.Environ(), "PODSLEUTH_DATA_DIR="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
		out, err := cmd.Output()
		require.NoError(t, err)
		require.Less(t, time.Since(start), 1500*time.Millisecond)
		lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
		require.Equal(t, ":4", lines[len(lines)-1], "no file names besides")
		return lines[:len(lines)-1]
	}

	require.Contains(t, complete("logs", "-n", ""), ns)
	require.Contains(t, complete("checkpoint", "--collector-namespace", "complete-"), ns)
	require.Equal(t, []string{"db-0", "web-1", "web-2"}, complete("checkpoint", "-n", ns, ""))
	require.Equal(t, []string{ns + "/web-1", ns + "/web-2"}, complete("preflight", ns+"/w"))
	require.Equal(t, []string{ns + "/db-0", ns + "/web-1", ns + "/web-2"}, complete("hunt", "kube-system/web-1", ns+"/"), "hunt takes many")
	require.Equal(t, []string{"app"}, complete("logs", "-n", ns, "web-1", "-c", ""))
	require.Empty(t, complete("logs", "-n", ns, "web-1", ""), "logs takes one pod")
}

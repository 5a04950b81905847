package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/test/testenv"
)

// TestBrowserFollowsTheCluster: the informer-backed browser lists once, then follows creates,
// status changes and deletes without polling, and signals each through Changes.
func TestBrowserFollowsTheCluster(t *testing.T) {
	ns := namespace(t, "e2e-browse")
	runPod(t, busyboxPod(ns, "first", realNode, `while true; do sleep 1; done`, nil))
	c := connect(t, ctxAdmin, cluster.ConnectOptions{})
	b, err := cluster.NewBrowser(t.Context(), c.Client, cluster.BrowserOptions{SyncTimeout: 30 * time.Second})
	require.NoError(t, err)
	defer b.Stop()

	rows := b.Pods(ns)
	require.Len(t, rows, 1)
	require.Equal(t, "first", rows[0].Name)
	require.Equal(t, "Running", rows[0].Status)
	require.Equal(t, "1/1", rows[0].Ready)
	require.Equal(t, []string{"app"}, rows[0].Running)
	require.Contains(t, b.Namespaces(), ns)
	nodes := b.Nodes()
	require.True(t, slices.ContainsFunc(nodes, func(n cluster.NodeRow) bool {
		return n.Name == realNode && n.Ready == "True" && n.KubeletVersion == "v1.37.2"
	}), "%+v", nodes)

	drain := func() {
		for {
			select {
			case <-b.Changes():
			default:
				return
			}
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for !cond() {
			select {
			case <-b.Changes():
			case <-deadline:
				t.Fatalf("browser never showed: %s", what)
			}
		}
	}
	drain()
	_, err = admin(t).CoreV1().Pods(ns).Create(t.Context(), busyboxPod(ns, "second", realNode, `exit 3`, nil), metav1.CreateOptions{})
	require.NoError(t, err)
	waitFor("second created", func() bool { _, ok := b.Pod(ns, "second"); return ok })
	waitFor("second failed", func() bool { r, _ := b.Pod(ns, "second"); return r.Status == "Error" || r.Status == "CrashLoopBackOff" })
	require.NoError(t, admin(t).CoreV1().Pods(ns).Delete(t.Context(), "first", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}))
	waitFor("first deleted", func() bool { _, ok := b.Pod(ns, "first"); return !ok })
	require.Equal(t, []string{"second"}, names(b.Pods(ns)))

	// events of a pod, on demand
	evs, err := cluster.PodEvents(t.Context(), c.Client, ns, "second")
	require.NoError(t, err)
	reasons := map[string]bool{}
	for _, e := range evs {
		reasons[e.Reason] = true
	}
	require.True(t, reasons["Started"] || reasons["Created"] || reasons["Pulled"], "kubelet events of the pod: %+v", evs)
}

func names(rows []cluster.PodRow) []string {
	var n []string
	for _, r := range rows {
		n = append(n, r.Name)
	}
	return n
}

// TestBrowserWithoutClusterWideRights: a user without list on namespaces/nodes still browses
// the pods it may see; the browser says what is hidden.
func TestBrowserWithoutClusterWideRights(t *testing.T) {
	ns := namespace(t, "e2e-browse-rbac")
	runPod(t, busyboxPod(ns, "p", realNode, `while true; do sleep 1; done`, nil))
	c := connect(t, ctxNobody, cluster.ConnectOptions{})
	_, err := cluster.NewBrowser(t.Context(), c.Client, cluster.BrowserOptions{Namespace: ns, SyncTimeout: 2 * time.Second})
	require.ErrorIs(t, err, cluster.ErrSyncTimeout, "no list on pods: the bounded sync says so")
	require.Contains(t, err.Error(), "pods in namespace "+ns)
}

// TestKubectlPlugin runs the binary as kubectl-podsleuth (kubectl finds plugins by that name).
func TestKubectlPlugin(t *testing.T) {
	kc := testenv.Kubeconfig(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "podsleuth")
	build := exec.Command("go", "build", "-o", bin, "./cmd/podsleuth")
	build.Dir = testenv.Root()
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	plugin := filepath.Join(dir, "kubectl-podsleuth")
	require.NoError(t, os.Symlink("podsleuth", plugin))

	help, err := exec.Command(plugin, "--help").CombinedOutput()
	require.NoError(t, err, string(help))
	require.Contains(t, string(help), "kubectl podsleuth [flags]")

	ctxs, err := exec.Command(plugin, "contexts", "--kubeconfig", kc).CombinedOutput()
	require.NoError(t, err, string(ctxs))
	require.Regexp(t, `\*\s+podsleuth-admin\s+podsleuth-test\s+https://127\.0\.0\.1:`, string(ctxs))

	ns := namespace(t, "e2e-plugin")
	runPod(t, busyboxPod(ns, "victim", realNode, `while true; do sleep 1; done`, nil))
	pre, err := exec.Command(plugin, "preflight", ns+"/victim", "--kubeconfig", kc, "--context", ctxResp).CombinedOutput()
	require.NoError(t, err, string(pre))
	require.Contains(t, string(pre), "[ok]  RBAC create nodes/proxy")

	data := t.TempDir()
	ck := exec.Command(plugin, "checkpoint", ns+"/victim", "--pull", "--kubeconfig", kc, "--data-dir", data,
		"--collector-image", pinnedImage(t), "-o", "json")
	var stderr strings.Builder
	ck.Stderr = &stderr
	got, err := ck.Output()
	require.NoError(t, err, "checkpoint --pull: %s", stderr.String())
	require.Contains(t, string(got), `"local_sha256"`)
	require.Contains(t, string(got), `"node": "`+realNode+`"`)

	// the pulled evidence verifies, and a flipped byte makes `evidence verify` fail loudly
	ok, err := exec.Command(plugin, "evidence", "verify", "--data-dir", data).CombinedOutput()
	require.NoError(t, err, string(ok))
	archives, err := filepath.Glob(filepath.Join(data, "evidence", "*", "checkpoint-victim_*.tar"))
	require.NoError(t, err)
	require.Len(t, archives, 1)
	require.NoError(t, os.Chmod(archives[0], 0o600))
	b, err := os.ReadFile(archives[0])
	require.NoError(t, err)
	b[len(b)/3] ^= 0x80
	require.NoError(t, os.WriteFile(archives[0], b, 0o400))
	vcmd := exec.Command(plugin, "evidence", "verify", "--data-dir", data)
	vout, err := vcmd.CombinedOutput()
	require.Error(t, err)
	require.Equal(t, 2, vcmd.ProcessState.ExitCode(), string(vout))

	ro, err := exec.Command(plugin, "checkpoint", ns+"/victim", "--readonly", "--kubeconfig", kc).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(ro), "refused in read-only mode")

	bad, err := exec.Command(plugin, "checkpoint", ns+"/victim", "--kubeconfig", kc, "--server", "https://127.0.0.1:1").CombinedOutput()
	require.Error(t, err)
	require.True(t, strings.Contains(string(bad), "cluster unreachable"), string(bad))
}

// TestCtrlCDeletesTheCollector interrupts `podsleuth checkpoint --pull` (SIGINT, as Ctrl-C
// does) while its collector pod exists: the command fails and leaves no collector behind.
func TestCtrlCDeletesTheCollector(t *testing.T) {
	kc := testenv.Kubeconfig(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "podsleuth")
	build := exec.Command("go", "build", "-o", bin, "./cmd/podsleuth")
	build.Dir = testenv.Root()
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))

	ns := namespace(t, "e2e-ctrlc")
	collectorNS := namespace(t, "e2e-ctrlc-collect")
	p := busyboxPod(ns, "big", realNode,
		`x=$(head -c 60000000 /dev/urandom | base64 -w0 | head -c 60000000); touch /tmp/ready; while true; do sleep 1; done`, nil)
	p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
		Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/tmp/ready"}}}}
	runPod(t, p)

	cmd := exec.Command(bin, "checkpoint", ns+"/big", "--pull", "--kubeconfig", kc, "--data-dir", t.TempDir(),
		"--collector-image", testImage, "--collector-namespace", collectorNS)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	cs := admin(t)
	seen := false
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !seen; time.Sleep(20 * time.Millisecond) {
		l, err := cs.CoreV1().Pods(collectorNS).List(t.Context(), metav1.ListOptions{LabelSelector: cluster.LabelManagedBy + "=" + cluster.ManagedBy})
		require.NoError(t, err)
		seen = len(l.Items) > 0
	}
	require.True(t, seen, "the collector pod appeared")
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	err = cmd.Wait()
	require.Error(t, err, "interrupted: %s", stderr.String())
	require.Contains(t, stderr.String(), "context canceled")
	noCollectors(t, collectorNS)
}

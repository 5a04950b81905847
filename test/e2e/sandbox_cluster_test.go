package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/sandbox"
	"github.com/podsleuth/podsleuth/test/testenv"
)

// TestSandboxClusterRestore checkpoints a running pod through the real kubelet, pulls it into
// the evidence store, restores it with `podsleuth restore --cluster --allow-node-helper` into
// a quarantine namespace, checks the copy (env marker, counter resumed, listener), proves a
// pod in another namespace cannot reach it and it cannot reach out, and destroys it.
func TestSandboxClusterRestore(t *testing.T) {
	testenv.RequireRoot(t)
	kc := testenv.Kubeconfig(t)
	criu := testenv.CRIU(t)
	k8s := testenv.K8sBin(t)
	cs := admin(t)
	ns := namespace(t, "e2e-sbx")
	victim := runPod(t, busyboxPod(ns, "victim", realNode,
		`busybox nc -ll -p 8080 -e echo hi & i=0; while true; do i=$((i+1)); echo $i > /tmp/counter; sleep 1; done`,
		nil, corev1.EnvVar{Name: "SANDBOX_MARKER", Value: "marker-sbx-5e7a"}))
	time.Sleep(3 * time.Second) // let the counter count

	c := connect(t, ctxAdmin, cluster.ConnectOptions{})
	res, err := c.Checkpoint(t.Context(), cluster.Target{Namespace: ns, Pod: victim.Name, Container: "app"}, time.Minute)
	require.NoError(t, err)
	tmp := t.TempDir()
	st, err := evidence.Open(filepath.Join(tmp, "data"))
	require.NoError(t, err)
	item, err := c.Pull(t.Context(), res, cluster.PullOptions{Namespace: "e2e-sbx-collect-" + randSuffix(), Image: testImage, Store: st,
		Manifest: evidence.Manifest{CaseID: "IR-7", ToolVersion: "podsleuth e2e"}})
	require.NoError(t, err)

	exe := filepath.Join(tmp, "podsleuth")
	build := exec.Command("go", "build", "-o", exe, "./cmd/podsleuth")
	build.Dir = testenv.Root()
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	// the test image's root filesystem: busybox and its applets (cluster.sh make_images)
	rootfs := testenv.BusyboxRootfs(t, filepath.Join(k8s, "busybox"))
	nodeDir := filepath.Join(tmp, "node")
	env := append(os.Environ(), "PODSLEUTH_DATA_DIR="+filepath.Join(tmp, "data"), "PODSLEUTH_CACHE_DIR="+filepath.Join(tmp, "cache"),
		"PODSLEUTH_SANDBOX_HELPER_IMAGE="+pinnedImage(t), "PODSLEUTH_SANDBOX_NODE_CRIU="+criu,
		"PODSLEUTH_SANDBOX_NODE_RUNTIME="+filepath.Join(k8s, "runc"), "PODSLEUTH_SANDBOX_NODE_DIR="+nodeDir)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(exe, append(args, "--kubeconfig", kc, "--context", ctxAdmin)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	t.Run("refused without the node helper", func(t *testing.T) {
		out, err := run("restore", item.ID, "--cluster", "--node", realNode, "--rootfs", rootfs)
		require.Error(t, err)
		require.Contains(t, out, "--allow-node-helper")
	})

	rout, err := run("restore", item.ID, "--cluster", "--node", realNode, "--allow-node-helper", "--rootfs", rootfs, "--run", "-o", "json")
	require.NoError(t, err, "%s", rout)
	var info sandbox.Info
	require.NoError(t, json.Unmarshal([]byte(rout), &info), rout)
	t.Cleanup(func() { _, _ = run("sandbox", "destroy", info.ID) })
	t.Logf("restored in %.2f s; isolation: %v", info.RestoreSeconds, info.Isolation)

	qns, err := cs.CoreV1().Namespaces().Get(t.Context(), info.Namespace, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "IR-7", qns.Labels["podsleuth.io/case"])
	require.Equal(t, item.Manifest.LocalSHA256, qns.Annotations["podsleuth.io/evidence-sha256"])
	require.Equal(t, "restricted", qns.Labels["pod-security.kubernetes.io/enforce"])
	np, err := cs.NetworkingV1().NetworkPolicies(info.Namespace).Get(t.Context(), "default-deny-all", metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, np.Spec.PolicyTypes, 2)
	ph, err := cs.CoreV1().Pods(info.Namespace).Get(t.Context(), "placeholder", metav1.GetOptions{})
	require.NoError(t, err)
	require.False(t, *ph.Spec.AutomountServiceAccountToken)

	t.Run("the copy: env marker, counter resumed, listener", func(t *testing.T) {
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", info.RootPID)) // the node is this machine
		require.NoError(t, err)
		require.Contains(t, string(environ), "SANDBOX_MARKER=marker-sbx-5e7a")
		readCounter := func() int { // again when it meets the copy rewriting the file (`echo > f` truncates first)
			for range 50 {
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/tmp/counter", info.RootPID))
				require.NoError(t, err)
				if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					return n
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Fatal("/tmp/counter of the copy never held a number")
			return 0
		}
		first := readCounter()
		require.GreaterOrEqual(t, first, 3, "resumed from the checkpointed count, not from 0")
		require.Eventually(t, func() bool { return readCounter() > first }, 5*time.Second, 200*time.Millisecond, "counting on")
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", info.RootPID))
		b6, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp6", info.RootPID))
		require.Regexp(t, `:1F90 [0-9A-F:]+ 0A`, string(b)+string(b6), "listener on 8080")
		require.Contains(t, strings.Join(info.Isolation, "\n"), "blocked")
	})
	t.Run("ps and signals through the node helper", func(t *testing.T) {
		ps := mustRun(t, run, "sandbox", "ps", info.ID)
		require.Contains(t, ps, "nc -ll -p 8080")
		mustRun(t, run, "sandbox", "kill", info.ID, "--signal", "STOP")
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", info.RootPID))
		require.NoError(t, err)
		require.Contains(t, string(st), "State:\tT")
		mustRun(t, run, "sandbox", "resume", info.ID)
	})
	t.Run("enter through the node helper", func(t *testing.T) {
		calls := 0
		enter := func(argv ...string) (string, error) { // the cluster flags before the command's "--"
			calls++
			cmd := exec.Command(exe, append([]string{"sandbox", "enter", info.ID, "--kubeconfig", kc, "--context", ctxAdmin, "--"}, argv...)...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		// the copy's own /tmp/counter (read again when it meets the copy rewriting it: `echo > f`
		// truncates before it writes)
		var n int
		require.Eventually(t, func() bool {
			out, err := enter("/bin/busybox", "cat", "/tmp/counter")
			if err != nil {
				return false
			}
			n, err = strconv.Atoi(strings.TrimSpace(out))
			return err == nil
		}, 20*time.Second, 300*time.Millisecond)
		require.GreaterOrEqual(t, n, 3, "counting on from the checkpointed count")
		out := mustRun(t, enter, "/bin/busybox", "sh", "-c", "tr '\\0' '\\n' < /proc/1/environ")
		require.Contains(t, out, "SANDBOX_MARKER=marker-sbx-5e7a", "the copy's PID 1")
		out, err = enter("/bin/busybox", "sh", "-c", "echo to-stderr >&2; exit 3")
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, out)
		require.Equal(t, 3, ee.ExitCode(), "the command's exit status comes back")
		require.Contains(t, out, "to-stderr")
		evs, err := st.Custody(item.ID)
		require.NoError(t, err)
		entered := 0
		for _, e := range evs {
			if e.Details["sandbox_action"] == "entered" && e.Details["node"] == realNode {
				entered++
			}
		}
		require.Equal(t, calls, entered, "each entry is in the evidence's custody log")

		// interactively, from a real terminal: a shell with a terminal of the caller's size
		tm := newTmux(t, []string{"PODSLEUTH_DATA_DIR=" + filepath.Join(tmp, "data"), "PODSLEUTH_CACHE_DIR=" + filepath.Join(tmp, "cache")},
			[]string{"sandbox", "enter", info.ID, "--kubeconfig", kc, "--context", ctxAdmin}, 100, 30)
		tm.waitFor("/ #", 30*time.Second)
		tm.keys("echo in-sandbox-$((6*7)); [ -t 0 ] && [ -t 1 ] && echo a-terminal; stty size", "Enter")
		tm.waitFor("in-sandbox-42", 10*time.Second)
		screen := tm.waitFor("30 100", 10*time.Second) // the caller's size (tmux: 100 x 30)
		require.Contains(t, screen, "\na-terminal\n", "stdin and stdout are a terminal inside the sandbox")
		tm.keys("exit", "Enter")
		tm.waitExit(20 * time.Second)
	})
	t.Run("unreachable from another namespace, cannot reach out", func(t *testing.T) {
		probe := runPod(t, busyboxPod(ns, "probe", realNode, "sleep 3600", nil))
		out, err := podExec(t, ns, probe.Name, "sh", "-c", "nc -w 2 "+ph.Status.PodIP+" 8080 </dev/null && echo CONNECTED || echo BLOCKED")
		require.NoError(t, err)
		require.Contains(t, out, "BLOCKED")
		// the original still answers the same probe (so the probe works)
		out, err = podExec(t, ns, probe.Name, "sh", "-c", "nc -w 2 "+victim.Status.PodIP+" 8080 </dev/null")
		require.NoError(t, err)
		require.Contains(t, out, "hi")
		// outward from the copy's network namespace
		o, _ := exec.Command("nsenter", "-t", strconv.Itoa(info.RootPID), "-n", "--", filepath.Join(k8s, "busybox"), "nc", "-w", "2", victim.Status.PodIP, "8080").CombinedOutput()
		require.NotContains(t, string(o), "hi")
	})

	var nodeState struct {
		NodeSandboxID string `json:"node_sandbox_id"`
	}
	b, err := os.ReadFile(filepath.Join(info.Dir, "cluster.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &nodeState))
	require.NotEmpty(t, nodeState.NodeSandboxID)
	dout, err := run("sandbox", "destroy", info.ID)
	require.NoError(t, err, "%s", dout)
	require.Eventually(t, func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", info.RootPID))
		return err != nil
	}, 10*time.Second, 100*time.Millisecond, "restored container gone")
	for _, n := range []string{info.Namespace, "podsleuth-helper-" + info.ID} {
		pods, err := cs.CoreV1().Pods(n).List(t.Context(), metav1.ListOptions{})
		require.NoError(t, err)
		require.Empty(t, pods.Items, n)
		got, err := cs.CoreV1().Namespaces().Get(t.Context(), n, metav1.GetOptions{})
		// without a controller-manager a deleted namespace stays Terminating
		require.True(t, apierrors.IsNotFound(err) || got.DeletionTimestamp != nil, "namespace %s deleted", n)
	}
	left, _ := filepath.Glob("/sys/fs/cgroup/*/podsleuth-sandbox/" + nodeState.NodeSandboxID)
	require.Empty(t, left, "the restored container's cgroups removed")
	ents, _ := os.ReadDir(nodeDir)
	require.Empty(t, ents, "node files removed")
	require.NotContains(t, mustRun(t, run, "sandbox", "list"), info.ID)
}

func mustRun(t *testing.T, run func(...string) (string, error), args ...string) string {
	out, err := run(args...)
	require.NoError(t, err, "%s", out)
	return out
}

// podExec runs a command in a pod with the test cluster's kubectl.
func podExec(t *testing.T, ns, pod string, argv ...string) (string, error) {
	t.Helper()
	kubectl := filepath.Join(testenv.K8sBin(t), "kubectl")
	args := append([]string{"--kubeconfig", testenv.Kubeconfig(t), "--context", ctxAdmin, "-n", ns, "exec", pod, "--"}, argv...)
	out, err := exec.Command(kubectl, args...).CombinedOutput()
	return string(out), err
}

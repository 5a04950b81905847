package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/test/testenv"
)

// The strings planted in the hunted pods (and nowhere else): a YARA rule given to the hunt, a
// memsearch pattern, a miner's pool.
const (
	huntYaraMarker = "PODSLEUTH-HUNT-YARA-7e1f"
	huntC2         = "c2-beacon.evil-hunt.example"
	huntRule       = `rule hunt_e2e_marker { meta: severity = "high" description = "planted by the hunt e2e"
  strings: $m = "PODSLEUTH-HUNT-YARA-7e1f" condition: $m }`
)

// huntCLI is the podsleuth binary of this test run with an evidence store and analyst key of
// the test.
type huntCLI struct {
	exe, data string
	keys      evidence.Options
	env       []string
}

var (
	huntExeOnce sync.Once
	huntExe     string
	huntExeErr  error
)

func newHuntCLI(t *testing.T) *huntCLI {
	t.Helper()
	huntExeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "podsleuth-hunt-cli-")
		if err != nil {
			huntExeErr = err
			return
		}
		huntExe = filepath.Join(dir, "podsleuth")
		build := exec.Command("go", "build", "-tags", "yara", "-o", huntExe, "./cmd/podsleuth")
		build.Dir = testenv.Root()
		if out, err := build.CombinedOutput(); err != nil {
			huntExeErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	require.NoError(t, huntExeErr)
	tmp := t.TempDir()
	h := &huntCLI{exe: huntExe, data: filepath.Join(tmp, "data"),
		keys: evidence.Options{KeyFile: filepath.Join(tmp, "analyst.pem"), TrustFile: filepath.Join(tmp, "trusted-keys.json")}}
	h.env = append(os.Environ(), "PODSLEUTH_DATA_DIR="+h.data, "PODSLEUTH_CACHE_DIR="+filepath.Join(tmp, "cache"),
		"PODSLEUTH_SIGNING_KEY="+h.keys.KeyFile, "PODSLEUTH_SIGNING_TRUSTED_KEYS="+h.keys.TrustFile,
		"PODSLEUTH_CLUSTER_KUBELET_CHECKPOINT_DIR="+checkpointDir(t), "XDG_CONFIG_HOME="+filepath.Join(tmp, "config"))
	return h
}

func (h *huntCLI) cmd(ctx context.Context, kubeContext string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, h.exe, append([]string{"hunt", "--kubeconfig", testenvKubeconfig, "--context", kubeContext}, args...)...)
	c.Env = h.env
	return c
}

var testenvKubeconfig string

// archivesOf lists the archives of namespace ns's pods in the checkpoint directory.
func archivesOf(t *testing.T, ns string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(checkpointDir(t), "checkpoint-*_"+ns+"-*"))
	require.NoError(t, err)
	return m
}

// nothingLeft asserts that the hunt left no Job, no pod and no archive of ns behind.
func nothingLeft(t *testing.T, ns, huntID string) {
	t.Helper()
	cs := admin(t)
	sel := metav1.ListOptions{LabelSelector: cluster.LabelManagedBy + "=" + cluster.ManagedBy}
	if huntID != "" {
		sel.LabelSelector = cluster.LabelHunt + "=" + huntID
	}
	jobs, err := cs.BatchV1().Jobs("podsleuth-system").List(t.Context(), sel)
	require.NoError(t, err)
	require.Empty(t, jobs.Items, "analyzer Jobs left behind")
	noCollectors(t, "podsleuth-system")
	require.Empty(t, archivesOf(t, ns), "archives left on the node")
}

type huntPods struct {
	ns      string
	planted map[string]bool // pod -> pulled on a match
	clean   []string
}

// huntWorkload runs the hunted pods: planted ones (a YARA marker in memory, a C2 host for the
// memsearch pattern, a miner's stratum URL) and clean ones, all on the real node.
func huntWorkload(t *testing.T, nClean int) huntPods {
	t.Helper()
	ns := namespace(t, "e2e-hunt")
	hp := huntPods{ns: ns, planted: map[string]bool{}}
	lbl := map[string]string{"app": "shop"}
	loop := `while true; do sleep 1; done`
	runPod(t, busyboxPod(ns, "planted-yara", realNode, `M=`+huntYaraMarker+`; `+loop, lbl))
	runPod(t, busyboxPod(ns, "planted-c2", realNode, `H=`+huntC2+`; `+loop, lbl))
	runPod(t, busyboxPod(ns, "planted-miner", realNode, loop, lbl,
		corev1.EnvVar{Name: "POOL", Value: "stratum+tcp://pool.minexmr-hunt.example:4444"},
		corev1.EnvVar{Name: "WALLET", Value: "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"}))
	for _, p := range []string{"planted-yara", "planted-c2", "planted-miner"} {
		hp.planted[p] = true
	}
	for i := range nClean {
		name := "clean-" + string(rune('a'+i))
		runPod(t, busyboxPod(ns, name, realNode, loop, lbl, corev1.EnvVar{Name: "MODE", Value: "production"}))
		hp.clean = append(hp.clean, name)
	}
	return hp
}

// TestHunt: a hunt over 11 containers on the real cluster — 3 planted, 6 clean, one the real
// kubelet cannot checkpoint (an established TCP connection), one on the stand-in node where no
// analyzer can run — through the CLI: exactly the planted ones match and are pulled (with their
// custody, the hash the node's analyzer read), the YARA rule given to the hunt hit on the node,
// the two failures are named, every result is signed on receipt, and no Job, pod or archive is
// left.
func TestHunt(t *testing.T) {
	testenvKubeconfig = testenv.Kubeconfig(t)
	img := analyzerImage(t)
	hp := huntWorkload(t, 6)
	ns := hp.ns
	tcp := busyboxPod(ns, "refused-tcp", realNode,
		`(while true; do sleep 5; done | nc -l -p 9090 >/dev/null) & sleep 1; (while true; do echo beat; sleep 2; done | nc 127.0.0.1 9090) & while true; do sleep 1; done`, map[string]string{"app": "shop"})
	tcp.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
		Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "netstat -tn | grep -q ESTABLISHED"}}}}
	runPod(t, tcp)
	standInPod(t, ns, "standin-shop", fakeNode)
	// the stand-in pod carries no label: select it by name with the rest
	cli := newHuntCLI(t)
	rules := filepath.Join(t.TempDir(), "hunt.yar")
	require.NoError(t, os.WriteFile(rules, []byte(huntRule), 0o600))

	var targets []string
	for _, p := range append([]string{"planted-yara", "planted-c2", "planted-miner", "refused-tcp", "standin-shop"}, hp.clean...) {
		targets = append(targets, ns+"/"+p)
	}
	c := cli.cmd(t.Context(), ctxAdmin, append(targets, "--image", img, "--rules", rules, "--pattern", huntC2,
		"--pull-on-match", "high", "--yes", "-o", "json", "--start-timeout", "20s", "--timeout-per-archive", "2m",
		"--collector-namespace", "podsleuth-system", "--collector-image", pinnedImage(t), "--concurrency", "4")...)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	start := time.Now()
	out, err := c.Output()
	t.Logf("hunt took %s; stderr:\n%s", time.Since(start), stderr.String())
	require.NoError(t, err, "a hunt with named failures still succeeds")
	var rep cluster.HuntReport
	require.NoError(t, json.Unmarshal(out, &rep), "%s", out)
	require.Len(t, rep.Outcomes, 11)
	require.Contains(t, stderr.String(), "hunt plan (context "+ctxAdmin)
	require.Contains(t, stderr.String(), "11 containers on 2 nodes")

	st, err := evidence.OpenWith(cli.data, cli.keys)
	require.NoError(t, err)
	by := map[string]cluster.HuntOutcome{}
	for _, o := range rep.Outcomes {
		by[o.Target.Pod] = o
	}
	var matched []string
	for pod, o := range by {
		switch {
		case hp.planted[pod]:
			require.Empty(t, o.Error, pod)
			require.True(t, o.Matched, "%s: %+v", pod, o.Result)
			require.NotEmpty(t, o.Evidence, pod)
			item, err := st.Get(o.Evidence)
			require.NoError(t, err)
			require.Equal(t, o.Result.SHA256, item.Manifest.LocalSHA256, "the pulled archive is the one analysed on the node")
			require.Equal(t, pod, item.Manifest.Pod)
			evs, err := st.Custody(item.ID)
			require.NoError(t, err)
			require.Equal(t, "hunt-match", evs[len(evs)-1].Action)
			require.Equal(t, rep.ID, evs[len(evs)-1].Details["hunt"])
			matched = append(matched, pod)
		case pod == "refused-tcp":
			require.Equal(t, "checkpoint: "+cluster.ErrRuntime.Error(), o.Class, o.Error)
			require.Contains(t, o.Error, "criu failed")
		case pod == "standin-shop":
			require.Equal(t, "analyzer", o.Class, o.Error)
			require.Equal(t, fakeNode, o.Node)
			require.Contains(t, o.Error, "not running after 20s")
		default:
			require.Empty(t, o.Error, pod)
			require.False(t, o.Matched, "%s is clean: %+v", pod, o.Result)
			require.Empty(t, o.Evidence)
			require.Len(t, o.Result.SHA256, 64)
			require.Positive(t, o.Result.Size)
			require.Positive(t, o.Result.PeakRSS)
			require.False(t, o.OnNode)
		}
	}
	sort.Strings(matched)
	require.Equal(t, []string{"planted-c2", "planted-miner", "planted-yara"}, matched)

	// what each planted pod was found by
	yaraHits := func(o cluster.HuntOutcome) []string {
		var r []string
		for _, y := range o.Result.Yara {
			r = append(r, y.Rule)
		}
		return r
	}
	require.Equal(t, []string{"hunt_e2e_marker"}, yaraHits(by["planted-yara"]), "YARA ran on the node")
	for _, p := range hp.clean {
		require.Empty(t, yaraHits(by[p]))
		require.Zero(t, by[p].Result.Patterns[0].Hits)
	}
	require.Positive(t, by["planted-c2"].Result.Patterns[0].Hits)
	var minerRules []string
	for _, f := range by["planted-miner"].Result.Findings {
		minerRules = append(minerRules, f.Rule)
	}
	require.Contains(t, strings.Join(minerRules, " "), "mining")

	items, err := st.List()
	require.NoError(t, err)
	require.Len(t, items, 3, "only the matches were pulled")

	h, err := st.ReadHunt(rep.ID)
	require.NoError(t, err)
	require.NoError(t, h.Err)
	require.Contains(t, h.Signature, "signed by")
	require.Len(t, h.Entries, 12, "11 outcomes and the end")
	require.Equal(t, 11, h.Header.Targets)
	require.Equal(t, img, h.Header.Image)
	nothingLeft(t, ns, rep.ID)
}

// TestHuntCtrlC: SIGINT in the middle of a hunt stops it; every Job, pod and archive it created
// is deleted and the results so far are kept, signed.
func TestHuntCtrlC(t *testing.T) {
	testenvKubeconfig = testenv.Kubeconfig(t)
	img := analyzerImage(t)
	hp := huntWorkload(t, 5)
	cli := newHuntCLI(t)
	c := cli.cmd(context.Background(), ctxAdmin, "-n", hp.ns, "-l", "app=shop", "--image", img, "--yes", "--start-timeout", "30s",
		"--collector-namespace", "podsleuth-system", "--collector-image", pinnedImage(t))
	stderr, err := c.StderrPipe()
	require.NoError(t, err)
	var out bytes.Buffer
	c.Stdout = &out
	require.NoError(t, c.Start())
	sc := bufio.NewScanner(stderr)
	var log []string
	sent := false
	for sc.Scan() {
		log = append(log, sc.Text())
		if !sent && strings.HasPrefix(sc.Text(), "[2/8]") {
			require.NoError(t, c.Process.Signal(syscall.SIGINT))
			sent = true
		}
	}
	err = c.Wait()
	t.Logf("stderr:\n%s\nstdout:\n%s", strings.Join(log, "\n"), out.String())
	require.True(t, sent, "the hunt reached its second result")
	require.Error(t, err, "an interrupted hunt exits non-zero")
	require.Contains(t, strings.Join(log, "\n"), "hunt interrupted")
	require.Contains(t, out.String(), "interrupted")
	st, err := evidence.OpenWith(cli.data, cli.keys)
	require.NoError(t, err)
	ids, err := st.Hunts()
	require.NoError(t, err)
	require.Len(t, ids, 1)
	h, err := st.ReadHunt(ids[0])
	require.NoError(t, err)
	require.NoError(t, h.Err)
	require.Len(t, h.Entries, 9, "8 outcomes (the ones not run say so) and the end")
	results := 0
	for _, e := range h.Entries {
		if e.Kind == "result" {
			results++
		}
	}
	require.GreaterOrEqual(t, results, 2, "the results before Ctrl-C are kept")
	require.Less(t, results, 8, "the hunt stopped")
	nothingLeft(t, hp.ns, ids[0])
}

// TestHuntReadonly: --readonly refuses a hunt before anything is sent, and so does the library.
func TestHuntReadonly(t *testing.T) {
	testenvKubeconfig = testenv.Kubeconfig(t)
	ns := namespace(t, "e2e-hunt-ro")
	runPod(t, busyboxPod(ns, "victim", realNode, `while true; do sleep 1; done`, nil))
	cli := newHuntCLI(t)
	out, err := cli.cmd(t.Context(), ctxAdmin, "-n", ns, "--image", "x@sha256:"+strings.Repeat("0", 64), "--yes", "--readonly").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "refused in read-only mode")
	require.NotContains(t, string(out), "hunt plan")

	c := connect(t, ctxAdmin, cluster.ConnectOptions{Readonly: true})
	plan, err := c.PlanHunt(t.Context(), cluster.HuntSelection{Namespaces: []string{ns}})
	require.NoError(t, err, "planning only reads")
	_, err = cluster.Hunt(t.Context(), c, cluster.HuntConfig{Plan: plan})
	require.ErrorIs(t, err, cluster.ErrReadonly)
	require.Empty(t, archivesOf(t, ns))
}

// TestHuntRBACWithoutJobs: a user who may checkpoint but not run Jobs is told so before any
// container is frozen.
func TestHuntRBACWithoutJobs(t *testing.T) {
	ns := namespace(t, "e2e-hunt-rbac")
	runPod(t, busyboxPod(ns, "victim", realNode, `while true; do sleep 1; done`, nil))
	cs := admin(t)
	crb := "e2e-hunt-nobody-" + randSuffix()
	_, err := cs.RbacV1().ClusterRoleBindings().Create(t.Context(), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: crb},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "podsleuth-responder"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "nobody"}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), crb, metav1.DeleteOptions{})
	})
	c := connect(t, ctxNobody, cluster.ConnectOptions{})
	var plan *cluster.HuntPlan
	require.Eventually(t, func() bool {
		plan, err = c.PlanHunt(t.Context(), cluster.HuntSelection{Namespaces: []string{ns}})
		return err == nil
	}, 10*time.Second, 100*time.Millisecond)
	hc := cluster.HuntConfig{Plan: plan, Image: "x@sha256:" + strings.Repeat("0", 64), Namespace: "podsleuth-system",
		CollectorImage: pinnedImage(t), CheckpointDir: checkpointDir(t), DataDir: t.TempDir()}
	hc.CPU, hc.Memory = resource.MustParse("1"), resource.MustParse("256Mi")
	_, err = cluster.Hunt(t.Context(), c, hc)
	require.ErrorIs(t, err, cluster.ErrForbidden)
	require.Contains(t, err.Error(), "missing create jobs.batch in namespace podsleuth-system")
	require.Contains(t, err.Error(), "nothing was changed")
	require.Empty(t, archivesOf(t, ns), "no container was checkpointed")
}

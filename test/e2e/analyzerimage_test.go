package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/podsleuth/podsleuth/cluster/huntimage"
	"github.com/podsleuth/podsleuth/test/testenv"
)

var analyzer struct {
	once sync.Once
	dir  string // make analyzer-image's output: podsleuth-analyzer, analyzer-image.tar, .ref
	ref  string
	out  string
	err  error
}

// TestMain removes what analyzerImage built (the image stays in the cluster's containerd).
func TestMain(m *testing.M) {
	code := m.Run()
	if analyzer.dir != "" {
		os.RemoveAll(analyzer.dir)
	}
	os.Exit(code)
}

// analyzerImage builds the hunt's analyzer image once per test binary (make analyzer-image into
// a temporary directory: the static YARA binary, the OCI archive), imports it into the test
// cluster's containerd (cluster.sh import-image) and returns the pinned reference
// podsleuth.local/podsleuth-analyzer@sha256:... (pods use it with imagePullPolicy Never or
// IfNotPresent: nothing is pulled). The caller holds the cluster lock, as every e2e run does.
func analyzerImage(t *testing.T) string {
	t.Helper()
	testenv.Kubeconfig(t)
	analyzer.once.Do(func() {
		analyzer.dir, analyzer.err = os.MkdirTemp("", "podsleuth-analyzer-")
		if analyzer.err != nil {
			return
		}
		root := testenv.Root()
		mk := exec.Command("make", "--no-print-directory", "analyzer-image", "ANALYZER_DIR="+analyzer.dir)
		mk.Dir = root
		out, err := mk.CombinedOutput()
		if err != nil {
			analyzer.out, analyzer.err = string(out), err
			return
		}
		imp := exec.Command(filepath.Join(root, "test/e2e/cluster.sh"), "import-image", filepath.Join(analyzer.dir, "analyzer-image.tar"))
		out, err = imp.Output()
		analyzer.ref, analyzer.err = strings.TrimSpace(string(out)), err
		if ee, ok := err.(*exec.ExitError); ok {
			analyzer.out = string(ee.Stderr)
		}
	})
	require.NoError(t, analyzer.err, "analyzer image: %s", analyzer.out)
	require.Contains(t, analyzer.ref, huntimage.DefaultRepository+"@sha256:")
	return analyzer.ref
}

// TestAnalyzerImageOnCluster runs the analyzer image for real: a pod pinned to the image's
// digest, never pulled, as the image's non-root user, with a read-only root filesystem, no
// service account token, every capability dropped, runs `podsleuth version` and the self-test
// (libyara compiles the default rules and scans) to completion; the kubelet reports the very
// digest make analyzer-image printed; importing again changes nothing.
func TestAnalyzerImageOnCluster(t *testing.T) {
	ref := analyzerImage(t)
	want, err := os.ReadFile(filepath.Join(analyzer.dir, "analyzer-image.ref"))
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(want)), ref)
	again, err := exec.Command(filepath.Join(testenv.Root(), "test/e2e/cluster.sh"), "import-image", filepath.Join(analyzer.dir, "analyzer-image.tar")).Output()
	require.NoError(t, err)
	require.Equal(t, ref, strings.TrimSpace(string(again)))
	version, err := exec.Command(filepath.Join(analyzer.dir, "podsleuth-analyzer"), "version").Output()
	require.NoError(t, err)

	ns := namespace(t, "analyzer")
	sc := &corev1.SecurityContext{
		RunAsNonRoot: ptr.To(true), ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	ctr := func(n string, args ...string) corev1.Container {
		return corev1.Container{Name: n, Image: ref, ImagePullPolicy: corev1.PullNever, Args: args, SecurityContext: sc}
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "analyzer", Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName: realNode, RestartPolicy: corev1.RestartPolicyNever, TerminationGracePeriodSeconds: ptr.To[int64](0),
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext:              &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers:                   []corev1.Container{ctr("version", "version"), ctr("selftest", "hunt", "image", "selftest", "-o", "json")},
		},
	}
	cs := admin(t)
	_, err = cs.CoreV1().Pods(ns).Create(t.Context(), p, metav1.CreateOptions{})
	require.NoError(t, err)
	var got *corev1.Pod
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		got, err = cs.CoreV1().Pods(ns).Get(t.Context(), p.Name, metav1.GetOptions{})
		require.NoError(t, err)
		if got.Status.Phase == corev1.PodSucceeded || got.Status.Phase == corev1.PodFailed {
			break
		}
	}
	logs := map[string]string{}
	for _, c := range []string{"version", "selftest"} {
		b, err := cs.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: c}).DoRaw(t.Context())
		require.NoError(t, err)
		logs[c] = string(b)
	}
	require.Equal(t, corev1.PodSucceeded, got.Status.Phase, "status %+v\nlogs %v", got.Status, logs)
	digest := ref[strings.Index(ref, "@")+1:]
	for _, s := range got.Status.ContainerStatuses {
		require.True(t, strings.HasSuffix(s.ImageID, "@"+digest), "%s runs %s, want %s", s.Name, s.ImageID, digest)
		require.Equal(t, int32(0), s.State.Terminated.ExitCode, s.Name)
	}
	require.Equal(t, strings.TrimSpace(string(version)), strings.TrimSpace(logs["version"]))
	var r huntimage.SelfTestReport
	require.NoError(t, json.Unmarshal([]byte(logs["selftest"]), &r), logs["selftest"])
	require.True(t, r.OK, logs["selftest"])
	require.Equal(t, huntimage.UID, r.UID)
	require.Equal(t, huntimage.GID, r.GID)
	require.True(t, r.RootReadOnly)
	require.False(t, r.ServiceAccountToken)
	require.Equal(t, []string{huntimage.SelfTestRule}, r.YARA.Hits)
}

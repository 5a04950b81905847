// Package e2e holds podsleuth's end-to-end tests against the real single-node test cluster
// (test/e2e/cluster.sh: etcd, kube-apiserver, kubelet, containerd, runc, criu, and the kubelet
// stand-in node). test/run-tests.sh starts it once and exports PODSLEUTH_TEST_KUBECONFIG.
package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/test/testenv"
)

// Names cluster.sh gives the nodes, the image and the contexts.
const (
	realNode  = "podsleuth-node"
	fakeNode  = "podsleuth-fake"
	goneNode  = "podsleuth-gone"
	testImage = "podsleuth.local/busybox:1"
	ctxAdmin  = "podsleuth-admin"
	ctxResp   = "podsleuth-responder"
	ctxNobody = "podsleuth-nobody"
)

func randSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// connect returns a podsleuth connection through one of the test kubeconfig's contexts.
func connect(t *testing.T, context string, o cluster.ConnectOptions) *cluster.Conn {
	t.Helper()
	kc := testenv.Kubeconfig(t)
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kc},
		&clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	require.NoError(t, err)
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	c, err := cluster.ConnectConfig(t.Context(), cfg, context, "default", o)
	require.NoError(t, err)
	return c
}

// admin is a plain client-go client with the admin context (test setup only).
func admin(t *testing.T) kubernetes.Interface {
	t.Helper()
	return connect(t, ctxAdmin, cluster.ConnectOptions{}).Client
}

// auditLog is the API server's audit log cluster.sh configures.
func auditLog(t *testing.T) string {
	return filepath.Join(filepath.Dir(testenv.Kubeconfig(t)), "logs", "audit.log")
}

// namespace creates a fresh namespace with its default ServiceAccount (there is no
// controller-manager) and deletes its pods when the test ends (namespaces of a cluster without
// controller-manager never finish terminating, so they are left).
func namespace(t *testing.T, prefix string) string {
	t.Helper()
	cs := admin(t)
	ns := prefix + "-" + randSuffix()
	_, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().ServiceAccounts(ns).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = cs.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
	})
	return ns
}

// busyboxPod is a pod of the offline busybox image running script on node.
func busyboxPod(ns, name, node, script string, labels map[string]string, env ...corev1.EnvVar) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			AutomountServiceAccountToken:  ptr.To(false),
			Containers: []corev1.Container{{
				Name: "app", Image: testImage, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sh", "-c", script}, Env: env,
			}},
		},
	}
}

// runPod creates a pod on the real node and waits until its container runs.
func runPod(t *testing.T, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	cs := admin(t)
	_, err := cs.CoreV1().Pods(p.Namespace).Create(t.Context(), p, metav1.CreateOptions{})
	require.NoError(t, err)
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		got, err := cs.CoreV1().Pods(p.Namespace).Get(t.Context(), p.Name, metav1.GetOptions{})
		require.NoError(t, err)
		for _, s := range got.Status.ContainerStatuses {
			if s.State.Running != nil && (s.Ready || p.Spec.Containers[0].ReadinessProbe == nil) {
				return got
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("pod %s/%s not running after 90s", p.Namespace, p.Name)
	return nil
}

// standInPod creates a pod bound to the kubelet stand-in node and marks it running, as a
// kubelet would (the stand-in's reply depends on the pod's name).
func standInPod(t *testing.T, ns, name, node string) {
	t.Helper()
	cs := admin(t)
	p, err := cs.CoreV1().Pods(ns).Create(t.Context(), busyboxPod(ns, name, node, "sleep 3600", nil), metav1.CreateOptions{})
	require.NoError(t, err)
	now := metav1.Now()
	p.Status = corev1.PodStatus{
		Phase: corev1.PodRunning,
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", Ready: true, Image: testImage, ImageID: "sha256:" + hex.EncodeToString(make([]byte, 32)),
			ContainerID: "containerd://" + hex.EncodeToString([]byte(name))[:12],
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		}},
	}
	_, err = cs.CoreV1().Pods(ns).UpdateStatus(t.Context(), p, metav1.UpdateOptions{})
	require.NoError(t, err)
}

// noCollectors asserts that no podsleuth pod is left in ns.
func noCollectors(t *testing.T, ns string) {
	t.Helper()
	l, err := admin(t).CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: cluster.LabelManagedBy + "=" + cluster.ManagedBy})
	if apierrors.IsNotFound(err) {
		return
	}
	require.NoError(t, err)
	var names []string
	for _, p := range l.Items {
		names = append(names, p.Name)
	}
	require.Empty(t, names, "collector pods left behind in %s", ns)
}

func fileMode(t *testing.T, p string) os.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	require.NoError(t, err)
	return st.Mode().Perm()
}

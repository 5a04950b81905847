package cluster

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

func TestRowsCarryLabelsRolesAndCordon(t *testing.T) {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{
			"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": "", "zone": "a"}},
		Spec: corev1.NodeSpec{Unschedulable: true},
	}
	nr := NodeRowFor(node)
	require.Equal(t, []string{"control-plane", "worker"}, nr.Roles)
	require.True(t, nr.Unschedulable)
	require.Equal(t, "a", nr.Labels["zone"])

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{"team": "web"}},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	require.Equal(t, NamespaceRow{Name: "prod", Status: "Terminating", Labels: map[string]string{"team": "web"}}, NamespaceRowFor(ns))

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "prod", Labels: map[string]string{"app": "web"}}}
	require.Equal(t, "web", PodRowFor(pod).Labels["app"])
}

func TestConnectWithoutKubeconfigSaysSo(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing"))
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("HOME", t.TempDir())
	flags := genericclioptions.NewConfigFlags(false)
	_, err := Connect(context.Background(), flags, ConnectOptions{Timeout: time.Second})
	require.ErrorIs(t, err, ErrNoKubeconfig)
	require.Contains(t, err.Error(), "no kubeconfig found")

	server := "https://127.0.0.1:1"
	flags.APIServer = &server
	_, err = Connect(context.Background(), flags, ConnectOptions{Timeout: time.Second})
	require.NotErrorIs(t, err, ErrNoKubeconfig, "an explicit --server is something to connect to")
}

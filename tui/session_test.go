package tui

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podsleuth/podsleuth/cluster"
)

// These are pure object -> row steps (k9s render/pod.go style) on hand-built Pod objects; the
// live path is covered by the tmux tests against the real cluster.
func TestPodRowStatusLikeKubectl(t *testing.T) {
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	tests := []struct {
		name   string
		pod    corev1.Pod
		status string
		ready  string
		rs     int
	}{
		{"running and ready", corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "a", Ready: true, State: running}}}},
			"Running", "1/1", 0},
		{"crash loop wins over phase", corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}, {Name: "b"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "a", Ready: true, State: running, RestartCount: 1},
				{Name: "b", RestartCount: 7, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}}},
			"CrashLoopBackOff", "1/2", 8},
		{"init container failing", corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "i", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}}}}}},
			"Init:Error", "0/1", 0},
		{"terminating", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &metav1.Time{Time: time.Now()}},
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "a", Ready: true, State: running}}}},
			"Terminating", "1/1", 0},
		{"evicted reason", corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
			Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted"}}, "Evicted", "0/1", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := podRowOf(cluster.PodRowFor(&tt.pod))
			require.Equal(t, tt.status, r.Status)
			require.Equal(t, tt.ready, r.Ready)
			require.Equal(t, tt.rs, r.Restarts)
		})
	}
}

func TestPodDetailRows(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	priv := true
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "web-1", CreationTimestamp: metav1.Time{Time: now.Add(-3 * time.Hour)},
			Labels:          map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-7f9c"}}},
		Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27",
			SecurityContext: &corev1.SecurityContext{Privileged: &priv}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true,
			ContainerID: "containerd://abc", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
	}
	events := []cluster.EventRow{
		{Type: "Normal", Reason: "Started", Message: "Started container app", Last: now.Add(-3 * time.Hour)},
		{Type: "Warning", Reason: "BackOff", Message: "Back-off pulling", Last: now.Add(-1 * time.Minute)},
	}
	rows := PodDetailRows(p, events, "", now)
	var text []string
	for _, r := range rows {
		text = append(text, r.Cells[0])
	}
	require.Contains(t, text, "Pod prod/web-1  Running  ready 1/1  restarts 0  age 3h")
	require.Contains(t, text, "Owner ReplicaSet/web-7f9c")
	require.Contains(t, text, "    privileged")
	require.Contains(t, text, "  app=web")
	// newest event first
	var evLines []string
	for _, s := range text {
		if len(s) > 2 && (strings.Contains(s, "BackOff") || strings.Contains(s, "Started container")) {
			evLines = append(evLines, s)
		}
	}
	require.Len(t, evLines, 2)
	require.Contains(t, evLines[0], "BackOff")
}

func TestPlainClusterError(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: no kubeconfig found", cluster.ErrNoKubeconfig), "no kubeconfig"},
		{fmt.Errorf("%w: x did not answer within 3s: dial tcp 127.0.0.1:6443: connect: connection refused; --request-timeout", cluster.ErrUnreachable), "the API server refused the connection"},
		{fmt.Errorf("%w: x did not answer within 3s: context deadline exceeded", cluster.ErrUnreachable), "the API server did not answer in time"},
		{fmt.Errorf("%w by x", cluster.ErrUnauthorized), "the API server rejected the credentials"},
		{errors.New("x509: certificate signed by unknown authority"), "the API server's certificate is not trusted"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) { require.Equal(t, tt.want, plainClusterError(tt.err)) })
	}
}

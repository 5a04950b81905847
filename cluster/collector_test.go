package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func collectorNames(t *testing.T, c *Conn, ns string) []string {
	t.Helper()
	names, err := c.Collectors(context.Background(), ns)
	require.NoError(t, err)
	return names
}

// TestCollectorPoolLifecycle: one pod per node and directory however often it is asked for,
// Close deletes every pod it created even while they are still starting (here they never run:
// the fake clientset has no kubelet), and a closed pool starts nothing.
func TestCollectorPoolLifecycle(t *testing.T) {
	c := &Conn{Client: fake.NewClientset()}
	p := c.NewCollectorPool(context.Background(), CollectorOptions{Namespace: "collect", Image: "busybox:1.37", CheckpointDir: "/var/lib/kubelet/checkpoints"})
	p.Prestart("node-a")
	p.Prestart("node-a")
	p.Prestart("node-b")
	p.start("node-a", "/var/lib/kubelet/checkpoints")
	p.start("node-a", "/srv/kubelet/checkpoints")
	require.Eventually(t, func() bool { return len(collectorNames(t, c, "collect")) == 3 }, 5*time.Second, 10*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := p.get(ctx, "node-a", "/var/lib/kubelet/checkpoints")
	require.ErrorIs(t, err, context.DeadlineExceeded, "a caller's deadline ends its wait, not the pool")

	pod, err := c.Client.CoreV1().Pods("collect").Get(context.Background(), collectorNames(t, c, "collect")[0], metav1.GetOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, pod.Spec.NodeName)
	require.True(t, pod.Spec.Containers[0].VolumeMounts[0].ReadOnly)

	require.NoError(t, p.Close())
	require.Empty(t, collectorNames(t, c, "collect"), "Close deletes the collectors still starting")
	require.NoError(t, p.Close())

	_, err = p.get(context.Background(), "node-c", "/var/lib/kubelet/checkpoints")
	require.ErrorIs(t, err, ErrCollector)
	p.Prestart("node-c")
	require.Empty(t, collectorNames(t, c, "collect"), "a closed pool starts nothing")
}

// TestCollectorPoolPrestartNoop: no prestart in read-only mode, without a directory or a node.
func TestCollectorPoolPrestartNoop(t *testing.T) {
	for name, tc := range map[string]struct {
		readonly  bool
		dir, node string
	}{
		"readonly":     {true, "/var/lib/kubelet/checkpoints", "n"},
		"no directory": {false, "", "n"},
		"no node":      {false, "/var/lib/kubelet/checkpoints", ""},
	} {
		t.Run(name, func(t *testing.T) {
			c := &Conn{Client: fake.NewClientset(), Readonly: tc.readonly}
			p := c.NewCollectorPool(context.Background(), CollectorOptions{Namespace: "collect", Image: "busybox:1.37", CheckpointDir: tc.dir})
			p.Prestart(tc.node)
			require.NoError(t, p.Close())
			require.Empty(t, collectorNames(t, c, "collect"))
			_, err := c.Client.CoreV1().Namespaces().Get(context.Background(), "collect", metav1.GetOptions{})
			require.Error(t, err, "nothing was created, not even the namespace")
		})
	}
	var p *CollectorPool
	p.Prestart("n") // a nil pool is no pool
	require.NoError(t, p.Close())
}

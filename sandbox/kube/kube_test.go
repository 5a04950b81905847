package kube

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/podsleuth/podsleuth/sandbox"
)

func node(name, runtime string, ready bool) *corev1.Node {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{
		NodeInfo:   corev1.NodeSystemInfo{ContainerRuntimeVersion: runtime},
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}},
	}}
}

// bundle makes a minimal unpacked container archive and an executable to copy.
func bundle(t *testing.T) (string, string) {
	d := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(d, "spec.dump"), []byte("{}"), 0o600))
	exe := filepath.Join(d, "podsleuth")
	require.NoError(t, os.WriteFile(exe, []byte("x"), 0o700))
	return d, exe
}

func TestPreflightRefusals(t *testing.T) {
	b, exe := bundle(t)
	ok := sandbox.Request{Bundle: b, Archive: filepath.Join(b, "spec.dump"), Rootfs: b}
	tests := []struct {
		name   string
		node   *corev1.Node
		cfg    Config
		req    sandbox.Request
		want   string
		passes bool
	}{
		{"bare image dir", node("n", "containerd://2.4.2", true), Config{Node: "n", Exe: exe, AllowNodeHelper: true}, sandbox.Request{}, "restored --local", false},
		{"no rootfs", node("n", "containerd://2.4.2", true), Config{Node: "n", Exe: exe, AllowNodeHelper: true}, sandbox.Request{Bundle: b, Archive: b}, "--rootfs", false},
		{"no node", node("n", "containerd://2.4.2", true), Config{Exe: exe, AllowNodeHelper: true}, ok, "--node", false},
		{"node not ready", node("n", "containerd://2.4.2", false), Config{Node: "n", Exe: exe, AllowNodeHelper: true}, ok, "not Ready", false},
		{"containerd without helper", node("n", "containerd://2.4.2", true), Config{Node: "n", Exe: exe}, ok, "--allow-node-helper", false},
		{"cri-o", node("n", "cri-o://1.30", true), Config{Node: "n", Exe: exe, AllowNodeHelper: true}, ok, "not built", false},
		{"unknown node", node("other", "containerd://2.4.2", true), Config{Node: "n", Exe: exe, AllowNodeHelper: true}, ok, "node n", false},
		{"containerd with helper", node("n", "containerd://2.4.2", true), Config{Node: "n", Exe: exe, AllowNodeHelper: true}, ok, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Client = fake.NewClientset(tt.node)
			err := New(tt.cfg).Preflight(context.Background(), tt.req)
			if tt.passes {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, sandbox.ErrPreflight)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestQuarantineObjects(t *testing.T) {
	c := fake.NewClientset()
	k := New(Config{Client: c, Node: "n", Image: "busybox:1.37"})
	info := &sandbox.Info{ID: "0123456789", Namespace: Namespace("0123456789")}
	sum := "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c"
	require.NoError(t, k.quarantine(context.Background(), info, sandbox.Request{CaseID: "IR 2024/42", EvidenceSHA256: sum, EvidenceID: "ev1"}))
	ns, err := c.CoreV1().Namespaces().Get(context.Background(), "podsleuth-sandbox-0123456789", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "IR_2024_42", ns.Labels[LabelCase], "a valid label value")
	require.Equal(t, sum[:32], ns.Labels[LabelEvidence])
	require.Equal(t, sum, ns.Annotations[AnnEvidence])
	require.Equal(t, "restricted", ns.Labels["pod-security.kubernetes.io/enforce"])
	np, err := c.NetworkingV1().NetworkPolicies(ns.Name).Get(context.Background(), "default-deny-all", metav1.GetOptions{})
	require.NoError(t, err)
	require.Empty(t, np.Spec.PodSelector.MatchLabels, "selects every pod")
	require.Empty(t, np.Spec.Ingress)
	require.Empty(t, np.Spec.Egress)
	require.Len(t, np.Spec.PolicyTypes, 2)
	q, err := c.CoreV1().ResourceQuotas(ns.Name).Get(context.Background(), "sandbox", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "1", q.Spec.Hard.Pods().String())
	sa, err := c.CoreV1().ServiceAccounts(ns.Name).Get(context.Background(), "podsleuth-sandbox", metav1.GetOptions{})
	require.NoError(t, err)
	require.False(t, *sa.AutomountServiceAccountToken)

	p := k.placeholderPod(ns.Name)
	require.False(t, *p.Spec.AutomountServiceAccountToken)
	require.True(t, *p.Spec.SecurityContext.RunAsNonRoot)
	sc := p.Spec.Containers[0].SecurityContext
	require.False(t, *sc.AllowPrivilegeEscalation)
	require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	require.False(t, p.Spec.HostNetwork || p.Spec.HostPID || p.Spec.HostIPC)
	require.NotEmpty(t, p.Spec.Containers[0].Resources.Limits, "fits the quota")
}

func TestListenPorts(t *testing.T) {
	tcp := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
   0: 00000000000000000000000000000000:2382 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1
`
	require.Equal(t, []int{8080, 9090}, listenPorts(tcp))
}

// TestHelperPodLeastPrivilege: the node helper is not privileged, drops every capability but
// HelperCapabilities, mounts nothing, has no token and no host network or IPC; docs/rbac.yaml's
// admission policy admits exactly these capabilities for it.
func TestHelperPodLeastPrivilege(t *testing.T) {
	k := New(Config{Node: "n1", Image: "img@sha256:" + strings.Repeat("a", 64)})
	p := k.helperPod(HelperNamespace("x"), "x")
	require.True(t, p.Spec.HostPID)
	require.False(t, p.Spec.HostNetwork)
	require.False(t, p.Spec.HostIPC)
	require.False(t, *p.Spec.AutomountServiceAccountToken)
	require.Empty(t, p.Spec.Volumes)
	require.Len(t, p.Spec.Containers, 1)
	sc := p.Spec.Containers[0].SecurityContext
	require.False(t, *sc.Privileged)
	require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	require.Equal(t, HelperCapabilities, sc.Capabilities.Add)
	require.NotContains(t, sc.Capabilities.Add, corev1.Capability("ALL"))
	for _, c := range []corev1.Capability{"SYS_MODULE", "SYS_RAWIO", "SYS_BOOT", "SYS_RESOURCE", "MAC_ADMIN", "BPF"} {
		require.NotContains(t, sc.Capabilities.Add, c)
	}
	require.Equal(t, "node-helper", p.Labels["podsleuth.io/role"])
	require.Equal(t, "x", p.Labels[LabelSandbox])

	b, err := os.ReadFile("../../docs/rbac.yaml")
	require.NoError(t, err)
	doc := string(b)
	_, list, ok := strings.Cut(doc, "capabilities.?add.orValue([]).all(c, c in [")
	require.True(t, ok, "docs/rbac.yaml: the helper's capability list")
	list, _, ok = strings.Cut(list, "])")
	require.True(t, ok)
	var inPolicy []corev1.Capability
	for _, f := range strings.Split(list, ",") {
		inPolicy = append(inPolicy, corev1.Capability(strings.Trim(strings.TrimSpace(f), "'")))
	}
	require.ElementsMatch(t, HelperCapabilities, inPolicy, "docs/rbac.yaml admits the helper's capabilities, no more")
}

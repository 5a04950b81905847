// Package kube restores a container checkpoint into a quarantine namespace of a Kubernetes
// cluster: namespace podsleuth-sandbox-<id> (labelled with case and evidence hash, Pod Security
// "restricted"), a default-deny NetworkPolicy for ingress and egress, no service-account
// token, a ResourceQuota, and a placeholder pod whose network namespace the copy joins.
//
// containerd 2.x's CRI cannot restore (it only checkpoints), so for containerd nodes an opt-in
// node helper (a short-lived privileged pod in its own namespace) copies podsleuth, the
// archive and the base rootfs to the node and runs `podsleuth restore --local
// --join-net-pid` there: the local backend's runc restore, into the placeholder's network
// namespace after dropping every non-loopback packet in it with nftables (the bridge CNI
// ignores NetworkPolicy). Isolation is then probed from another namespace and outward.
//
// It must not import charm.land/..., tui or cmd.
package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/sandbox"
)

// Config configures the cluster backend.
type Config struct {
	Client kubernetes.Interface
	REST   *rest.Config
	// Node is the node to restore on (required: the archive's runtime must be there).
	Node string
	// AllowNodeHelper permits the privileged node-helper pod (needed on containerd nodes).
	AllowNodeHelper bool
	// Image is the placeholder's and helper's image: it needs sh, sleep, cat, nc and nsenter
	// (busybox has them).
	Image string
	// Exe is the podsleuth binary copied to the node (the same build: amd64 Linux).
	Exe string
	// NodeDir is where the helper keeps files on the node.
	NodeDir string
	// NodeEnv are extra environment variables for podsleuth on the node, e.g.
	// PODSLEUTH_SANDBOX_CRIU and PODSLEUTH_SANDBOX_RUNTIME naming the node's criu and runc.
	NodeEnv []string
	// StateDir holds the local state of cluster sandboxes.
	StateDir string
	// ProbePort is the port the egress probe listens on in the helper pod.
	ProbePort int
}

// Kube is the cluster backend.
type Kube struct {
	cfg    Config
	states sandbox.States
}

// New returns the cluster backend.
func New(cfg Config) *Kube {
	if cfg.NodeDir == "" {
		cfg.NodeDir = "/var/lib/podsleuth/sandboxes"
	}
	if cfg.ProbePort == 0 {
		cfg.ProbePort = 18080
	}
	return &Kube{cfg: cfg, states: sandbox.States{Root: cfg.StateDir}}
}

// Labels and annotations on every object podsleuth creates.
const (
	LabelManaged  = cluster.LabelManagedBy
	LabelSandbox  = "podsleuth.io/sandbox"
	LabelCase     = "podsleuth.io/case"
	LabelEvidence = "podsleuth.io/evidence-sha256-prefix"
	AnnEvidence   = "podsleuth.io/evidence-sha256"
	AnnEvidenceID = "podsleuth.io/evidence-id"
	placeholder   = "placeholder"
	helper        = "node-helper"
)

// Namespace returns the quarantine namespace of sandbox id; HelperNamespace the helper's.
func Namespace(id string) string       { return "podsleuth-sandbox-" + id }
func HelperNamespace(id string) string { return "podsleuth-helper-" + id }

// clusterState is kept beside sandbox.Info.
type clusterState struct {
	NodeSandboxID string `json:"node_sandbox_id"`
	NodeDir       string `json:"node_dir"`
	HolderPID     int    `json:"holder_pid"`
	PodIP         string `json:"pod_ip"`
}

// Preflight checks everything a cluster restore needs without changing anything.
func (k *Kube) Preflight(ctx context.Context, r sandbox.Request) error {
	switch {
	case r.Bundle == "" || r.Archive == "":
		return fmt.Errorf("%w: the cluster backend restores container checkpoint archives (with spec.dump); a bare CRIU image directory can only be restored --local", sandbox.ErrPreflight)
	case r.Rootfs == "":
		return fmt.Errorf("%w: pass the container image's root filesystem with --rootfs DIR|TAR (the archive holds only its changes)", sandbox.ErrPreflight)
	case k.cfg.Node == "":
		return fmt.Errorf("%w: name the node to restore on with --node (a node with the archive's runtime, runc and criu >= 4.2)", sandbox.ErrPreflight)
	case k.cfg.Exe == "":
		return fmt.Errorf("%w: the podsleuth binary to run on the node is unknown", sandbox.ErrPreflight)
	}
	if _, err := os.Stat(filepath.Join(r.Bundle, "spec.dump")); err != nil {
		return fmt.Errorf("%w: the archive has no spec.dump: not a container checkpoint", sandbox.ErrPreflight)
	}
	node, err := k.cfg.Client.CoreV1().Nodes().Get(ctx, k.cfg.Node, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("%w: node %s: %v", sandbox.ErrPreflight, k.cfg.Node, err)
	}
	ready := false
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	if !ready {
		return fmt.Errorf("%w: node %s is not Ready", sandbox.ErrPreflight, k.cfg.Node)
	}
	rt := node.Status.NodeInfo.ContainerRuntimeVersion
	switch {
	case strings.HasPrefix(rt, "containerd://"):
		if !k.cfg.AllowNodeHelper {
			return fmt.Errorf("%w: node %s runs %s, whose CRI cannot restore a checkpoint; podsleuth can restore there with a short-lived node-helper pod (all capabilities, host PID namespace) (runc + criu into a placeholder pod's namespaces): allow it with --allow-node-helper", sandbox.ErrPreflight, k.cfg.Node, rt)
		}
	case strings.HasPrefix(rt, "cri-o://"):
		return fmt.Errorf("%w: node %s runs %s, which restores natively from a checkpoint image; that path is not built in this version: restore --local instead", sandbox.ErrPreflight, k.cfg.Node, rt)
	default:
		return fmt.Errorf("%w: node %s runs %q: unsupported runtime", sandbox.ErrPreflight, k.cfg.Node, rt)
	}
	if _, err := os.Stat(k.cfg.Exe); err != nil {
		return fmt.Errorf("%w: %v", sandbox.ErrPreflight, err)
	}
	return nil
}

// Restore creates the quarantine namespace, restores the archive on the node into the
// placeholder pod's network namespace and verifies isolation. On failure everything it made
// is removed.
func (k *Kube) Restore(ctx context.Context, r sandbox.Request) (info *sandbox.Info, err error) {
	if err := k.Preflight(ctx, r); err != nil {
		return nil, err
	}
	id := sandbox.NewID()
	ns, hns := Namespace(id), HelperNamespace(id)
	dir := k.states.Dir(id)
	var undo sandbox.Cleanup
	defer func() {
		if err != nil {
			if cerr := undo.Run(); cerr != nil {
				err = fmt.Errorf("%w (and cleaning up failed: %v)", err, cerr)
			}
		}
	}()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	undo.Push(func() error { return os.RemoveAll(dir) })
	info = &sandbox.Info{ID: id, Backend: sandbox.BackendCluster, Created: time.Now().UTC(), Source: r.Source,
		Kind: "container", CaseID: r.CaseID, EvidenceID: r.EvidenceID, EvidenceSHA256: r.EvidenceSHA256,
		Dir: dir, State: "restoring", Namespace: ns, Node: k.cfg.Node, Pod: placeholder}
	cs := &clusterState{NodeDir: filepath.Join(k.cfg.NodeDir, id)}
	if err := k.save(info, cs); err != nil {
		return nil, err
	}
	undo.Push(func() error { return k.deleteNamespaces(context.WithoutCancel(ctx), id) })
	if err := k.quarantine(ctx, info, r); err != nil {
		return nil, fmt.Errorf("%w: quarantine namespace: %v", sandbox.ErrRestore, err)
	}
	ph, err := k.runPod(ctx, k.placeholderPod(ns))
	if err != nil {
		return nil, fmt.Errorf("%w: placeholder pod: %v", sandbox.ErrRestore, err)
	}
	cs.PodIP = ph.Status.PodIP
	cid := containerID(ph)
	hp, err := k.startHelper(ctx, id)
	if err != nil {
		return nil, err
	}
	undo.Push(func() error { return k.nodeCleanup(context.WithoutCancel(ctx), id, cs) })
	// the placeholder's process on the node: the one whose cgroup names its container
	out, err := k.exec(ctx, hns, hp.Name, nil, "sh", "-c",
		`for p in /proc/[0-9]*; do grep -qs "`+cid+`" $p/cgroup && { echo ${p#/proc/}; break; }; done`)
	if err != nil || strings.TrimSpace(out) == "" {
		return nil, fmt.Errorf("%w: placeholder container %s not found on node %s: %v %s", sandbox.ErrRestore, cid, k.cfg.Node, err, out)
	}
	if cs.HolderPID, err = strconv.Atoi(strings.TrimSpace(out)); err != nil {
		return nil, fmt.Errorf("%w: placeholder pid %q", sandbox.ErrRestore, out)
	}
	// podsleuth, the archive and the base rootfs onto the node
	nd := cs.NodeDir
	if _, err := k.nodeSh(ctx, hns, hp.Name, nil, "mkdir -p "+nd+" && chmod 700 "+nd); err != nil {
		return nil, err
	}
	if err := k.copyFile(ctx, hns, hp.Name, k.cfg.Exe, nd+"/podsleuth", "700"); err != nil {
		return nil, err
	}
	if err := k.copyFile(ctx, hns, hp.Name, r.Archive, nd+"/checkpoint.tar", "600"); err != nil {
		return nil, err
	}
	if err := k.copyRootfs(ctx, hns, hp.Name, r.Rootfs, nd+"/rootfs.tar"); err != nil {
		return nil, err
	}
	// restore there with the local backend, into the placeholder's netns, quarantined
	env := append([]string{"PODSLEUTH_SANDBOX_STATE_DIR=" + nd + "/state", "PODSLEUTH_CACHE_DIR=" + nd + "/cache",
		"PODSLEUTH_DATA_DIR=" + nd + "/data"}, k.cfg.NodeEnv...)
	cmd := "env " + strings.Join(shqAll(env), " ") + " " + nd + "/podsleuth restore " + nd + "/checkpoint.tar --local --rootfs " + nd +
		"/rootfs.tar --join-net-pid " + strconv.Itoa(cs.HolderPID) + " -o json"
	if r.Run {
		cmd += " --run"
	}
	t0 := time.Now()
	out, err = k.nodeSh(ctx, hns, hp.Name, nil, cmd)
	if err != nil {
		return nil, fmt.Errorf("%w: on node %s: %v", sandbox.ErrRestore, k.cfg.Node, err)
	}
	var node sandbox.Info
	if err := json.Unmarshal([]byte(out), &node); err != nil {
		return nil, fmt.Errorf("%w: on node %s: unexpected reply %q", sandbox.ErrRestore, k.cfg.Node, out)
	}
	info.RestoreSeconds = time.Since(t0).Seconds()
	cs.NodeSandboxID = node.ID
	info.RootPID, info.InitPID, info.Namespaces, info.State = node.RootPID, cs.HolderPID, node.Namespaces, node.State
	info.Isolation = append(info.Isolation, node.Isolation...)
	info.Warnings = append(info.Warnings, node.Warnings...)
	if err := k.save(info, cs); err != nil {
		return nil, err
	}
	if err := k.verifyIsolation(ctx, info, cs, hp); err != nil {
		return nil, err
	}
	// the helper is short-lived: gone until destroy needs it again
	if err := k.deletePod(context.WithoutCancel(ctx), hns, hp.Name); err != nil {
		return nil, err
	}
	if err := k.save(info, cs); err != nil {
		return nil, err
	}
	return info, nil
}

// verifyIsolation probes, after setup: a pod in another namespace (the helper) must not reach
// any listener of the copy; the copy's network namespace must not reach the helper's probe
// listener, which the node itself reaches (so the probe is known to work).
func (k *Kube) verifyIsolation(ctx context.Context, info *sandbox.Info, cs *clusterState, hp *corev1.Pod) error {
	hns := HelperNamespace(info.ID)
	tcp, _ := k.nodeSh(ctx, hns, hp.Name, nil, fmt.Sprintf("cat /proc/%d/net/tcp /proc/%d/net/tcp6 2>/dev/null", info.RootPID, info.RootPID))
	ports := listenPorts(tcp)
	if len(ports) == 0 {
		ports = []int{80}
	}
	for _, p := range ports {
		// from the helper pod's own network namespace: another namespace's pod
		out, err := k.exec(ctx, hns, hp.Name, nil, "sh", "-c", fmt.Sprintf("nc -w 2 %s %d </dev/null && echo CONNECTED || echo BLOCKED", cs.PodIP, p))
		if err != nil {
			return fmt.Errorf("%w: ingress probe: %v", sandbox.ErrRestore, err)
		}
		if strings.Contains(out, "CONNECTED") {
			return fmt.Errorf("%w: isolation NOT verified: a pod in namespace %s reached the copy at %s:%d", sandbox.ErrRestore, hns, cs.PodIP, p)
		}
		info.Isolation = append(info.Isolation, fmt.Sprintf("ingress probe from a pod in namespace %s to %s:%d: blocked", hns, cs.PodIP, p))
	}
	// egress: a listener in the helper pod; the node's own netns must reach it, the copy's not
	if _, err := k.exec(ctx, hns, hp.Name, nil, "sh", "-c", fmt.Sprintf("(nc -ll -p %d -e echo probe-ok </dev/null >/dev/null 2>&1 &) ; sleep 0.5", k.cfg.ProbePort)); err != nil {
		return fmt.Errorf("%w: egress probe listener: %v", sandbox.ErrRestore, err)
	}
	ctl, _ := k.nodeSh(ctx, hns, hp.Name, nil, fmt.Sprintf("nc -w 2 %s %d </dev/null", hp.Status.PodIP, k.cfg.ProbePort))
	if !strings.Contains(ctl, "probe-ok") {
		return fmt.Errorf("%w: egress probe inconclusive: the node itself could not reach the probe listener at %s:%d", sandbox.ErrRestore, hp.Status.PodIP, k.cfg.ProbePort)
	}
	out, err := k.nodeSh(ctx, hns, hp.Name, nil, fmt.Sprintf("nsenter -t %d -n -- nc -w 2 %s %d </dev/null && echo CONNECTED || echo BLOCKED", cs.HolderPID, hp.Status.PodIP, k.cfg.ProbePort))
	if err != nil {
		return fmt.Errorf("%w: egress probe: %v", sandbox.ErrRestore, err)
	}
	if strings.Contains(out, "probe-ok") || strings.Contains(out, "CONNECTED") {
		return fmt.Errorf("%w: isolation NOT verified: the copy's network namespace reached %s:%d", sandbox.ErrRestore, hp.Status.PodIP, k.cfg.ProbePort)
	}
	info.Isolation = append(info.Isolation, fmt.Sprintf("egress probe from the copy's network namespace to %s:%d (reachable from the node): blocked", hp.Status.PodIP, k.cfg.ProbePort))
	return nil
}

// listenPorts parses /proc/net/tcp{,6} for LISTEN sockets.
func listenPorts(s string) []int {
	seen := map[int]bool{}
	var out []int
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[3] == "0A" {
			i := strings.LastIndexByte(f[1], ':')
			if p, err := strconv.ParseInt(f[1][i+1:], 16, 32); err == nil && !seen[int(p)] {
				seen[int(p)] = true
				out = append(out, int(p))
			}
		}
	}
	return out
}

func (k *Kube) quarantine(ctx context.Context, info *sandbox.Info, r sandbox.Request) error {
	c := k.cfg.Client
	labels := cluster.ManagedLabels(map[string]string{LabelSandbox: info.ID,
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/audit": "restricted",
		"pod-security.kubernetes.io/warn": "restricted"})
	if r.CaseID != "" {
		labels[LabelCase] = cluster.LabelValue(r.CaseID)
	}
	ann := map[string]string{}
	if r.EvidenceSHA256 != "" {
		labels[LabelEvidence] = r.EvidenceSHA256[:min(32, len(r.EvidenceSHA256))]
		ann[AnnEvidence] = r.EvidenceSHA256
	}
	if r.EvidenceID != "" {
		ann[AnnEvidenceID] = r.EvidenceID
	}
	ns := info.Namespace
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels, Annotations: ann}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := c.NetworkingV1().NetworkPolicies(ns).Create(ctx, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "default-deny-all", Labels: cluster.ManagedLabels(nil)},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := c.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "sandbox", Labels: cluster.ManagedLabels(nil)},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourcePods: resource.MustParse("1"), corev1.ResourceServices: resource.MustParse("0"),
			corev1.ResourceSecrets: resource.MustParse("0"), corev1.ResourceConfigMaps: resource.MustParse("1"), // kube-root-ca.crt
			corev1.ResourceRequestsCPU: resource.MustParse("500m"), corev1.ResourceLimitsCPU: resource.MustParse("1"),
			corev1.ResourceRequestsMemory: resource.MustParse("256Mi"), corev1.ResourceLimitsMemory: resource.MustParse("1Gi"),
		}},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	_, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta:                   metav1.ObjectMeta{Name: "podsleuth-sandbox", Labels: cluster.ManagedLabels(nil)},
		AutomountServiceAccountToken: ptr.To(false),
	}, metav1.CreateOptions{})
	return err
}

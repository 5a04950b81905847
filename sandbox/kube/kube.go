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
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// placeholderPod holds the network namespace the copy joins: restricted, no token, nothing
// but sleep.
func (k *Kube) placeholderPod(ns string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: placeholder, Namespace: ns, Labels: cluster.ManagedLabels(map[string]string{"podsleuth.io/role": "placeholder"})},
		Spec: corev1.PodSpec{
			NodeName: k.cfg.Node, ServiceAccountName: "podsleuth-sandbox", AutomountServiceAccountToken: ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](0), EnableServiceLinks: ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65534),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "holder", Image: k.cfg.Image, ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sleep", "2147483647"},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				},
			}},
		},
	}
}

// helperPod is the node helper's pod in namespace hns for sandbox id.
func (k *Kube) helperPod(hns, id string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: helper, Namespace: hns, Labels: cluster.ManagedLabels(map[string]string{"podsleuth.io/role": "node-helper", LabelSandbox: id})},
		Spec: corev1.PodSpec{
			NodeName: k.cfg.Node, HostPID: true, ServiceAccountName: "podsleuth-helper", AutomountServiceAccountToken: ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](0), EnableServiceLinks: ptr.To(false),
			Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name: "helper", Image: k.cfg.Image, ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sleep", "3600"},
				// the host PID namespace (to find the placeholder and enter the runtime's namespaces)
				// and HelperCapabilities only, each one for a step of the restore (docs/sandbox.md);
				// never "privileged" (no host devices), no token, no volumes
				SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](0), Privileged: ptr.To(false),
					Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: HelperCapabilities},
					SeccompProfile: &corev1.SeccompProfile{Type: helperSeccomp}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
				},
			}},
		},
	}
}

// HelperCapabilities are the node helper's capabilities; every other one is dropped. The
// restore runs under them on the node (nsenter keeps the helper's bounding set), so they are
// what runc and criu need to restore a container there, each documented in docs/sandbox.md;
// docs/rbac.yaml's admission policy admits a helper with these at most.
var HelperCapabilities = []corev1.Capability{
	"SYS_ADMIN", "SYS_PTRACE", "SYS_CHROOT", "CHECKPOINT_RESTORE", "NET_ADMIN",
	"SETUID", "SETGID", "SETPCAP", "SETFCAP", "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER",
	"FSETID", "KILL", "MKNOD", "IPC_LOCK", "IPC_OWNER", "SYS_NICE", "NET_RAW", "NET_BIND_SERVICE",
	"AUDIT_WRITE", "SYS_TIME",
}

// helperSeccomp is the node helper's seccomp profile (docs/sandbox.md says why).
const helperSeccomp = corev1.SeccompProfileTypeUnconfined

// startHelper creates the node helper: host PID namespace, HelperCapabilities, not privileged,
// in a namespace of its own (Pod Security "privileged"), labelled as what it is.
func (k *Kube) startHelper(ctx context.Context, id string) (*corev1.Pod, error) {
	hns := HelperNamespace(id)
	c := k.cfg.Client
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: hns, Labels: cluster.ManagedLabels(map[string]string{
		LabelSandbox: id, "pod-security.kubernetes.io/enforce": "privileged"}),
		Annotations: map[string]string{"podsleuth.io/purpose": "short-lived privileged node helper restoring sandbox " + id + " with runc+criu (containerd's CRI cannot restore)"}}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("%w: helper namespace: %v", sandbox.ErrRestore, err)
	}
	if _, err := c.CoreV1().ServiceAccounts(hns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "podsleuth-helper"},
		AutomountServiceAccountToken: ptr.To(false)}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("%w: helper service account: %v", sandbox.ErrRestore, err)
	}
	hp, err := k.runPod(ctx, k.helperPod(hns, id))
	if err != nil {
		return nil, fmt.Errorf("%w: node helper: %v", sandbox.ErrRestore, err)
	}
	return hp, nil
}

// runPod creates p and waits (a watch) until it runs with its IP.
func (k *Kube) runPod(ctx context.Context, p *corev1.Pod) (*corev1.Pod, error) {
	if _, err := k.cfg.Client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	return cluster.WaitRunning(ctx, k.cfg.Client, p.Namespace, p.Name, 2*time.Minute)
}

func containerID(p *corev1.Pod) string {
	for _, s := range p.Status.ContainerStatuses {
		if _, id, ok := strings.Cut(s.ContainerID, "://"); ok {
			return id
		}
	}
	return ""
}

// exec runs argv in a pod's first container, stdin from in (cluster.Exec).
func (k *Kube) exec(ctx context.Context, ns, pod string, in io.Reader, argv ...string) (string, error) {
	var out, errb bytes.Buffer
	err := cluster.Exec(ctx, k.cfg.Client, k.cfg.REST, ns, pod, cluster.ExecOptions{Command: argv, Stdin: in, Stdout: &out, Stderr: &errb})
	if err != nil {
		return out.String(), fmt.Errorf("exec in %s/%s: %w: %s", ns, pod, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// nodeAgent finds the node's container runtime (or kubelet) process through the helper: the
// helper enters its namespaces to act on the node as the runtime does. (PID 1 may be out of
// reach, e.g. a VM agent with more capabilities than any pod.)
const nodeAgent = `for n in containerd crio kubelet; do for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = "$n" ] && { echo ${p#/proc/}; exit 0; }; done; done; exit 1`

// nodeSh runs a shell command on the node itself (the mount, UTS, IPC, network and PID
// namespaces of its container runtime) through the helper.
func (k *Kube) nodeSh(ctx context.Context, hns, hp string, in io.Reader, script string) (string, error) {
	return k.exec(ctx, hns, hp, in, nodeShArgv(script)...)
}

// nodeShArgv is the helper's command that runs script on the node (see nodeSh).
func nodeShArgv(script string) []string {
	return []string{"sh", "-c", `a=$(` + nodeAgent + `) || { echo "no container runtime process found on the node" >&2; exit 1; }
exec nsenter -t "$a" -m -u -i -n -p -- env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin sh -c "$0"`, script}
}

func (k *Kube) copyFile(ctx context.Context, hns, hp, local, remote, mode string) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := k.nodeSh(ctx, hns, hp, f, "cat > "+shq(remote)+" && chmod "+mode+" "+shq(remote)); err != nil {
		return fmt.Errorf("%w: copy %s to node %s:%s: %v", sandbox.ErrRestore, local, k.cfg.Node, remote, err)
	}
	return nil
}

// copyRootfs sends a rootfs tar as is, or a directory as a tar stream.
func (k *Kube) copyRootfs(ctx context.Context, hns, hp, rootfs, remote string) error {
	st, err := os.Stat(rootfs)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return k.copyFile(ctx, hns, hp, rootfs, remote, "600")
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarDir(rootfs, pw)) }()
	if _, err := k.nodeSh(ctx, hns, hp, pr, "cat > "+shq(remote)); err != nil {
		return fmt.Errorf("%w: copy rootfs to node: %v", sandbox.ErrRestore, err)
	}
	return nil
}

// deletePod deletes a pod and waits until it is gone (cluster.DeletePod, bounded, honouring ctx).
func (k *Kube) deletePod(ctx context.Context, ns, name string) error {
	return cluster.DeletePod(ctx, k.cfg.Client, ns, name, true)
}

// deleteNamespaces deletes the pods (so nothing waits for a namespace controller) and both
// namespaces of sandbox id.
func (k *Kube) deleteNamespaces(ctx context.Context, id string) error {
	var errs []error
	for _, ns := range []string{Namespace(id), HelperNamespace(id)} {
		pods, err := k.cfg.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err == nil {
			for _, p := range pods.Items {
				errs = append(errs, k.deletePod(ctx, ns, p.Name))
			}
		}
		if err := k.cfg.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// nodeCleanup destroys the node-side sandbox (runc container, cgroups) and its files.
func (k *Kube) nodeCleanup(ctx context.Context, id string, cs *clusterState) error {
	hns := HelperNamespace(id)
	hp, err := k.cfg.Client.CoreV1().Pods(hns).Get(ctx, helper, metav1.GetOptions{})
	if err != nil || hp.Status.Phase != corev1.PodRunning {
		if hp, err = k.startHelper(ctx, id); err != nil {
			return err
		}
	}
	nd := cs.NodeDir
	if !strings.HasPrefix(nd, k.cfg.NodeDir+"/") {
		return fmt.Errorf("refusing to remove %q on the node", nd)
	}
	var errs []error
	if cs.NodeSandboxID != "" {
		env := append([]string{"PODSLEUTH_SANDBOX_STATE_DIR=" + nd + "/state", "PODSLEUTH_CACHE_DIR=" + nd + "/cache", "PODSLEUTH_DATA_DIR=" + nd + "/data"}, k.cfg.NodeEnv...)
		if _, err := k.nodeSh(ctx, hns, hp.Name, nil, "env "+strings.Join(shqAll(env), " ")+" "+nd+"/podsleuth sandbox destroy "+cs.NodeSandboxID); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := k.nodeSh(ctx, hns, hp.Name, nil, "rm -rf "+shq(nd)); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, k.deletePod(ctx, hns, hp.Name))
	return errors.Join(errs...)
}

func (k *Kube) save(info *sandbox.Info, cs *clusterState) error {
	b, err := json.MarshalIndent(cs, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(info.Dir, "cluster.json"), b, 0o600); err != nil {
		return err
	}
	return k.states.Save(info)
}

func (k *Kube) load(id string) (*sandbox.Info, *clusterState, error) {
	info, err := k.states.Load(id)
	if err != nil {
		return nil, nil, err
	}
	if info.Backend != sandbox.BackendCluster {
		return nil, nil, fmt.Errorf("%w: %s is a %s sandbox", sandbox.ErrNotFound, id, info.Backend)
	}
	b, err := os.ReadFile(filepath.Join(info.Dir, "cluster.json"))
	if err != nil {
		return nil, nil, err
	}
	cs := &clusterState{}
	return info, cs, json.Unmarshal(b, cs)
}

// List returns the cluster sandboxes this machine created.
func (k *Kube) List(ctx context.Context) ([]sandbox.Info, error) {
	return k.states.List(sandbox.BackendCluster)
}

// Get returns one cluster sandbox.
func (k *Kube) Get(ctx context.Context, id string) (*sandbox.Info, error) {
	info, _, err := k.load(id)
	return info, err
}

// onNode runs `podsleuth ARGS...` on the node against the node-side sandbox state, through
// a helper that is deleted again afterwards.
func (k *Kube) onNode(ctx context.Context, id string, args ...string) (string, error) {
	info, cs, err := k.load(id)
	if err != nil {
		return "", err
	}
	if k.cfg.Node == "" {
		k.cfg.Node = info.Node
	}
	if cs.NodeSandboxID == "" {
		return "", fmt.Errorf("%w: %s has no restored container on node %s", sandbox.ErrGone, id, info.Node)
	}
	hp, err := k.startHelper(ctx, id)
	if err != nil {
		return "", err
	}
	defer func() { _ = k.deletePod(context.WithoutCancel(ctx), HelperNamespace(id), hp.Name) }()
	nd := cs.NodeDir
	env := append([]string{"PODSLEUTH_SANDBOX_STATE_DIR=" + nd + "/state", "PODSLEUTH_CACHE_DIR=" + nd + "/cache", "PODSLEUTH_DATA_DIR=" + nd + "/data"}, k.cfg.NodeEnv...)
	for i, a := range args {
		if a == "{}" {
			args[i] = cs.NodeSandboxID
		}
	}
	return k.nodeSh(ctx, HelperNamespace(id), hp.Name, nil, "env "+strings.Join(shqAll(env), " ")+" "+nd+"/podsleuth "+strings.Join(shqAll(args), " "))
}

// Ps lists the restored processes on the node (PIDs are the node's).
func (k *Kube) Ps(ctx context.Context, id string) ([]sandbox.Process, error) {
	out, err := k.onNode(ctx, id, "sandbox", "ps", "{}", "-o", "json")
	if err != nil {
		return nil, err
	}
	var ps []sandbox.Process
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		return nil, fmt.Errorf("sandbox ps on node: unexpected reply %q", out)
	}
	return ps, nil
}

// Signal sends sig to the restored processes on the node (SIGCONT resumes).
func (k *Kube) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	_, err := k.onNode(ctx, id, "sandbox", "kill", "{}", "--signal", strconv.Itoa(int(sig)))
	return err
}

// EnterCommand is not offered for cluster sandboxes: they run on a node, and Enter streams
// the command there instead.
func (k *Kube) EnterCommand(ctx context.Context, id string, argv []string) ([]string, error) {
	return nil, fmt.Errorf("sandbox %s runs on node %s: it is entered through the API server (Enter), not with a local command", id, k.cfg.Node)
}

// Enter runs argv (a shell when empty) in the restored container's namespaces on the node: a
// helper pod runs the node's podsleuth `sandbox enter`, and the caller's stdin, stdout and
// stderr (or terminal, with s.TTY) are streamed through the API server. It returns the
// command's exit status.
func (k *Kube) Enter(ctx context.Context, id string, argv []string, s sandbox.Streams) (int, error) {
	info, cs, err := k.load(id)
	if err != nil {
		return 0, err
	}
	if k.cfg.Node == "" {
		k.cfg.Node = info.Node
	}
	if cs.NodeSandboxID == "" {
		return 0, fmt.Errorf("%w: %s has no restored container on node %s", sandbox.ErrGone, id, info.Node)
	}
	hp, err := k.startHelper(ctx, id)
	if err != nil {
		return 0, err
	}
	defer func() { _ = k.deletePod(context.WithoutCancel(ctx), HelperNamespace(id), hp.Name) }()
	nd := cs.NodeDir
	env := append([]string{"PODSLEUTH_SANDBOX_STATE_DIR=" + nd + "/state", "PODSLEUTH_CACHE_DIR=" + nd + "/cache", "PODSLEUTH_DATA_DIR=" + nd + "/data"}, k.cfg.NodeEnv...)
	args := append([]string{"sandbox", "enter", cs.NodeSandboxID, "--"}, argv...)
	script := "exec env " + strings.Join(shqAll(env), " ") + " " + nd + "/podsleuth " + strings.Join(shqAll(args), " ")
	eo := cluster.ExecOptions{Command: nodeShArgv(script), Stdin: s.In, Stdout: s.Out, TTY: s.TTY}
	if !s.TTY {
		eo.Stderr = s.Err
	} else if s.Resize != nil {
		eo.Resize = func() (cluster.TerminalSize, bool) {
			sz, ok := <-s.Resize
			return cluster.TerminalSize{Width: sz.Width, Height: sz.Height}, ok
		}
	}
	err = cluster.Exec(ctx, k.cfg.Client, k.cfg.REST, HelperNamespace(id), hp.Name, eo)
	if code, ok := cluster.ExitStatus(err); ok {
		return code, nil
	}
	if err != nil {
		return 0, fmt.Errorf("enter %s on node %s: %w", id, info.Node, err)
	}
	return 0, nil
}

// Destroy removes the restored container (through a helper), the node files, the pods and
// the namespaces.
func (k *Kube) Destroy(ctx context.Context, id string) error {
	info, cs, err := k.load(id)
	if err != nil {
		return err
	}
	if k.cfg.Node == "" {
		k.cfg.Node = info.Node
	}
	errs := []error{k.nodeCleanup(ctx, id, cs), k.deleteNamespaces(ctx, id)}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroy %s: %w", id, err)
	}
	return os.RemoveAll(info.Dir)
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func shqAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = shq(s)
	}
	return out
}

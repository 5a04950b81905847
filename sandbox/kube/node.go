package kube

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/sandbox"
)

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

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func shqAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = shq(s)
	}
	return out
}

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/test/testenv"
)

// pinnedImage is the test image pinned by the digest containerd gave it on import
// (cluster.sh's pin_images): the collector and helper image docs/rbac.yaml's admission policy
// admits in this cluster.
func pinnedImage(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(testenv.Kubeconfig(t)), "images", "busybox.pinned"))
	require.NoError(t, err, "test/e2e/cluster.sh up pins the test image")
	ref := strings.TrimSpace(string(b))
	require.Contains(t, ref, "@sha256:")
	return ref
}

// checkpointDir is the test kubelet's checkpoint directory (its --root-dir is not /var/lib/kubelet).
func checkpointDir(t *testing.T) string {
	if d := os.Getenv("PODSLEUTH_TEST_CHECKPOINT_DIR"); d != "" {
		return d
	}
	return filepath.Join(filepath.Dir(testenv.Kubeconfig(t)), "kubelet", "checkpoints")
}

// TestAdmissionPolicy proves on the real API server that docs/rbac.yaml's
// ValidatingAdmissionPolicy keeps the responder role, which may create pods and Jobs in the
// Pod-Security-"privileged" namespace podsleuth-system, to podsleuth's own shapes: a privileged
// pod, a hostPath "/" pod, a collector by tag, a cleaner that removes something else and a Job
// whose template mounts "/" are refused; podsleuth's real collector and cleaner and an
// analyzer-shaped Job are admitted.
func TestAdmissionPolicy(t *testing.T) {
	cs := admin(t)
	// the API server serves admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy and has ours
	rl, err := cs.Discovery().ServerResourcesForGroupVersion("admissionregistration.k8s.io/v1")
	require.NoError(t, err)
	var kinds []string
	for _, r := range rl.APIResources {
		kinds = append(kinds, r.Kind)
	}
	require.Contains(t, kinds, "ValidatingAdmissionPolicy")
	require.Contains(t, kinds, "ValidatingAdmissionPolicyBinding")
	_, err = cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(t.Context(), "podsleuth-workloads", metav1.GetOptions{})
	require.NoError(t, err, "cluster.sh applies docs/rbac.yaml's policy")

	resp := connect(t, ctxResp, cluster.ConnectOptions{})
	const ns = "podsleuth-system"
	pinned, dir := pinnedImage(t), checkpointDir(t)
	// collector is the shape podsleuth's collector has (label, image, hostPath, locks)
	collector := func(name string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-" + randSuffix(), Namespace: ns, Labels: map[string]string{
				cluster.LabelManagedBy: cluster.ManagedBy, cluster.LabelName: cluster.CollectorName, "app.kubernetes.io/component": "collector"}},
			Spec: corev1.PodSpec{
				NodeName: realNode, RestartPolicy: corev1.RestartPolicyNever, AutomountServiceAccountToken: ptr.To(false),
				TerminationGracePeriodSeconds: ptr.To[int64](0),
				Containers: []corev1.Container{{
					Name: "collector", Image: pinned, Command: []string{"sleep", "3600"},
					SecurityContext: &corev1.SecurityContext{
						AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
						Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Resources:    corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}},
					VolumeMounts: []corev1.VolumeMount{{Name: "checkpoints", MountPath: "/checkpoints", ReadOnly: true}},
				}},
				Volumes: []corev1.Volume{{Name: "checkpoints", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
					Path: dir, Type: ptr.To(corev1.HostPathDirectory)}}}},
			},
		}
	}
	refused := func(t *testing.T, err error) {
		t.Helper()
		require.Error(t, err, "the policy must refuse it")
		require.True(t, apierrors.IsForbidden(err) || apierrors.IsInvalid(err), "%v", err)
		require.Contains(t, err.Error(), "podsleuth-workloads", "refused by the admission policy, not by RBAC or validation")
	}
	createPod := func(t *testing.T, p *corev1.Pod) error {
		_, err := resp.Client.CoreV1().Pods(ns).Create(t.Context(), p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}

	// the API server applies a policy asynchronously: cluster.sh up waits for it, and so does a
	// test run against a cluster whose policy was just replaced
	require.Eventually(t, func() bool {
		err := createPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "probe-" + randSuffix(), Namespace: ns},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: pinned}}}})
		return err != nil && strings.Contains(err.Error(), "podsleuth-workloads")
	}, time.Minute, 500*time.Millisecond, "the admission policy applies")

	t.Run("the collector shape is admitted (positive control)", func(t *testing.T) {
		require.NoError(t, createPod(t, collector("ok")))
	})
	t.Run("privileged pod refused", func(t *testing.T) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "evil-" + randSuffix(), Namespace: ns},
			Spec: corev1.PodSpec{NodeName: realNode, Containers: []corev1.Container{{Name: "x", Image: testImage,
				SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}},
		}
		err := createPod(t, p)
		if err != nil && strings.Contains(err.Error(), "disallowed by cluster policy") {
			// an API server started with --allow-privileged=false refuses it before admission
			t.Logf("the API server itself refuses privileged containers (--allow-privileged=false): %v", err)
		} else {
			refused(t, err)
		}
		// even dressed as a collector
		p = collector("evil")
		p.Spec.Containers[0].SecurityContext.Privileged = ptr.To(true)
		p.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
		err = createPod(t, p)
		if err == nil || !strings.Contains(err.Error(), "disallowed by cluster policy") {
			refused(t, err)
		}
		// what privileged amounts to without the flag: every capability, the host's PID namespace
		// and its root file system
		p = collector("evil")
		p.Spec.HostPID = true
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"ALL"}}}
		p.Spec.Volumes[0].HostPath = &corev1.HostPathVolumeSource{Path: "/"}
		refused(t, createPod(t, p))
	})
	t.Run("hostPath / refused", func(t *testing.T) {
		p := collector("root")
		p.Spec.Volumes[0].HostPath.Path = "/"
		refused(t, createPod(t, p))
		p = collector("kubelet")
		p.Spec.Volumes[0].HostPath.Path = filepath.Dir(dir) // the kubelet's root-dir: pods' volumes, keys
		refused(t, createPod(t, p))
		p = collector("nested")
		p.Spec.Volumes[0].HostPath = &corev1.HostPathVolumeSource{Path: dir + "/a/b.tar", Type: ptr.To(corev1.HostPathFile)}
		refused(t, createPod(t, p))
	})
	t.Run("collector variations refused", func(t *testing.T) {
		for name, mod := range map[string]func(p *corev1.Pod){
			"image by tag": func(p *corev1.Pod) { p.Spec.Containers[0].Image = testImage },
			"read-write":   func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].ReadOnly = false },
			"token":        func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = nil },
			"capability": func(p *corev1.Pod) {
				p.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"SYS_ADMIN"}
			},
			"host network":    func(p *corev1.Pod) { p.Spec.HostNetwork = true },
			"host PID":        func(p *corev1.Pod) { p.Spec.HostPID = true },
			"writable rootfs": func(p *corev1.Pod) { p.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = ptr.To(false) },
			"unconfined": func(p *corev1.Pod) {
				p.Spec.Containers[0].SecurityContext.SeccompProfile.Type = corev1.SeccompProfileTypeUnconfined
			},
			"second container": func(p *corev1.Pod) {
				c := p.Spec.Containers[0]
				c.Name = "two"
				p.Spec.Containers = append(p.Spec.Containers, c)
			},
		} {
			p := collector("var")
			mod(p)
			err := createPod(t, p)
			require.Error(t, err, name)
			require.Contains(t, err.Error(), "podsleuth-workloads", name)
		}
	})
	t.Run("cleaner removing anything but 1 to 16 archives refused", func(t *testing.T) {
		p := collector("clean")
		p.Labels["app.kubernetes.io/component"] = "cleaner"
		p.Spec.Containers[0].VolumeMounts[0].ReadOnly = false
		p.Spec.Containers[0].Command = []string{"rm", "-f", "--", "/checkpoints/checkpoint-x.tar"}
		require.NoError(t, createPod(t, p), "the cleaner's shape")
		p.Spec.Containers[0].Command = []string{"rm", "-f", "--", "/checkpoints/checkpoint-x.tar", "/checkpoints/checkpoint-y.tar"}
		require.NoError(t, createPod(t, p), "a hunt's cleaner removes a batch of archives")
		p.Spec.Containers[0].Command = []string{"rm", "-rf", "/checkpoints"}
		refused(t, createPod(t, p))
		p.Spec.Containers[0].Command = []string{"rm", "-f", "--", "/checkpoints/checkpoint-x.tar", "/checkpoints/.."}
		refused(t, createPod(t, p))
		p.Spec.Containers[0].Command = []string{"rm", "-f", "--", "/checkpoints/checkpoint-x.tar", "-r", "/checkpoints/y"}
		refused(t, createPod(t, p))
		p.Spec.Containers[0].Command = []string{"rm", "-f", "--", "/checkpoints/checkpoint-x.tar", "/etc/passwd"}
		refused(t, createPod(t, p))
		many := []string{"rm", "-f", "--"}
		for i := range cluster.MaxCleanBatch + 1 {
			many = append(many, fmt.Sprintf("/checkpoints/checkpoint-%d.tar", i))
		}
		p.Spec.Containers[0].Command = many
		refused(t, createPod(t, p))
		p.Spec.Containers[0].Command = many[:len(many)-1]
		require.NoError(t, createPod(t, p), "a batch of MaxCleanBatch archives")
		p.Spec.Containers[0].Command = []string{"sh", "-c", "rm -f /checkpoints/x.tar"}
		refused(t, createPod(t, p))
	})
	t.Run("Job templates", func(t *testing.T) {
		job := func(spec corev1.PodSpec, labels map[string]string) *batchv1.Job {
			spec.RestartPolicy = corev1.RestartPolicyNever
			return &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Name: "analyzer-" + randSuffix(), Namespace: ns},
				Spec:       batchv1.JobSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}},
			}
		}
		analyzer := collector("a").Spec
		analyzer.Containers[0].Image = pinned
		analyzer.Containers[0].Resources.Limits[corev1.ResourceCPU] = resource.MustParse("1")
		labels := map[string]string{cluster.LabelManagedBy: cluster.ManagedBy, cluster.LabelName: "podsleuth-analyzer"}
		jobs := resp.Client.BatchV1().Jobs(ns)
		dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
		_, err := jobs.Create(t.Context(), job(analyzer, labels), dry)
		require.NoError(t, err, "an analyzer Job (read-only checkpoint dir, no token, read-only root fs, limits)")

		root := *analyzer.DeepCopy()
		root.Volumes[0].HostPath.Path = "/"
		_, err = jobs.Create(t.Context(), job(root, labels), dry)
		refused(t, err)
		caps := *analyzer.DeepCopy()
		caps.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"SYS_ADMIN"}
		_, err = jobs.Create(t.Context(), job(caps, labels), dry)
		refused(t, err)
		hostPID := *analyzer.DeepCopy()
		hostPID.HostPID = true
		_, err = jobs.Create(t.Context(), job(hostPID, labels), dry)
		refused(t, err)
		rw := *analyzer.DeepCopy()
		rw.Containers[0].VolumeMounts[0].ReadOnly = false
		_, err = jobs.Create(t.Context(), job(rw, labels), dry)
		refused(t, err)
		nolimit := *analyzer.DeepCopy()
		delete(nolimit.Containers[0].Resources.Limits, corev1.ResourceCPU)
		_, err = jobs.Create(t.Context(), job(nolimit, labels), dry)
		refused(t, err)
		_, err = jobs.Create(t.Context(), job(analyzer, map[string]string{"app": "anything"}), dry)
		refused(t, err)
	})
	t.Run("podsleuth's real collector and cleaner work as the responder", func(t *testing.T) {
		victimNS := namespace(t, "e2e-adm")
		runPod(t, busyboxPod(victimNS, "victim", realNode, `while true; do sleep 1; done`, nil))
		res, err := resp.Checkpoint(t.Context(), cluster.Target{Namespace: victimNS, Pod: "victim", Container: "app"}, time.Minute)
		require.NoError(t, err)
		st, err := evidence.Open(t.TempDir())
		require.NoError(t, err)
		// by tag: the policy refuses the collector, and the pull says so
		_, err = resp.Pull(t.Context(), res, cluster.PullOptions{Namespace: ns, Image: testImage, Store: st})
		require.Error(t, err)
		require.Contains(t, err.Error(), "podsleuth-workloads")
		item, err := resp.Pull(t.Context(), res, cluster.PullOptions{Namespace: ns, Image: pinned, Store: st, DeleteFromNode: true})
		require.NoError(t, err)
		require.Equal(t, item.Manifest.NodeSHA256, item.Manifest.LocalSHA256)
		evs, err := st.Custody(item.ID)
		require.NoError(t, err)
		require.Equal(t, evidence.ActionNodeDeleted, evs[len(evs)-1].Action, "the cleaner ran")
		noCollectors(t, ns)
	})
}

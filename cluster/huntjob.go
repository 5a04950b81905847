package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/podsleuth/podsleuth/forensics/hunt"
)

// Analyzer names and labels. The admission policy of docs/rbac.yaml admits a Job's pod template
// in podsleuth's namespace as "analyzer" by LabelName=AnalyzerName.
const (
	AnalyzerName = "podsleuth-analyzer"
	// LabelHunt carries the hunt's ID on its Jobs and their pods.
	LabelHunt = "podsleuth.io/hunt"
	// analyzerScratch is the analyzer's writable emptyDir (decompressed archives, rule files).
	analyzerScratch = "/tmp"
	labelJobName    = "batch.kubernetes.io/job-name"
)

// Hunt failure classes (errors.Is), besides the checkpoint's CheckpointError classes.
var (
	// ErrAnalyzer: the node's analyzer Job did not run (image not pullable, not admitted, the
	// Job controller not running, the pod failed or was evicted and not replaced in time).
	ErrAnalyzer = errors.New("analyzer did not run on the node")
	// ErrResultStream: the analysis ran but its result did not come back whole.
	ErrResultStream = errors.New("result stream cut")
	// ErrAnalysis: the analyzer reported that it could not analyse the archive.
	ErrAnalysis = errors.New("analysis failed on the node")
	// ErrInterrupted: the hunt was stopped before this container's turn.
	ErrInterrupted = errors.New("hunt interrupted")
)

// analyzerJob is the node's analyzer: pinned to the node, the checkpoint directory read-only,
// an emptyDir for scratch, no token, no capabilities, a read-only root filesystem, CPU and memory
// limits, the image by digest. It runs as uid 0 because the kubelet writes archives 0600 root
// (no capability is needed to read as their owner); non-root would need CAP_DAC_READ_SEARCH.
func analyzerJob(ns, huntID, node string, cfg *HuntConfig, targets int) *batchv1.Job {
	sum := sha256.Sum256([]byte(node))
	name := fmt.Sprintf("podsleuth-analyzer-%s-%s", huntID[len(huntID)-8:], hex.EncodeToString(sum[:4]))
	labels := map[string]string{
		LabelManagedBy: ManagedBy, LabelName: AnalyzerName, LabelHunt: huntID,
		"app.kubernetes.io/component": "analyzer",
	}
	// the Job's own bound: every archive's budget plus its checkpoint, and the start
	budget := time.Duration(targets)*(cfg.TimeoutPerArchive+cfg.CheckpointTimeout+time.Minute) + 10*time.Minute
	// A node's next archive may wait long for the cluster-wide bound (a big fleet), so the
	// agent's idle exit (for a hunt whose client died) is the Job's own bound.
	idle := budget
	mem := cfg.Memory
	gomem := mem.Value() * 85 / 100 // the Go GC keeps the heap under the cgroup's limit
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels,
			Annotations: map[string]string{"podsleuth.io/node": node}},
		Spec: batchv1.JobSpec{
			// an evicted pod is replaced by the Job controller; the hunt finds the new one
			BackoffLimit:            ptr.To[int32](2),
			ActiveDeadlineSeconds:   ptr.To(int64(budget / time.Second)),
			TTLSecondsAfterFinished: ptr.To[int32](300),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeName:                      node,
					RestartPolicy:                 corev1.RestartPolicyNever,
					AutomountServiceAccountToken:  ptr.To(false),
					EnableServiceLinks:            ptr.To(false),
					TerminationGracePeriodSeconds: ptr.To[int64](2),
					Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					SecurityContext:               &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					Containers: []corev1.Container{{
						Name:            "analyzer",
						Image:           cfg.Image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Command: []string{cfg.AgentPath, "hunt-agent", "serve", "--dir", mountPath, "--cache", analyzerScratch,
							"--idle", idle.String()},
						Env: []corev1.EnvVar{{Name: "GOMEMLIMIT", Value: strconv.FormatInt(gomem, 10)}},
						SecurityContext: &corev1.SecurityContext{
							RunAsUser:                ptr.To[int64](0),
							RunAsNonRoot:             ptr.To(false),
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							Privileged:               ptr.To(false),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
							SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceCPU: cfg.CPU, corev1.ResourceMemory: mem},
						},
						VolumeMounts: []corev1.VolumeMount{
							{Name: "checkpoints", MountPath: mountPath, ReadOnly: true},
							{Name: "scratch", MountPath: analyzerScratch},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "checkpoints", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
							Path: cfg.CheckpointDir, Type: ptr.To(corev1.HostPathDirectory)}}},
						{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(cfg.Scratch)}}},
					},
				},
			},
		},
	}
}

// analyzer is one node's running analyzer Job.
type analyzer struct {
	c        *Conn
	ns, job  string
	node     string
	pod      string
	agent    string
	timeout  time.Duration
	start    time.Duration
	created  bool
	uid      string
	requests int
}

// startAnalyzer creates the node's Job and waits until its pod runs.
func (c *Conn) startAnalyzer(ctx context.Context, job *batchv1.Job, cfg *HuntConfig) (*analyzer, error) {
	a := &analyzer{c: c, ns: job.Namespace, job: job.Name, node: job.Spec.Template.Spec.NodeName, agent: cfg.AgentPath,
		timeout: cfg.TimeoutPerArchive, start: cfg.StartTimeout}
	// a create cancelled on the client may still land on the server: bounded, not cancelled
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	created, err := c.Client.BatchV1().Jobs(a.ns).Create(cctx, job, metav1.CreateOptions{})
	cancel()
	if err != nil {
		switch {
		case apierrors.IsForbidden(err):
			return a, fmt.Errorf("%w: create the analyzer Job in %s: %w: %s (bind the Role podsleuth-analyzer of docs/rbac.yaml; its admission policy must admit the analyzer's pod template)", ErrAnalyzer, a.ns, ErrForbidden, apiMessage(err))
		case apierrors.IsInvalid(err):
			return a, fmt.Errorf("%w: the API server refused the analyzer Job: %s", ErrAnalyzer, apiMessage(err))
		}
		return a, fmt.Errorf("%w: create the analyzer Job in %s: %v", ErrAnalyzer, a.ns, classify(err))
	}
	a.created, a.uid = true, string(created.UID)
	if err := a.waitPod(ctx); err != nil {
		return a, err
	}
	return a, nil
}

// waitPod finds the Job's running pod (after an eviction, its replacement).
func (a *analyzer) waitPod(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, a.start)
	defer cancel()
	pods := a.c.Client.CoreV1().Pods(a.ns)
	sel := metav1.ListOptions{LabelSelector: labelJobName + "=" + a.job}
	for {
		l, err := pods.List(wctx, sel)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if wctx.Err() != nil {
				break
			}
			return fmt.Errorf("%w: list the analyzer's pods: %v", ErrAnalyzer, classify(err))
		}
		for _, p := range l.Items {
			if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
				continue
			}
			_, err := WaitRunning(ctx, a.c.Client, a.ns, p.Name, a.start)
			if err == nil {
				a.pod = p.Name
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if IsImageError(err) {
				return fmt.Errorf("%w: %v (the analyzer image %s must be pullable on node %s: push it to a registry the nodes reach, docs/hunt.md)", ErrAnalyzer, err, p.Spec.Containers[0].Image, a.node)
			}
			return fmt.Errorf("%w: %v", ErrAnalyzer, err)
		}
		// no pod yet: wait for the Job controller's create
		w, err := pods.Watch(wctx, metav1.ListOptions{LabelSelector: sel.LabelSelector, ResourceVersion: l.ResourceVersion})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if wctx.Err() != nil {
				break
			}
			return fmt.Errorf("%w: watch the analyzer's pods: %v", ErrAnalyzer, classify(err))
		}
		func() {
			defer w.Stop()
			for {
				select {
				case <-wctx.Done():
					return
				case ev, ok := <-w.ResultChan():
					if !ok || ev.Type == watch.Added || ev.Type == watch.Modified || ev.Type == watch.Error {
						return
					}
				}
			}
		}()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if wctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("%w: no running analyzer pod for Job %s/%s after %s (is the Job controller of kube-controller-manager running? kubectl -n %s describe job %s)",
		ErrAnalyzer, a.ns, a.job, a.start, a.ns, a.job)
}

// analyze runs `hunt-agent analyze` in the analyzer pod for one archive: the request on stdin,
// one result line on stdout. A cut stream is tried once more (the analysis is idempotent),
// on the Job's replacement pod when the first one is gone.
func (a *analyzer) analyze(ctx context.Context, req *hunt.Request) (*hunt.Result, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var last error
	for attempt := 0; attempt < 2; attempt++ {
		if attempt > 0 {
			if err := a.waitPod(ctx); err != nil {
				return nil, fmt.Errorf("%w: %v (first attempt: %v)", ErrResultStream, err, last)
			}
		}
		res, err := a.once(ctx, body)
		if err == nil {
			a.requests++
			return res, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		last = err
	}
	return nil, fmt.Errorf("%w: %v", ErrResultStream, last)
}

func (a *analyzer) once(ctx context.Context, body []byte) (*hunt.Result, error) {
	ectx, cancel := context.WithTimeout(ctx, a.timeout+time.Minute)
	defer cancel()
	out := &limitedBuffer{max: hunt.MaxResultBytes + 1}
	err := Exec(ectx, a.c.Client, a.c.Config, a.ns, a.pod, ExecOptions{Container: "analyzer",
		Command: []string{a.agent, "hunt-agent", "analyze", "--dir", mountPath, "--cache", analyzerScratch},
		Stdin:   bytes.NewReader(body), Stdout: out})
	if err != nil {
		if ectx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			return nil, fmt.Errorf("no result within the time budget per archive (%s) and a minute", a.timeout)
		}
		return nil, fmt.Errorf("exec in %s/%s: %v", a.ns, a.pod, err)
	}
	if out.over {
		return nil, fmt.Errorf("the analyzer's output is larger than %d bytes", hunt.MaxResultBytes)
	}
	return hunt.DecodeResult(out.Bytes())
}

// stop deletes the Job and its pods (background propagation, and the pods directly so that
// nothing waits for the garbage collector), with a fresh bounded context.
func (a *analyzer) stop(ctx context.Context) error {
	if a == nil || !a.created {
		return nil
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DeleteTimeout)
	defer cancel()
	err := a.c.Client.BatchV1().Jobs(a.ns).Delete(dctx, a.job, metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationBackground), GracePeriodSeconds: ptr.To[int64](0)})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete analyzer Job %s/%s: %w (delete it by hand: label %s)", a.ns, a.job, classify(err), LabelHunt)
	}
	l, err := a.c.Client.CoreV1().Pods(a.ns).List(dctx, metav1.ListOptions{LabelSelector: labelJobName + "=" + a.job})
	if err != nil {
		return fmt.Errorf("list analyzer pods of %s/%s: %w", a.ns, a.job, classify(err))
	}
	var errs []error
	for _, p := range l.Items {
		if err := DeletePod(dctx, a.c.Client, a.ns, p.Name, true); err != nil {
			errs = append(errs, fmt.Errorf("delete analyzer pod %s/%s: %w", a.ns, p.Name, err))
		}
	}
	return errors.Join(errs...)
}

// limitedBuffer keeps at most max bytes and says when more came.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		b.over = true
		return 0, io.ErrShortWrite
	}
	return b.Buffer.Write(p)
}

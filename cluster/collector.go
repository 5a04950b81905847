package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// CollectorOptions configure a CollectorPool.
type CollectorOptions struct {
	// Namespace of the collector pods (config cluster.collector_namespace); created if missing.
	Namespace string
	// Image of the collector pods: it needs sh, cat, tail, stat and sha256sum (busybox has them).
	Image string
	// CheckpointDir is the kubelets' checkpoint directory (config cluster.kubelet_checkpoint_dir):
	// Prestart mounts it before the kubelet has named the archive.
	CheckpointDir string
	// StartTimeout bounds the wait for a collector to run (default 2 min: image pull).
	StartTimeout time.Duration
}

// CollectorPool starts the collector pods of one run and shares them between its pulls: one pod
// per node and checkpoint directory, deleted by Close.
//
// A pod with a volume starts no sooner than about 0.3 s after the kubelet sees it, because the
// kubelet's volume manager polls the mounts every 300 ms (pkg/kubelet/volumemanager); here a
// collector took 0.55-0.65 s to run against 0.25-0.35 s for the same pod without its hostPath.
// Prestart hides that behind the checkpoint itself, which takes longer (1.4 s for 256 MiB).
type CollectorPool struct {
	c      *Conn
	o      CollectorOptions
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // start goroutines

	nsOnce sync.Once
	nsErr  error

	mu     sync.Mutex
	pods   map[collectorKey]*collector
	closed bool
}

type collectorKey struct{ node, dir string }

// collector is one collector pod; ready closes once it runs or failed to (err).
type collector struct {
	ns, name string
	began    time.Time
	ready    chan struct{}
	// set before ready closes
	err     error
	running time.Time
	created bool
}

// NewCollectorPool makes an empty pool; ctx bounds every start (Close cancels them too).
func (c *Conn) NewCollectorPool(ctx context.Context, o CollectorOptions) *CollectorPool {
	if o.StartTimeout <= 0 {
		o.StartTimeout = 2 * time.Minute
	}
	pctx, cancel := context.WithCancel(ctx)
	return &CollectorPool{c: c, o: o, ctx: pctx, cancel: cancel, pods: map[collectorKey]*collector{}}
}

// Prestart starts the collector for node in the configured checkpoint directory, unless it is
// already starting, and returns at once. It does nothing in read-only mode, without a configured
// directory, or after Close. When the kubelet then names an archive in another directory, the
// pull starts a collector for that one and this one is deleted by Close.
func (p *CollectorPool) Prestart(node string) {
	if p == nil || p.c.Readonly || node == "" || p.o.CheckpointDir == "" {
		return
	}
	p.start(node, p.o.CheckpointDir)
}

// get waits for the collector of node and dir, starting it when needed.
func (p *CollectorPool) get(ctx context.Context, node, dir string) (*collector, error) {
	k := p.start(node, dir)
	select {
	case <-k.ready:
		return k, k.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *CollectorPool) start(node, dir string) *collector {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := collectorKey{node, dir}
	if k := p.pods[key]; k != nil {
		return k
	}
	pod := collectorPod(p.o.Namespace, node, dir, p.o.Image, true, []string{"sleep", "3600"})
	k := &collector{ns: p.o.Namespace, name: pod.Name, began: time.Now(), ready: make(chan struct{})}
	if p.closed {
		k.err = fmt.Errorf("%w: the run is over (collector pool closed)", ErrCollector)
		close(k.ready)
		return k
	}
	p.pods[key] = k
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		k.err = p.run(k, pod)
		k.running = time.Now()
		close(k.ready)
	}()
	return k
}

func (p *CollectorPool) run(k *collector, pod *corev1.Pod) error {
	p.nsOnce.Do(func() { p.nsErr = p.c.ensureNamespace(p.ctx, p.o.Namespace) })
	if p.nsErr != nil {
		return p.nsErr
	}
	if err := p.ctx.Err(); err != nil {
		return err
	}
	// Close does not abort a create: a create cancelled on the client may still land on the
	// server after Close's delete. Bounded instead, and Close waits for it.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), 30*time.Second)
	_, err := p.c.Client.CoreV1().Pods(k.ns).Create(cctx, pod, metav1.CreateOptions{})
	cancel()
	if err != nil {
		return fmt.Errorf("create collector pod in %s: %w", k.ns, collectorCreateError(err, k.ns))
	}
	k.created = true
	return p.c.waitRunning(p.ctx, k.ns, k.name, p.o.StartTimeout)
}

// Close stops the starts still waiting and deletes every collector pod of the pool, with a fresh
// context (the caller's may be the cancelled one of a Ctrl-C). It is safe to call twice.
func (p *CollectorPool) Close() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for key, k := range p.pods {
		if k.created {
			if err := p.c.deletePod(k.ns, k.name); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		delete(p.pods, key)
	}
	return errors.Join(errs...)
}

// collectorPod builds the collector: pinned to the node, the checkpoint directory only,
// read-only unless it is the cleaner, no token, no capabilities, short-lived.
func collectorPod(ns, node, dir, image string, readOnly bool, cmd []string) *corev1.Pod {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	role, deadline := "collector", int64(3600)
	if !readOnly {
		role, deadline = "cleaner", 120
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("podsleuth-%s-%s", role, hex.EncodeToString(suffix)),
			Namespace: ns,
			Labels: map[string]string{
				LabelManagedBy: ManagedBy, LabelName: CollectorName,
				"app.kubernetes.io/component": role,
			},
			Annotations: map[string]string{"podsleuth.dev/node-dir": dir},
		},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			// a forgotten collector removes itself after an hour, a cleaner (the only pod with the
			// checkpoint directory writable, running one fixed rm) after two minutes
			ActiveDeadlineSeconds: ptr.To[int64](deadline),
			Tolerations:           []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name:            "collector",
				Image:           image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         cmd,
				// The kubelet writes archives 0600 root: uid 0 reads them as their owner, with
				// every capability dropped (no CAP_DAC_OVERRIDE needed).
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
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "checkpoints", MountPath: mountPath, ReadOnly: readOnly}},
			}},
			Volumes: []corev1.Volume{{
				Name: "checkpoints",
				VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
					Path: dir, Type: ptr.To(corev1.HostPathDirectory),
				}},
			}},
		},
	}
}

func collectorCreateError(err error, ns string) error {
	if msg := apiMessage(err); strings.Contains(msg, "ValidatingAdmissionPolicy") {
		// docs/rbac.yaml's policy: the image or the node's checkpoint directory is not the one
		// the cluster's podsleuth-admission ConfigMap lists
		return fmt.Errorf("%w: refused by an admission policy in namespace %s: %s (set cluster.collector_image to an image the podsleuth-admission ConfigMap lists, pinned by digest; its checkpointDir must be the kubelets' <root-dir>/checkpoints)", ErrCollector, ns, msg)
	}
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%w: missing permission create on pods in namespace %s (%s); bind the Role podsleuth-collector (docs/rbac.yaml)", ErrForbidden, ns, apiMessage(err))
	}
	if errors.Is(err, ErrReadonly) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrCollector, err)
}

// ensureNamespace creates the collector namespace (and its default ServiceAccount) when it is
// missing.
func (c *Conn) ensureNamespace(ctx context.Context, ns string) error {
	_, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err == nil || apierrors.IsForbidden(err) {
		// forbidden to read namespaces: assume the admin created it (docs/rbac.yaml does)
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("collector namespace %s: %w", ns, classify(err))
	}
	_, err = c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   ns,
		Labels: map[string]string{LabelManagedBy: ManagedBy, "pod-security.kubernetes.io/enforce": "privileged"},
	}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		if apierrors.IsForbidden(err) {
			return fmt.Errorf("%w: namespace %s does not exist and you may not create it; apply docs/rbac.yaml (it creates it) or set cluster.collector_namespace", ErrForbidden, ns)
		}
		return fmt.Errorf("create collector namespace %s: %w", ns, err)
	}
	// Pods need the default ServiceAccount, which the controller-manager creates a moment later
	// (and a cluster without one never does): create it now; the controller's own create then
	// finds it.
	_, err = c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err == nil || apierrors.IsAlreadyExists(err) {
		return nil
	}
	if !apierrors.IsForbidden(err) {
		return fmt.Errorf("collector namespace %s: create its default ServiceAccount: %w", ns, classify(err))
	}
	// not allowed to: wait for the controller-manager's
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, gerr := c.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); gerr == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: collector namespace %s has no default ServiceAccount yet and you may not create it (%s)", ErrForbidden, ns, apiMessage(err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitRunning waits for the collector to run (WaitRunning), its failures as ErrCollector.
func (c *Conn) waitRunning(ctx context.Context, ns, name string, timeout time.Duration) error {
	_, err := WaitRunning(ctx, c.Client, ns, name, timeout)
	if err == nil || ctx.Err() != nil {
		return err
	}
	if IsImageError(err) {
		return fmt.Errorf("%w: %v (set cluster.collector_image / --collector-image to an image the node can run)", ErrCollector, err)
	}
	return fmt.Errorf("%w: %v", ErrCollector, err)
}

// exec runs cmd in the collector, stdout into out (Exec).
func (c *Conn) exec(ctx context.Context, ns, pod string, cmd []string, out io.Writer) error {
	return Exec(ctx, c.Client, c.Config, ns, pod, ExecOptions{Container: "collector", Command: cmd, Stdout: out})
}

// deletePod deletes a collector pod at once with a fresh bounded context (the caller's may be
// cancelled already).
func (c *Conn) deletePod(ns, name string) error {
	if err := DeletePod(context.Background(), c.Client, ns, name, false); err != nil {
		return fmt.Errorf("delete collector pod %s/%s: %w (delete it by hand: label %s=%s)", ns, name, err, LabelManagedBy, ManagedBy)
	}
	return nil
}

// MaxCleanBatch is the most archives one cleaner pod removes (docs/rbac.yaml admits 1 to 16).
const MaxCleanBatch = 16

// deleteFromNode removes archives of one directory from the node with a one-shot pod that
// mounts the checkpoint directory read-write and runs one fixed rm of the named files.
func (c *Conn) deleteFromNode(ctx context.Context, o PullOptions, node, dir string, bases ...string) error {
	if len(bases) == 0 || len(bases) > MaxCleanBatch {
		return fmt.Errorf("%w: a cleaner removes 1 to %d archives, not %d", ErrCollector, MaxCleanBatch, len(bases))
	}
	cmd := []string{"rm", "-f", "--"}
	for _, b := range bases {
		cmd = append(cmd, path.Join(mountPath, b))
	}
	pod := collectorPod(o.Namespace, node, dir, o.Image, false, cmd)
	created, err := c.Client.CoreV1().Pods(o.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return collectorCreateError(err, o.Namespace)
	}
	defer func() { _ = c.deletePod(o.Namespace, created.Name) }()
	if _, err := WaitCompleted(ctx, c.Client, o.Namespace, created.Name, o.StartTimeout); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("%w: rm on the node: %v", ErrCollector, err)
	}
	return nil
}

// Collectors lists podsleuth's pods in a namespace (tests and `podsleuth checkpoint` use it to
// prove nothing is left behind).
func (c *Conn) Collectors(ctx context.Context, ns string) ([]string, error) {
	l, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedBy})
	if err != nil {
		return nil, classify(err)
	}
	var names []string
	for _, p := range l.Items {
		names = append(names, p.Name)
	}
	return names, nil
}

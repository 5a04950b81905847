package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Checkpoint failure classes (errors.Is). The message of each CheckpointError says which one
// and how to fix it.
var (
	// ErrGateOff: the kubelet has no checkpoint endpoint (feature gate ContainerCheckpoint off).
	ErrGateOff = errors.New("kubelet checkpoint API disabled")
	// ErrNoSuchPod: the pod does not exist (in the API server or on the kubelet).
	ErrNoSuchPod = errors.New("no such pod")
	// ErrNoSuchContainer: the pod has no container of that name.
	ErrNoSuchContainer = errors.New("no such container")
	// ErrNotRunning: the container is not running (nothing to checkpoint).
	ErrNotRunning = errors.New("container not running")
	// ErrRuntime: the container runtime or CRIU failed the dump (HTTP 500).
	ErrRuntime = errors.New("checkpoint failed in the container runtime")
	// ErrTimeout: no answer within the checkpoint timeout.
	ErrTimeout = errors.New("checkpoint timed out")
	// ErrNodeUnreachable: the API server could not reach the node's kubelet.
	ErrNodeUnreachable = errors.New("node unreachable")
)

// Target is one container to checkpoint.
type Target struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	Container string `json:"container"`
}

func (t Target) String() string { return t.Namespace + "/" + t.Pod + "/" + t.Container }

// CheckpointResult is what a successful checkpoint produced and what the manifest records.
type CheckpointResult struct {
	Target
	Node           string `json:"node"`
	PodUID         string `json:"pod_uid"`
	ContainerID    string `json:"container_id"`
	Image          string `json:"image"`
	ImageDigest    string `json:"image_digest,omitempty"`
	PodSpecHash    string `json:"pod_spec_hash"`
	KubeletVersion string `json:"kubelet_version,omitempty"`
	Runtime        string `json:"runtime,omitempty"`
	// NodePath is the archive's path on the node, from the kubelet's reply.
	NodePath string `json:"node_path"`
	// KubeletResponse is the kubelet's reply, verbatim.
	KubeletResponse json.RawMessage `json:"kubelet_response"`
	Requested       time.Time       `json:"requested"`
	Completed       time.Time       `json:"completed"`
	// Attempts is how many checkpoint requests it took: 2 when the runtime could not freeze the
	// container the first time (freezeFailed), a transient failure after which runc thaws the
	// container and writes nothing.
	Attempts int `json:"attempts,omitempty"`
}

// freezeAttempts bounds the checkpoint requests of one container when the runtime reports that
// it could not freeze it; freezeRetryWait is the pause between them.
const (
	freezeAttempts  = 2
	freezeRetryWait = time.Second
)

// freezeFailed says the runtime could not freeze the container's cgroup in time (runc's
// "unable to freeze": under load the cgroup v1 freezer gives up while tasks are still running).
// runc thaws the container and no archive is written, so one more request is safe.
func freezeFailed(err error) bool {
	var ce *CheckpointError
	return errors.As(err, &ce) && errors.Is(ce.Class, ErrRuntime) && strings.Contains(ce.Detail, "unable to freeze")
}

// CheckpointError is a failed checkpoint, classified (Unwrap gives the class) with the fix.
type CheckpointError struct {
	Target Target
	Node   string
	Class  error
	Status int    // HTTP status, 0 when no answer
	Detail string // the kubelet's/runtime's own text, or what went wrong
	Fix    string
}

func (e *CheckpointError) Error() string {
	s := fmt.Sprintf("checkpoint %s", e.Target)
	if e.Node != "" {
		s += " on node " + e.Node
	}
	s += ": " + e.Class.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Fix != "" {
		s += " (fix: " + e.Fix + ")"
	}
	return s
}

func (e *CheckpointError) Unwrap() error { return e.Class }

// Resolve expands a request into targets: one container, all containers of a pod, or every
// running pod matching a label selector (then pod may be empty). Containers default to the
// pod's kubectl.kubernetes.io/default-container annotation, else its only container.
func (c *Conn) Resolve(ctx context.Context, ns, pod, container string, allContainers bool, selector string) ([]Target, error) {
	var pods []corev1.Pod
	if selector != "" {
		l, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return nil, fmt.Errorf("list pods %s -l %s: %w", ns, selector, classify(err))
		}
		if len(l.Items) == 0 {
			return nil, fmt.Errorf("%w: no pod in namespace %s matches %q", ErrNoSuchPod, ns, selector)
		}
		pods = l.Items
		sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	} else {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("%w: pod %s/%s does not exist (check the namespace with -n)", ErrNoSuchPod, ns, pod)
			}
			return nil, fmt.Errorf("get pod %s/%s: %w", ns, pod, classify(err))
		}
		pods = []corev1.Pod{*p}
	}
	var ts []Target
	for i := range pods {
		p := &pods[i]
		switch {
		case allContainers || (selector != "" && container == ""):
			for _, ct := range p.Spec.Containers {
				ts = append(ts, Target{p.Namespace, p.Name, ct.Name})
			}
		case container != "":
			if !hasContainer(p, container) {
				return nil, fmt.Errorf("%w: pod %s/%s has no container %q (it has: %s)", ErrNoSuchContainer, p.Namespace, p.Name, container, strings.Join(containerNames(p), ", "))
			}
			ts = append(ts, Target{p.Namespace, p.Name, container})
		default:
			name := p.Annotations["kubectl.kubernetes.io/default-container"]
			if name == "" && len(p.Spec.Containers) == 1 {
				name = p.Spec.Containers[0].Name
			}
			if name == "" {
				return nil, fmt.Errorf("pod %s/%s has %d containers: choose one with -c (%s) or use --all-containers",
					p.Namespace, p.Name, len(p.Spec.Containers), strings.Join(containerNames(p), ", "))
			}
			ts = append(ts, Target{p.Namespace, p.Name, name})
		}
	}
	return ts, nil
}

func containerNames(p *corev1.Pod) []string {
	var n []string
	for _, c := range p.Spec.Containers {
		n = append(n, c.Name)
	}
	return n
}

// hasContainer reports whether the pod has a container, init container or ephemeral container
// of that name (the kubelet checkpoints any of them).
func hasContainer(p *corev1.Pod, name string) bool {
	for _, c := range p.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range p.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

func containerStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, l := range [][]corev1.ContainerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses, p.Status.EphemeralContainerStatuses} {
		for i := range l {
			if l[i].Name == name {
				return &l[i]
			}
		}
	}
	return nil
}

// podSpecHash is the SHA-256 of the pod spec's JSON as the API server returned it.
func podSpecHash(p *corev1.Pod) string {
	b, err := json.Marshal(p.Spec)
	if err != nil {
		return ""
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// imageDigest takes the digest out of a container status's imageID ("repo@sha256:...").
func imageDigest(imageID string) string {
	if i := strings.LastIndex(imageID, "@"); i >= 0 {
		return imageID[i+1:]
	}
	if strings.HasPrefix(imageID, "sha256:") {
		return imageID
	}
	return ""
}

// Checkpoint asks the kubelet of the target's node, through the API server's node proxy, to
// checkpoint the container (POST /api/v1/nodes/{node}/proxy/checkpoint/{ns}/{pod}/{container}
// ?timeout=N). The container keeps running. timeout is passed to the kubelet (whole seconds)
// and bounds the wait here too, plus a margin for the API server's proxying.
func (c *Conn) Checkpoint(ctx context.Context, t Target, timeout time.Duration) (*CheckpointResult, error) {
	return c.CheckpointWith(ctx, t, timeout, nil)
}

// CheckpointWith is Checkpoint that, once the pod's node is known and before the kubelet is
// asked, prestarts the pool's collector on that node, so that the collector starts while the
// kubelet checkpoints and the pull that follows finds it running.
func (c *Conn) CheckpointWith(ctx context.Context, t Target, timeout time.Duration, pool *CollectorPool) (*CheckpointResult, error) {
	if c.Readonly {
		return nil, &CheckpointError{Target: t, Class: ErrReadonly, Detail: "a checkpoint writes an archive on the node", Fix: "drop --readonly (or readonly: false in the config)"}
	}
	res, err := c.describe(ctx, t)
	if err != nil {
		return nil, err
	}
	pool.Prestart(res.Node)
	secs := int64(timeout / time.Second)
	if secs < 1 {
		secs = 1
	}
	margin := timeout / 4
	margin = max(time.Second, min(margin, 15*time.Second))
	var (
		body   []byte
		status int
	)
	for attempt := 1; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+margin)
		res.Requested = time.Now().UTC()
		result := c.Client.CoreV1().RESTClient().Post().
			Resource("nodes").Name(res.Node).SubResource("proxy").
			Suffix("checkpoint", t.Namespace, t.Pod, t.Container).
			Param("timeout", strconv.FormatInt(secs, 10)).
			Do(rctx)
		b, err := result.Raw()
		res.Completed = time.Now().UTC()
		status = 0
		result.StatusCode(&status)
		if err == nil {
			cancel()
			body, res.Attempts = b, attempt
			break
		}
		var se apierrors.APIStatus
		if status == 0 && errors.As(err, &se) {
			status = int(se.Status().Code)
		}
		cerr := c.checkpointError(ctx, rctx, t, res.Node, status, err, b, secs)
		cancel()
		if attempt >= freezeAttempts || !freezeFailed(cerr) || ctx.Err() != nil {
			return nil, cerr
		}
		select { // the runtime thawed the container and wrote nothing: ask once more
		case <-time.After(freezeRetryWait):
		case <-ctx.Done():
			return nil, cerr
		}
	}
	var reply struct {
		Items []string `json:"items"`
	}
	if err := json.Unmarshal(body, &reply); err != nil || len(reply.Items) == 0 || reply.Items[0] == "" {
		return nil, &CheckpointError{Target: t, Node: res.Node, Class: ErrRuntime, Status: status, Detail: fmt.Sprintf("the kubelet's reply names no archive: %q", truncate(string(body), 300)), Fix: "check the kubelet and runtime logs on the node"}
	}
	res.NodePath = reply.Items[0]
	res.KubeletResponse = json.RawMessage(body)
	return res, nil
}

// Existing describes an archive that is already on the node (e.g. from an earlier checkpoint
// or kubectl checkpoint, which answers with a node and a path) so that Pull can fetch it with
// the pod's identity in the manifest. Nothing is sent to the kubelet.
func (c *Conn) Existing(ctx context.Context, t Target, nodePath string) (*CheckpointResult, error) {
	res, err := c.describe(ctx, t)
	if err != nil {
		return nil, err
	}
	if _, _, err := splitNodePath(nodePath); err != nil {
		return nil, err
	}
	res.NodePath = nodePath
	return res, nil
}

// describe looks the target up: pod, node, container status, image, spec hash.
func (c *Conn) describe(ctx context.Context, t Target) (*CheckpointResult, error) {
	pod, err := c.Client.CoreV1().Pods(t.Namespace).Get(ctx, t.Pod, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &CheckpointError{Target: t, Class: ErrNoSuchPod, Status: 404, Detail: fmt.Sprintf("pod %s/%s does not exist", t.Namespace, t.Pod), Fix: "check the name and the namespace (-n)"}
		}
		if apierrors.IsForbidden(err) {
			return nil, &CheckpointError{Target: t, Class: ErrForbidden, Status: 403, Detail: fmt.Sprintf("cannot get pods in namespace %s: %s", t.Namespace, apiMessage(err)), Fix: "grant get on pods (ClusterRole podsleuth-responder in docs/rbac.yaml)"}
		}
		return nil, fmt.Errorf("checkpoint %s: get pod: %w", t, classify(err))
	}
	res := &CheckpointResult{Target: t, Node: pod.Spec.NodeName, PodUID: string(pod.UID), PodSpecHash: podSpecHash(pod)}
	if !hasContainer(pod, t.Container) {
		return nil, &CheckpointError{Target: t, Node: res.Node, Class: ErrNoSuchContainer, Detail: fmt.Sprintf("pod %s/%s has no container %q (it has: %s)", t.Namespace, t.Pod, t.Container, strings.Join(containerNames(pod), ", ")), Fix: "pick a container with -c"}
	}
	if res.Node == "" {
		return nil, &CheckpointError{Target: t, Class: ErrNotRunning, Detail: "the pod is not scheduled to a node", Fix: "wait until it runs"}
	}
	st := containerStatus(pod, t.Container)
	if st == nil || st.State.Running == nil {
		state := "no status yet"
		if st != nil {
			state = describeState(st.State)
		}
		return nil, &CheckpointError{Target: t, Node: res.Node, Class: ErrNotRunning, Detail: state, Fix: "only a running container can be checkpointed"}
	}
	res.ContainerID, res.Image, res.ImageDigest = st.ContainerID, st.Image, imageDigest(st.ImageID)
	if n, err := c.Client.CoreV1().Nodes().Get(ctx, res.Node, metav1.GetOptions{}); err == nil {
		res.KubeletVersion, res.Runtime = n.Status.NodeInfo.KubeletVersion, n.Status.NodeInfo.ContainerRuntimeVersion
	}
	return res, nil
}

// checkpointError maps a failed node-proxy request to a CheckpointError.
func (c *Conn) checkpointError(ctx, rctx context.Context, t Target, node string, status int, err error, body []byte, secs int64) error {
	e := &CheckpointError{Target: t, Node: node, Status: status}
	text := apiMessage(err)
	// The API server's own errors (e.g. it cannot reach the kubelet) come as a Status body
	// that client-go keeps in the body but summarises in the error.
	var st metav1.Status
	if len(body) > 0 && json.Unmarshal(body, &st) == nil && st.Message != "" {
		text = st.Message
	}
	switch {
	case errors.Is(err, ErrReadonly):
		e.Class, e.Detail = ErrReadonly, err.Error()
	case rctx.Err() != nil && ctx.Err() == nil, isTimeout(err), status == 504:
		e.Class = ErrTimeout
		e.Detail = fmt.Sprintf("no answer from the kubelet within %ds (+margin): %s", secs, text)
		e.Fix = "a container with much memory takes longer: raise --timeout; the archive may still appear on the node"
	case ctx.Err() != nil:
		return fmt.Errorf("checkpoint %s: %w", t, ctx.Err())
	case apierrors.IsUnauthorized(err):
		e.Class, e.Detail, e.Fix = ErrUnauthorized, text, "refresh your credentials"
	case apierrors.IsForbidden(err):
		e.Class = ErrForbidden
		e.Detail = fmt.Sprintf("missing permission create on nodes/proxy (node %s): %s", node, text)
		e.Fix = "bind the ClusterRole podsleuth-responder (docs/rbac.yaml) or grant create on nodes/proxy"
	case status == 404:
		switch {
		case strings.Contains(text, "pod does not exist"):
			e.Class, e.Detail = ErrNoSuchPod, fmt.Sprintf("the kubelet on %s does not know pod %s/%s (kubelet: %q)", node, t.Namespace, t.Pod, text)
			e.Fix = "the pod was deleted or moved meanwhile; list pods again"
		case strings.Contains(text, "container") && strings.Contains(text, "does not exist"):
			e.Class, e.Detail = ErrNoSuchContainer, fmt.Sprintf("the kubelet on %s does not know container %q (kubelet: %q)", node, t.Container, text)
			e.Fix = "pick a container of the pod with -c"
		default:
			// The kubelet registers /checkpoint only with the ContainerCheckpoint gate (beta and
			// on by default since 1.30); a 404 for a pod and container that exist means it is off.
			pod, gerr := c.Client.CoreV1().Pods(t.Namespace).Get(ctx, t.Pod, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(gerr):
				e.Class, e.Detail, e.Fix = ErrNoSuchPod, fmt.Sprintf("pod %s/%s no longer exists", t.Namespace, t.Pod), "list pods again"
			case gerr == nil && !hasContainer(pod, t.Container):
				e.Class, e.Detail, e.Fix = ErrNoSuchContainer, fmt.Sprintf("pod %s/%s has no container %q", t.Namespace, t.Pod, t.Container), "pick a container with -c"
			default:
				e.Class = ErrGateOff
				e.Detail = fmt.Sprintf("the pod and container exist but the kubelet on %s has no /checkpoint endpoint (kubelet: %q)", node, strings.TrimSpace(text))
				e.Fix = "enable the kubelet feature gate ContainerCheckpoint (default on since Kubernetes 1.30) and use a runtime with checkpoint support (CRI-O >= 1.25, containerd >= 2.0 with enable_criu)"
			}
		}
	case status == 500:
		e.Class, e.Detail = ErrRuntime, text
		e.Fix = "the runtime's and CRIU's own words are above; CRIU's dump.log on the node has the details (devices such as GPUs, external unix sockets and some filesystems cannot be dumped)"
	case status == 502 || status == 503 || isConnError(err):
		e.Class, e.Detail = ErrNodeUnreachable, fmt.Sprintf("the API server could not reach the kubelet of node %s: %s", node, text)
		e.Fix = "check that the node is Ready and its kubelet port is reachable from the control plane"
	default:
		e.Class, e.Detail = ErrRuntime, fmt.Sprintf("HTTP %d: %s", status, text)
		e.Fix = "check the kubelet's and the runtime's logs on the node"
	}
	return e
}

// apiMessage returns the most specific text of an API error: for non-Status replies (the
// kubelet's plain-text errors) client-go keeps the body in the first cause.
func apiMessage(err error) string {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st := se.Status()
		if st.Details != nil {
			for _, c := range st.Details.Causes {
				if c.Type == metav1.CauseTypeUnexpectedServerResponse && c.Message != "" && c.Message != "unknown" {
					return strings.TrimSpace(c.Message)
				}
			}
		}
		if m := st.Message; m != "" {
			// "an error on the server (\"...\") has prevented the request from succeeding"
			if i, j := strings.Index(m, "(\""), strings.LastIndex(m, "\")"); i >= 0 && j > i {
				if s, err := strconv.Unquote(m[i+1 : j+1]); err == nil {
					return s
				}
			}
			return m
		}
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func isConnError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) || strings.Contains(err.Error(), "error trying to reach service")
}

func describeState(s corev1.ContainerState) string {
	switch {
	case s.Waiting != nil:
		return "waiting: " + s.Waiting.Reason
	case s.Terminated != nil:
		return fmt.Sprintf("terminated: %s (exit %d)", s.Terminated.Reason, s.Terminated.ExitCode)
	case s.Running != nil:
		return "running"
	}
	return "unknown state"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// CheckpointAll checkpoints targets with at most concurrency requests in flight. Results and
// errors are in the targets' order; a failure does not stop the others. done, when set, is
// called (one call at a time) as each checkpoint ends; pool, when set, prestarts collectors as
// CheckpointWith does.
func (c *Conn) CheckpointAll(ctx context.Context, ts []Target, timeout time.Duration, concurrency int, pool *CollectorPool, done func(i int, r *CheckpointResult, err error)) ([]*CheckpointResult, []error) {
	if concurrency < 1 {
		concurrency = 1
	}
	res := make([]*CheckpointResult, len(ts))
	errs := make([]error, len(ts))
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, t := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = fmt.Errorf("checkpoint %s: %w", t, ctx.Err())
				return
			}
			defer func() { <-sem }()
			res[i], errs[i] = c.CheckpointWith(ctx, t, timeout, pool)
			if done != nil {
				mu.Lock()
				done(i, res[i], errs[i])
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return res, errs
}

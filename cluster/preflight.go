package cluster

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Check outcomes.
const (
	CheckOK   = "ok"
	CheckFail = "fail"
	CheckWarn = "warn"
	CheckSkip = "skip"
)

// Check is one line of a preflight checklist.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
	Fix    string `json:"fix,omitempty"`
}

// PreflightReport says whether a checkpoint (and its pull) of a target would work, and why not.
type PreflightReport struct {
	Target         Target   `json:"target"`
	Node           string   `json:"node,omitempty"`
	User           string   `json:"user,omitempty"`
	KubeletVersion string   `json:"kubelet_version,omitempty"`
	Runtime        string   `json:"runtime,omitempty"`
	Checks         []Check  `json:"checks"`
	OK             bool     `json:"ok"`
	Failed         []string `json:"failed,omitempty"`
}

func (r *PreflightReport) add(c Check) {
	r.Checks = append(r.Checks, c)
	if c.Status == CheckFail {
		r.Failed = append(r.Failed, c.Name)
	}
}

// MinCheckpointKubelet is the first kubelet whose checkpoint API is on by default (the
// ContainerCheckpoint gate went beta, default on, in 1.30).
var MinCheckpointKubelet = [2]int{1, 30}

// Preflight checks, without changing anything, what a checkpoint of t and a pull into
// collectorNS need: RBAC (SelfSubjectAccessReview), the container running, the node's kubelet
// version and container runtime, read-only mode.
func (c *Conn) Preflight(ctx context.Context, t Target, collectorNS string) (*PreflightReport, error) {
	r := &PreflightReport{Target: t}
	if id, err := c.WhoAmI(ctx); err == nil {
		r.User = id.Username
		r.add(Check{Name: "identity", Status: CheckOK, Detail: fmt.Sprintf("%s (groups %s)", id.Username, strings.Join(id.Groups, ", "))})
	} else {
		r.add(Check{Name: "identity", Status: CheckWarn, Detail: err.Error()})
	}
	if c.Readonly {
		r.add(Check{Name: "read-only mode", Status: CheckFail, Detail: "--readonly refuses the checkpoint and the collector pod", Fix: "drop --readonly"})
	}

	// The pod and its container.
	pod, err := c.Client.CoreV1().Pods(t.Namespace).Get(ctx, t.Pod, metav1.GetOptions{})
	switch {
	case err == nil:
		r.add(Check{Name: "get pod", Status: CheckOK, Detail: t.Namespace + "/" + t.Pod})
	case apierrors.IsNotFound(err):
		r.add(Check{Name: "get pod", Status: CheckFail, Detail: fmt.Sprintf("pod %s/%s does not exist", t.Namespace, t.Pod), Fix: "check the name and the namespace (-n)"})
	case apierrors.IsForbidden(err):
		r.add(Check{Name: "get pod", Status: CheckFail, Detail: "missing permission get on pods in " + t.Namespace, Fix: "bind ClusterRole podsleuth-responder (docs/rbac.yaml)"})
	default:
		return nil, fmt.Errorf("preflight %s: get pod: %w", t, classify(err))
	}
	if pod != nil && err == nil {
		r.Node = pod.Spec.NodeName
		if t.Container == "" {
			if ts, err := c.Resolve(ctx, t.Namespace, t.Pod, "", false, ""); err == nil {
				t.Container, r.Target.Container = ts[0].Container, ts[0].Container
			}
		}
		r.add(containerCheck(pod, t.Container))
	}

	// The node: kubelet version and runtime.
	if r.Node != "" {
		node, err := c.Client.CoreV1().Nodes().Get(ctx, r.Node, metav1.GetOptions{})
		switch {
		case err == nil:
			r.KubeletVersion, r.Runtime = node.Status.NodeInfo.KubeletVersion, node.Status.NodeInfo.ContainerRuntimeVersion
			r.add(kubeletCheck(r.KubeletVersion))
			r.add(runtimeCheck(r.Runtime))
			r.add(nodeReadyCheck(node))
		case apierrors.IsForbidden(err):
			r.add(Check{Name: "kubelet version", Status: CheckSkip, Detail: "may not read nodes: version and runtime unknown", Fix: "grant get on nodes to check them"})
		default:
			r.add(Check{Name: "kubelet version", Status: CheckWarn, Detail: fmt.Sprintf("get node %s: %v", r.Node, err)})
		}
	}

	// RBAC, as the API server decides it.
	reviews := []struct {
		name string
		attr authzv1.ResourceAttributes
		why  string
		fix  string
	}{
		{"RBAC create nodes/proxy", authzv1.ResourceAttributes{Verb: "create", Resource: "nodes", Subresource: "proxy", Name: r.Node}, "the checkpoint (POST .../proxy/checkpoint)", "ClusterRole podsleuth-responder"},
		{"RBAC create pods (collector)", authzv1.ResourceAttributes{Verb: "create", Resource: "pods", Namespace: collectorNS}, "the collector pod of the pull", "Role podsleuth-collector in " + collectorNS},
		{"RBAC create pods/exec (collector)", authzv1.ResourceAttributes{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: collectorNS}, "streaming the archive", "Role podsleuth-collector in " + collectorNS},
		{"RBAC delete pods (collector)", authzv1.ResourceAttributes{Verb: "delete", Resource: "pods", Namespace: collectorNS}, "removing the collector", "Role podsleuth-collector in " + collectorNS},
	}
	for _, rv := range reviews {
		attr := rv.attr
		ok, reason, err := c.can(ctx, &attr)
		switch {
		case err != nil:
			r.add(Check{Name: rv.name, Status: CheckWarn, Detail: "cannot ask the API server: " + err.Error()})
		case ok:
			r.add(Check{Name: rv.name, Status: CheckOK, Detail: "allowed: " + rv.why})
		default:
			d := "denied: needed for " + rv.why
			if reason != "" {
				d += " (" + reason + ")"
			}
			r.add(Check{Name: rv.name, Status: CheckFail, Detail: d, Fix: "bind " + rv.fix + " (docs/rbac.yaml)"})
		}
	}
	if _, err := c.Client.CoreV1().Namespaces().Get(ctx, collectorNS, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		ok, _, _ := c.can(ctx, &authzv1.ResourceAttributes{Verb: "create", Resource: "namespaces"})
		if ok {
			r.add(Check{Name: "collector namespace", Status: CheckOK, Detail: collectorNS + " does not exist; the pull will create it"})
		} else {
			r.add(Check{Name: "collector namespace", Status: CheckFail, Detail: collectorNS + " does not exist and you may not create it", Fix: "apply docs/rbac.yaml (creates it) or set cluster.collector_namespace"})
		}
	}
	r.OK = len(r.Failed) == 0
	return r, nil
}

// Can asks the API server whether the current user may do something (SelfSubjectAccessReview).
func (c *Conn) can(ctx context.Context, a *authzv1.ResourceAttributes) (bool, string, error) {
	rv, err := c.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authzv1.SelfSubjectAccessReview{
		Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: a},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, "", classify(err)
	}
	return rv.Status.Allowed, rv.Status.Reason, nil
}

// Can reports whether the current user may do verb on resource[/subresource] in namespace.
func (c *Conn) Can(ctx context.Context, verb, resource, subresource, namespace string) (bool, error) {
	ok, _, err := c.can(ctx, &authzv1.ResourceAttributes{Verb: verb, Resource: resource, Subresource: subresource, Namespace: namespace})
	return ok, err
}

func containerCheck(p *corev1.Pod, name string) Check {
	if name == "" {
		return Check{Name: "container running", Status: CheckFail, Detail: fmt.Sprintf("the pod has %d containers", len(p.Spec.Containers)), Fix: "choose one with -c"}
	}
	if !hasContainer(p, name) {
		return Check{Name: "container running", Status: CheckFail, Detail: fmt.Sprintf("no container %q (it has: %s)", name, strings.Join(containerNames(p), ", ")), Fix: "choose one with -c"}
	}
	if p.Spec.NodeName == "" {
		return Check{Name: "container running", Status: CheckFail, Detail: "the pod is not scheduled", Fix: "wait until it runs"}
	}
	st := containerStatus(p, name)
	if st == nil || st.State.Running == nil {
		state := "no status"
		if st != nil {
			state = describeState(st.State)
		}
		return Check{Name: "container running", Status: CheckFail, Detail: name + ": " + state, Fix: "only a running container can be checkpointed"}
	}
	return Check{Name: "container running", Status: CheckOK, Detail: fmt.Sprintf("%s (%s) since %s", name, st.ContainerID, st.State.Running.StartedAt.UTC().Format("2006-01-02T15:04:05Z"))}
}

var kubeletVersionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)`)

// kubeletCheck: the checkpoint API needs kubelet >= 1.30 (gate on by default); 1.25-1.29 have
// it only with the gate enabled by hand.
func kubeletCheck(v string) Check {
	m := kubeletVersionRE.FindStringSubmatch(v)
	if m == nil {
		return Check{Name: "kubelet version", Status: CheckWarn, Detail: fmt.Sprintf("cannot parse %q", v)}
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	switch {
	case major > MinCheckpointKubelet[0] || (major == MinCheckpointKubelet[0] && minor >= MinCheckpointKubelet[1]):
		return Check{Name: "kubelet version", Status: CheckOK, Detail: v + " (checkpoint API on by default since 1.30)"}
	case major == 1 && minor >= 25:
		return Check{Name: "kubelet version", Status: CheckWarn, Detail: v + ": the checkpoint API exists only with the ContainerCheckpoint feature gate enabled", Fix: "enable the gate on the kubelet or upgrade to >= 1.30"}
	default:
		return Check{Name: "kubelet version", Status: CheckFail, Detail: v + ": no checkpoint API before 1.25", Fix: "upgrade the node to Kubernetes >= 1.30"}
	}
}

// runtimeCheck: CRI-O (>= 1.25) and containerd (>= 2.0, enable_criu) implement CRI
// CheckpointContainer; others do not.
func runtimeCheck(rt string) Check {
	name, ver, _ := strings.Cut(rt, "://")
	switch name {
	case "cri-o":
		return Check{Name: "container runtime", Status: CheckOK, Detail: rt}
	case "containerd":
		m := kubeletVersionRE.FindStringSubmatch(ver)
		if m != nil && m[1] == "1" {
			return Check{Name: "container runtime", Status: CheckFail, Detail: rt + ": containerd 1.x has no CRI checkpoint", Fix: "containerd >= 2.0 with enable_criu = true"}
		}
		return Check{Name: "container runtime", Status: CheckOK, Detail: rt + " (needs enable_criu = true and criu >= 4 on the node)"}
	case "":
		return Check{Name: "container runtime", Status: CheckWarn, Detail: "unknown runtime"}
	default:
		return Check{Name: "container runtime", Status: CheckFail, Detail: rt + ": no CRI checkpoint support", Fix: "CRI-O or containerd >= 2.0 nodes only"}
	}
}

func nodeReadyCheck(n *corev1.Node) Check {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return Check{Name: "node ready", Status: CheckOK, Detail: n.Name}
			}
			return Check{Name: "node ready", Status: CheckFail, Detail: fmt.Sprintf("%s: Ready=%s %s", n.Name, c.Status, c.Message), Fix: "the kubelet must answer for the checkpoint"}
		}
	}
	return Check{Name: "node ready", Status: CheckWarn, Detail: n.Name + ": no Ready condition"}
}

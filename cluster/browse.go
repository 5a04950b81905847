package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// ErrSyncTimeout: the informers' first list did not finish within the sync timeout.
var ErrSyncTimeout = errors.New("cluster cache sync timed out")

// PodRow is one pod as the browser shows it.
type PodRow struct {
	Namespace  string    `json:"namespace"`
	Name       string    `json:"name"`
	UID        string    `json:"uid"`
	Ready      string    `json:"ready"` // "1/2"
	Status     string    `json:"status"`
	Restarts   int32     `json:"restarts"`
	Node       string    `json:"node,omitempty"`
	IP         string    `json:"ip,omitempty"`
	Created    time.Time `json:"created"`
	Containers []string  `json:"containers"`
	Owner      string    `json:"owner,omitempty"` // "ReplicaSet/web-7d9c"
	// Running lists the containers that run now (the ones that can be checkpointed).
	Running []string `json:"running,omitempty"`
	// Labels are the pod's labels (label selectors in views and filters).
	Labels map[string]string `json:"labels,omitempty"`
}

// Age renders the pod's age like kubectl ("5m", "3d").
func (r PodRow) Age(now time.Time) string { return Age(r.Created, now) }

// Age renders now - t like kubectl's AGE column.
func Age(t, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}

// PodRowFor turns a pod into its row. The status follows kubectl's printPod: the most telling
// reason among the pod's phase, its init containers and its containers.
func PodRowFor(p *corev1.Pod) PodRow {
	r := PodRow{
		Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), Node: p.Spec.NodeName,
		IP: p.Status.PodIP, Created: p.CreationTimestamp.Time, Labels: p.Labels,
	}
	for _, c := range p.Spec.Containers {
		r.Containers = append(r.Containers, c.Name)
	}
	if o := metav1.GetControllerOf(p); o != nil {
		r.Owner = o.Kind + "/" + o.Name
	} else if len(p.OwnerReferences) > 0 {
		r.Owner = p.OwnerReferences[0].Kind + "/" + p.OwnerReferences[0].Name
	}
	reason := string(p.Status.Phase)
	if p.Status.Reason != "" {
		reason = p.Status.Reason
	}
	initializing := false
	for i, c := range p.Status.InitContainerStatuses {
		r.Restarts += c.RestartCount
		switch {
		case c.State.Terminated != nil && c.State.Terminated.ExitCode == 0:
			continue
		case c.State.Terminated != nil:
			if c.State.Terminated.Reason != "" {
				reason = "Init:" + c.State.Terminated.Reason
			} else {
				reason = fmt.Sprintf("Init:ExitCode:%d", c.State.Terminated.ExitCode)
			}
			initializing = true
		case c.State.Waiting != nil && c.State.Waiting.Reason != "" && c.State.Waiting.Reason != "PodInitializing":
			reason = "Init:" + c.State.Waiting.Reason
			initializing = true
		case c.State.Running != nil && isSidecar(p, c.Name):
			continue
		default:
			reason = fmt.Sprintf("Init:%d/%d", i, len(p.Spec.InitContainers))
			initializing = true
		}
		break
	}
	ready, running := 0, false
	for _, c := range p.Status.ContainerStatuses {
		r.Restarts += c.RestartCount
		if c.Ready {
			ready++
		}
		if c.State.Running != nil {
			r.Running = append(r.Running, c.Name)
		}
		if initializing {
			continue
		}
		switch {
		case c.State.Waiting != nil && c.State.Waiting.Reason != "":
			reason = c.State.Waiting.Reason
		case c.State.Terminated != nil && c.State.Terminated.Reason != "":
			reason = c.State.Terminated.Reason
		case c.State.Terminated != nil && c.State.Terminated.Signal != 0:
			reason = fmt.Sprintf("Signal:%d", c.State.Terminated.Signal)
		case c.State.Terminated != nil:
			reason = fmt.Sprintf("ExitCode:%d", c.State.Terminated.ExitCode)
		case c.State.Running != nil:
			running = true
		}
	}
	if running && reason == "Completed" {
		reason = "Running"
	}
	if p.DeletionTimestamp != nil {
		if p.Status.Reason == "NodeLost" {
			reason = "Unknown"
		} else {
			reason = "Terminating"
		}
	}
	r.Ready = fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers))
	r.Status = reason
	return r
}

func isSidecar(p *corev1.Pod, name string) bool {
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		}
	}
	return false
}

// NodeRow is one node.
type NodeRow struct {
	Name           string    `json:"name"`
	Ready          string    `json:"ready"` // True, False, Unknown
	KubeletVersion string    `json:"kubelet_version"`
	Runtime        string    `json:"runtime"`
	InternalIP     string    `json:"internal_ip,omitempty"`
	Created        time.Time `json:"created"`
	// Roles come from the node-role.kubernetes.io/<role> labels, like kubectl's ROLES column.
	Roles []string `json:"roles,omitempty"`
	// Unschedulable is a cordoned node (kubectl shows "Ready,SchedulingDisabled").
	Unschedulable bool              `json:"unschedulable,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
}

// NamespaceRow is one namespace.
type NamespaceRow struct {
	Name    string            `json:"name"`
	Status  string            `json:"status"` // Active, Terminating
	Created time.Time         `json:"created"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// NamespaceRowFor turns a namespace into its row.
func NamespaceRowFor(n *corev1.Namespace) NamespaceRow {
	return NamespaceRow{Name: n.Name, Status: string(n.Status.Phase), Created: n.CreationTimestamp.Time, Labels: n.Labels}
}

// NodeRowFor turns a node into its row.
func NodeRowFor(n *corev1.Node) NodeRow {
	r := NodeRow{Name: n.Name, Ready: "Unknown", KubeletVersion: n.Status.NodeInfo.KubeletVersion,
		Runtime: n.Status.NodeInfo.ContainerRuntimeVersion, Created: n.CreationTimestamp.Time,
		Unschedulable: n.Spec.Unschedulable, Labels: n.Labels}
	for k := range n.Labels {
		if role, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok && role != "" {
			r.Roles = append(r.Roles, role)
		}
	}
	sort.Strings(r.Roles)
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			r.Ready = string(c.Status)
		}
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && r.InternalIP == "" {
			r.InternalIP = a.Address
		}
	}
	return r
}

// EventRow is one event of an object.
type EventRow struct {
	Last    time.Time `json:"last"`
	Type    string    `json:"type"`
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	Count   int32     `json:"count"`
	Source  string    `json:"source,omitempty"`
}

// BrowserOptions configure NewBrowser.
type BrowserOptions struct {
	// Namespace limits pods to one namespace; "" watches all namespaces.
	Namespace string
	// SyncTimeout bounds the first full list (default 30 s).
	SyncTimeout time.Duration
}

// Browser keeps live, listed-once views of pods, namespaces and nodes from shared informers
// (one list, then watches; never polling). Pods, Namespaces and Nodes return snapshots;
// Changes signals (coalesced) that a snapshot would differ.
type Browser struct {
	mu      sync.RWMutex
	pods    map[string]PodRow // key ns/name
	nss     map[string]NamespaceRow
	nodes   map[string]NodeRow
	changes chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	// Scope says what the browser watches ("pods in all namespaces", ...).
	Scope string
	// Partial lists what RBAC hid (e.g. "nodes").
	Partial []string
}

// NewBrowser starts the informers and waits (bounded) until their first list is complete.
// Namespaces and nodes are watched only when RBAC allows listing them.
func NewBrowser(ctx context.Context, client kubernetes.Interface, o BrowserOptions) (*Browser, error) {
	if o.SyncTimeout <= 0 {
		o.SyncTimeout = 30 * time.Second
	}
	bctx, cancel := context.WithCancel(context.Background())
	b := &Browser{
		pods: map[string]PodRow{}, nss: map[string]NamespaceRow{}, nodes: map[string]NodeRow{},
		changes: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}),
	}
	podFactory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(o.Namespace))
	clusterFactory := informers.NewSharedInformerFactory(client, 0)
	strip := func(obj any) (any, error) {
		// the rows need neither managed fields nor last-applied annotations: halve the cache
		if a, ok := obj.(metav1.ObjectMetaAccessor); ok {
			m := a.GetObjectMeta()
			m.SetManagedFields(nil)
			if an := m.GetAnnotations(); an != nil {
				delete(an, "kubectl.kubernetes.io/last-applied-configuration")
			}
		}
		return obj, nil
	}
	podInf := podFactory.Core().V1().Pods().Informer()
	_ = podInf.SetTransform(strip)
	// A handler registration's HasSynced is true once the handler has seen the initial list
	// (the informer's own HasSynced only means its store is full).
	reg, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { b.setPod(obj) },
		UpdateFunc: func(_, obj any) { b.setPod(obj) },
		DeleteFunc: func(obj any) { b.deletePod(obj) },
	})
	if err != nil {
		cancel()
		return nil, err
	}
	synced := []cache.InformerSynced{reg.HasSynced}
	b.Scope = "pods in all namespaces"
	if o.Namespace != "" {
		b.Scope = "pods in namespace " + o.Namespace
	}
	if allowed(ctx, client, "list", "namespaces") && allowed(ctx, client, "watch", "namespaces") {
		inf := clusterFactory.Core().V1().Namespaces().Informer()
		_ = inf.SetTransform(strip)
		reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { b.setNamespace(obj, true) },
			DeleteFunc: func(obj any) { b.setNamespace(obj, false) },
		})
		if err != nil {
			cancel()
			return nil, err
		}
		synced = append(synced, reg.HasSynced)
	} else {
		b.Partial = append(b.Partial, "namespaces")
	}
	if allowed(ctx, client, "list", "nodes") && allowed(ctx, client, "watch", "nodes") {
		inf := clusterFactory.Core().V1().Nodes().Informer()
		_ = inf.SetTransform(strip)
		reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { b.setNode(obj) },
			UpdateFunc: func(_, obj any) { b.setNode(obj) },
			DeleteFunc: func(obj any) { b.deleteNode(obj) },
		})
		if err != nil {
			cancel()
			return nil, err
		}
		synced = append(synced, reg.HasSynced)
	} else {
		b.Partial = append(b.Partial, "nodes")
	}
	podFactory.Start(bctx.Done())
	clusterFactory.Start(bctx.Done())
	go func() {
		<-bctx.Done()
		podFactory.Shutdown()
		clusterFactory.Shutdown()
		close(b.done)
	}()
	sctx, scancel := context.WithTimeout(ctx, o.SyncTimeout)
	defer scancel()
	if !cache.WaitForCacheSync(sctx.Done(), synced...) {
		b.Stop()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: no complete list of %s within %s (RBAC: list/watch pods? a very large cluster: raise the timeout)", ErrSyncTimeout, b.Scope, o.SyncTimeout)
	}
	return b, nil
}

// allowed asks the API server (SelfSubjectAccessReview) whether a cluster-wide verb is allowed.
func allowed(ctx context.Context, client kubernetes.Interface, verb, resource string) bool {
	rv, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authzv1.SelfSubjectAccessReview{
		Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authzv1.ResourceAttributes{Verb: verb, Resource: resource}},
	}, metav1.CreateOptions{})
	return err == nil && rv.Status.Allowed
}

// Stop stops the informers and waits until they have.
func (b *Browser) Stop() {
	b.cancel()
	<-b.done
}

// Changes signals that a snapshot changed. Signals coalesce: one pending signal stands for any
// number of changes, so a slow reader never blocks the informers.
func (b *Browser) Changes() <-chan struct{} { return b.changes }

func (b *Browser) notify() {
	select {
	case b.changes <- struct{}{}:
	default:
	}
}

func (b *Browser) setPod(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	row := PodRowFor(p)
	b.mu.Lock()
	b.pods[p.Namespace+"/"+p.Name] = row
	b.mu.Unlock()
	b.notify()
}

func (b *Browser) deletePod(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	b.mu.Lock()
	delete(b.pods, p.Namespace+"/"+p.Name)
	b.mu.Unlock()
	b.notify()
}

func (b *Browser) setNamespace(obj any, present bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	n, ok := obj.(*corev1.Namespace)
	if !ok {
		return
	}
	b.mu.Lock()
	if present {
		b.nss[n.Name] = NamespaceRowFor(n)
	} else {
		delete(b.nss, n.Name)
	}
	b.mu.Unlock()
	b.notify()
}

func (b *Browser) setNode(obj any) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	b.mu.Lock()
	b.nodes[n.Name] = NodeRowFor(n)
	b.mu.Unlock()
	b.notify()
}

func (b *Browser) deleteNode(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	b.mu.Lock()
	delete(b.nodes, n.Name)
	b.mu.Unlock()
	b.notify()
}

// Pods returns the pods of namespace ns ("" = all watched), sorted by namespace and name.
func (b *Browser) Pods(ns string) []PodRow {
	b.mu.RLock()
	rows := make([]PodRow, 0, len(b.pods))
	for _, r := range b.pods {
		if ns == "" || r.Namespace == ns {
			rows = append(rows, r)
		}
	}
	b.mu.RUnlock()
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Namespace != rows[j].Namespace {
			return rows[i].Namespace < rows[j].Namespace
		}
		return rows[i].Name < rows[j].Name
	})
	return rows
}

// Pod returns one pod's row.
func (b *Browser) Pod(ns, name string) (PodRow, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	r, ok := b.pods[ns+"/"+name]
	return r, ok
}

// Namespaces returns the namespaces, sorted; without permission to list them, the namespaces
// of the pods seen.
func (b *Browser) Namespaces() []string {
	b.mu.RLock()
	set := map[string]bool{}
	for n := range b.nss {
		set[n] = true
	}
	if len(set) == 0 {
		for _, r := range b.pods {
			set[r.Namespace] = true
		}
	}
	b.mu.RUnlock()
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// NamespaceRows returns the namespaces with their status, sorted; without permission to list
// them, the namespaces of the pods seen (with only their names).
func (b *Browser) NamespaceRows() []NamespaceRow {
	b.mu.RLock()
	rows := make([]NamespaceRow, 0, len(b.nss))
	for _, r := range b.nss {
		rows = append(rows, r)
	}
	b.mu.RUnlock()
	if len(rows) == 0 {
		for _, n := range b.Namespaces() {
			rows = append(rows, NamespaceRow{Name: n})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}

// Nodes returns the nodes, sorted by name (empty when RBAC hides them).
func (b *Browser) Nodes() []NodeRow {
	b.mu.RLock()
	rows := make([]NodeRow, 0, len(b.nodes))
	for _, r := range b.nodes {
		rows = append(rows, r)
	}
	b.mu.RUnlock()
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}

// PodEvents lists the recent events of a pod, newest first (on demand: events are not watched).
func PodEvents(ctx context.Context, client kubernetes.Interface, ns, pod string) ([]EventRow, error) {
	sel := fields.Set{"involvedObject.kind": "Pod", "involvedObject.name": pod, "involvedObject.namespace": ns}.AsSelector().String()
	l, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("events of pod %s/%s: %w", ns, pod, classify(err))
	}
	rows := make([]EventRow, 0, len(l.Items))
	for _, e := range l.Items {
		last := e.LastTimestamp.Time
		if last.IsZero() {
			last = e.EventTime.Time
		}
		if last.IsZero() {
			last = e.CreationTimestamp.Time
		}
		src := e.Source.Component
		if e.Source.Host != "" {
			src += "@" + e.Source.Host
		}
		if src == "" {
			src = e.ReportingController
		}
		cnt := e.Count
		if cnt == 0 && e.Series != nil {
			cnt = e.Series.Count
		}
		rows = append(rows, EventRow{Last: last.UTC(), Type: e.Type, Reason: e.Reason, Message: strings.TrimSpace(e.Message), Count: max(cnt, 1), Source: src})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Last.After(rows[j].Last) })
	return rows, nil
}

package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HuntSelection says which containers a hunt looks at: pods by namespace(s) or across all
// namespaces, narrowed by a label selector, or a list of pods ("NS/POD" or "POD" in the first
// namespace, "NS/POD/CONTAINER" for one container). Every running container of a selected pod
// is a target unless Container names one.
type HuntSelection struct {
	Namespaces    []string
	AllNamespaces bool
	Selector      string
	Pods          []string
	Container     string
}

// String says what was selected, for the plan and the hunt's header.
func (s HuntSelection) String() string {
	var p []string
	switch {
	case s.AllNamespaces:
		p = append(p, "all namespaces")
	case len(s.Namespaces) > 0:
		p = append(p, "namespace "+strings.Join(s.Namespaces, ","))
	}
	if s.Selector != "" {
		p = append(p, "selector "+s.Selector)
	}
	if len(s.Pods) > 0 {
		p = append(p, "pods "+strings.Join(s.Pods, ","))
	}
	if s.Container != "" {
		p = append(p, "container "+s.Container)
	}
	return strings.Join(p, ", ")
}

// HuntSkip is a selected container the hunt will not touch, and why.
type HuntSkip struct {
	Target Target `json:"target"`
	Node   string `json:"node,omitempty"`
	Reason string `json:"reason"`
}

// HuntNode is one node of a plan and its targets, in order.
type HuntNode struct {
	Name    string   `json:"name"`
	Targets []Target `json:"targets"`
}

// HuntPlan is what a hunt will do, shown before anything is changed.
type HuntPlan struct {
	Context   string        `json:"context"`
	Selection HuntSelection `json:"selection"`
	Nodes     []HuntNode    `json:"nodes"`
	Skipped   []HuntSkip    `json:"skipped,omitempty"`
}

// Targets counts the containers the hunt will checkpoint.
func (p *HuntPlan) Targets() int {
	n := 0
	for _, nd := range p.Nodes {
		n += len(nd.Targets)
	}
	return n
}

// PlanHunt lists the selected pods (reads only) and groups their running containers by node.
// Containers that are not running, and pods not scheduled, are listed as skipped with the
// reason. A selection that matches nothing is an error naming it.
func (c *Conn) PlanHunt(ctx context.Context, sel HuntSelection) (*HuntPlan, error) {
	plan := &HuntPlan{Context: c.Context, Selection: sel}
	var pods []corev1.Pod
	want := map[string]string{} // ns/pod -> container ("" = all)
	if len(sel.Pods) > 0 {
		if sel.AllNamespaces {
			return nil, fmt.Errorf("hunt: give pods as NS/POD, or --all-namespaces with a selector, not both")
		}
		def := c.Namespace
		if len(sel.Namespaces) > 0 {
			def = sel.Namespaces[0]
		}
		for _, s := range sel.Pods {
			parts := strings.Split(s, "/")
			var ns, name, ctr string
			switch len(parts) {
			case 1:
				ns, name = def, parts[0]
			case 2:
				ns, name = parts[0], parts[1]
			case 3:
				ns, name, ctr = parts[0], parts[1], parts[2]
			}
			if name == "" || ns == "" || len(parts) > 3 {
				return nil, fmt.Errorf("hunt: pod %q: want POD, NS/POD or NS/POD/CONTAINER", s)
			}
			p, err := c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("hunt: pod %s/%s: %w", ns, name, classify(err))
			}
			if _, dup := want[ns+"/"+name]; !dup {
				pods = append(pods, *p)
			}
			if ctr == "" {
				ctr = sel.Container
			}
			want[ns+"/"+name] = ctr
		}
	} else {
		nss := sel.Namespaces
		if sel.AllNamespaces {
			nss = []string{metav1.NamespaceAll}
		} else if len(nss) == 0 {
			nss = []string{c.Namespace}
		}
		for _, ns := range nss {
			l, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.Selector})
			if err != nil {
				where := "namespace " + ns
				if ns == "" {
					where = "all namespaces"
				}
				return nil, fmt.Errorf("hunt: list pods in %s: %w", where, classify(err))
			}
			pods = append(pods, l.Items...)
		}
	}
	if len(pods) == 0 {
		return nil, fmt.Errorf("%w: no pod matches %s", ErrNoSuchPod, sel)
	}
	sort.Slice(pods, func(i, j int) bool {
		if pods[i].Namespace != pods[j].Namespace {
			return pods[i].Namespace < pods[j].Namespace
		}
		return pods[i].Name < pods[j].Name
	})
	byNode := map[string]*HuntNode{}
	for i := range pods {
		p := &pods[i]
		only, listed := want[p.Namespace+"/"+p.Name]
		if !listed {
			only = sel.Container
		}
		if only != "" && !hasContainer(p, only) {
			plan.Skipped = append(plan.Skipped, HuntSkip{Target: Target{p.Namespace, p.Name, only}, Node: p.Spec.NodeName,
				Reason: fmt.Sprintf("no container %q (it has: %s)", only, strings.Join(containerNames(p), ", "))})
			continue
		}
		for _, ct := range p.Spec.Containers {
			if only != "" && ct.Name != only {
				continue
			}
			t := Target{p.Namespace, p.Name, ct.Name}
			if p.DeletionTimestamp != nil {
				plan.Skipped = append(plan.Skipped, HuntSkip{Target: t, Node: p.Spec.NodeName, Reason: "the pod is being deleted"})
				continue
			}
			if p.Spec.NodeName == "" {
				plan.Skipped = append(plan.Skipped, HuntSkip{Target: t, Reason: "the pod is not scheduled to a node"})
				continue
			}
			st := containerStatus(p, ct.Name)
			if st == nil || st.State.Running == nil {
				state := "no status"
				if st != nil {
					state = describeState(st.State)
				}
				plan.Skipped = append(plan.Skipped, HuntSkip{Target: t, Node: p.Spec.NodeName, Reason: "not running (" + state + ")"})
				continue
			}
			nd := byNode[p.Spec.NodeName]
			if nd == nil {
				nd = &HuntNode{Name: p.Spec.NodeName}
				byNode[p.Spec.NodeName] = nd
			}
			nd.Targets = append(nd.Targets, t)
		}
	}
	for _, nd := range byNode {
		plan.Nodes = append(plan.Nodes, *nd)
	}
	sort.Slice(plan.Nodes, func(i, j int) bool { return plan.Nodes[i].Name < plan.Nodes[j].Name })
	return plan, nil
}

// HuntLimits parses the analyzer's CPU and memory limits (--cpu, --memory): a positive CPU
// quantity and at least 64Mi of memory.
func HuntLimits(cpu, memory string) (resource.Quantity, resource.Quantity, error) {
	c, err := resource.ParseQuantity(cpu)
	if err != nil || c.Sign() <= 0 {
		return c, c, fmt.Errorf("--cpu %q: want a positive quantity such as 500m or 2", cpu)
	}
	m, err := resource.ParseQuantity(memory)
	if err != nil || m.Cmp(resource.MustParse("64Mi")) < 0 {
		return c, m, fmt.Errorf("--memory %q: want a quantity of at least 64Mi, such as 512Mi or 2Gi", memory)
	}
	return c, m, nil
}

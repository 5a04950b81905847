package tui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/informers"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/tui/components/table"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/screens/acquire"
	"github.com/podsleuth/podsleuth/tui/screens/confirm"
	"github.com/podsleuth/podsleuth/tui/screens/list"
	"github.com/podsleuth/podsleuth/tui/screens/pods"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// ClusterSession is the App's connection to one cluster context: the pod informers behind the
// pod list, the list loaders of namespaces, nodes and contexts, and the checkpoint + pull.
// Everything that talks to the API server runs inside Cmds.
type ClusterSession struct {
	Conn    *cluster.Conn
	flags   *genericclioptions.ConfigFlags
	cfg     *config.Config
	log     *slog.Logger
	version string

	mu       sync.Mutex
	browsers map[string]*podBrowser // by namespace, "" = all
}

// NewClusterSession wraps a connection.
func NewClusterSession(c *cluster.Conn, flags *genericclioptions.ConfigFlags, cfg *config.Config, log *slog.Logger, version string) *ClusterSession {
	return &ClusterSession{Conn: c, flags: flags, cfg: cfg, log: log, version: version, browsers: map[string]*podBrowser{}}
}

// Describe names the context and namespace for the header.
func (s *ClusterSession) Describe() string {
	return fmt.Sprintf("ctx %s  ns %s", s.Conn.Context, s.Conn.Namespace)
}

// Close stops the informers.
func (s *ClusterSession) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, b := range s.browsers {
		b.stop()
		delete(s.browsers, k)
	}
}

// browser returns the pod source of namespace ns ("" all), creating it (not starting it:
// the informer starts on the first Snapshot, inside a Cmd).
func (s *ClusterSession) browser(ns string) *podBrowser {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.browsers[ns]; ok {
		return b
	}
	b := &podBrowser{s: s, ns: ns, changes: make(chan struct{}, 1), stopCh: make(chan struct{})}
	s.browsers[ns] = b
	return b
}

// View builds a cluster screen (no I/O: the screens load in their Init Cmds).
func (s *ClusterSession) View(view, arg string, th theme.Theme, km keys.Map, readonly bool) (any, tea.Cmd, error) {
	switch view {
	case "pods":
		ns := arg
		switch ns {
		case "":
			ns = s.Conn.Namespace
		case "all", "-A", "*":
			ns = ""
		}
		var cp pods.Checkpointer
		if !readonly {
			cp = func(ns, pod, ct string) tea.Cmd { return nav.Push(s.acquireScreen(ns, pod, ct, th, km)) }
		}
		p := pods.New(s.browser(ns), ns, readonly, cp, th, km)
		p.Detail = func(ns, name string) tea.Cmd { return nav.Push(s.podDetail(ns, name, readonly, th, km)) }
		return p, nil, nil
	case "namespaces":
		return list.New("namespaces", "namespaces", []table.Column{{Title: "NAME", Flex: true}, {Title: "STATUS"}, {Title: "AGE", Right: true, Numeric: true}},
			s.loadNamespaces, func(r table.Row) tea.Cmd { return nav.Goto("pods", r.Key) }, "pods of the namespace", th, km), nil, nil
	case "nodes":
		return list.New("nodes", "nodes", []table.Column{{Title: "NAME", Flex: true}, {Title: "STATUS"}, {Title: "ROLES"}, {Title: "VERSION"},
			{Title: "RUNTIME", Max: 30}, {Title: "INTERNAL-IP"}, {Title: "AGE", Right: true, Numeric: true}}, s.loadNodes, nil, "", th, km), nil, nil
	case "contexts":
		if arg != "" {
			return nil, s.switchContextCmd(arg), nil
		}
		return list.New("contexts", "contexts", []table.Column{{Title: "CURRENT"}, {Title: "NAME", Max: 40}, {Title: "CLUSTER", Max: 30}, {Title: "USER", Max: 30}, {Title: "NAMESPACE"}, {Title: "SERVER", Flex: true}},
			s.loadContexts, func(r table.Row) tea.Cmd { return s.switchContextCmd(r.Key) }, "switch to the context", th, km), nil, nil
	}
	return nil, nil, fmt.Errorf("unknown view %q", view)
}

func age(now, t time.Time) (string, string) {
	if t.IsZero() {
		return "", "0"
	}
	d := now.Sub(t)
	return pods.Age(d), strconv.FormatInt(int64(d.Seconds()), 10)
}

func (s *ClusterSession) loadNamespaces(ctx context.Context) ([]table.Row, error) {
	l, err := s.Conn.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, explain(err, "list namespaces")
	}
	now := time.Now()
	var rows []table.Row
	for _, n := range l.Items {
		a, ak := age(now, n.CreationTimestamp.Time)
		rows = append(rows, table.Row{Key: n.Name, Cells: []string{n.Name, string(n.Status.Phase), a}, Keys: []string{n.Name, string(n.Status.Phase), ak}, Labels: n.Labels})
	}
	return rows, nil
}

func (s *ClusterSession) loadNodes(ctx context.Context) ([]table.Row, error) {
	l, err := s.Conn.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, explain(err, "list nodes")
	}
	now := time.Now()
	var rows []table.Row
	for _, n := range l.Items {
		status := "NotReady"
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				status = "Ready"
			}
		}
		if n.Spec.Unschedulable {
			status += ",SchedulingDisabled"
		}
		var roles []string
		for k := range n.Labels {
			if r, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok {
				roles = append(roles, r)
			}
		}
		sort.Strings(roles)
		ip := ""
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				ip = a.Address
			}
		}
		a, ak := age(now, n.CreationTimestamp.Time)
		tone := table.Normal
		if status != "Ready" {
			tone = table.Danger
		}
		rows = append(rows, table.Row{Key: n.Name, Cells: []string{n.Name, status, strings.Join(roles, ","), n.Status.NodeInfo.KubeletVersion, n.Status.NodeInfo.ContainerRuntimeVersion, ip, a},
			Keys: []string{n.Name, status, "", "", "", ip, ak}, Labels: n.Labels, Tone: tone})
	}
	return rows, nil
}

func (s *ClusterSession) loadContexts(context.Context) ([]table.Row, error) {
	cs, err := cluster.Contexts(s.flags)
	if err != nil {
		return nil, err
	}
	var rows []table.Row
	for _, c := range cs {
		cur := ""
		if c.Name == s.Conn.Context {
			cur = "*"
		}
		rows = append(rows, table.Row{Key: c.Name, Cells: []string{cur, c.Name, c.Cluster, c.User, c.Namespace, c.Server}})
	}
	return rows, nil
}

// switchContextCmd connects to another kubeconfig context; the App swaps the session on
// ConnectedMsg.
func (s *ClusterSession) switchContextCmd(name string) tea.Cmd {
	flags := genericclioptions.NewConfigFlags(true)
	if s.flags != nil && s.flags.KubeConfig != nil {
		kc := *s.flags.KubeConfig
		flags.KubeConfig = &kc
	}
	flags.Context = &name
	cfg, log, version := s.cfg, s.log, s.version
	return func() tea.Msg {
		c, err := cluster.Connect(context.Background(), flags, cluster.ConnectOptions{Timeout: cfg.Cluster.ConnectTimeout, Readonly: cfg.Readonly, UserAgent: "podsleuth/" + version})
		if err != nil {
			return ConnectedMsg{Err: fmt.Errorf("switch to context %s: %w", name, err), Switch: true}
		}
		return ConnectedMsg{Cluster: NewClusterSession(c, flags, cfg, log, version), Switch: true}
	}
}

// explain turns API errors into plain words.
func explain(err error, what string) error {
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s: %w: %v", what, cluster.ErrForbidden, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%s: %w", what, cluster.ErrUnauthorized)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// podDetail is a pod's detail as a filterable one-column list: containers with image and
// state, node, labels, owner, recent events.
func (s *ClusterSession) podDetail(ns, name string, readonly bool, th theme.Theme, km keys.Map) *list.Model {
	load := func(ctx context.Context) ([]table.Row, error) {
		p, err := s.Conn.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, explain(err, "get pod "+ns+"/"+name)
		}
		ev, err := s.Conn.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.AndSelectors(
			fields.OneTermEqualSelector("involvedObject.name", name), fields.OneTermEqualSelector("involvedObject.kind", "Pod")).String()})
		var events []corev1.Event
		evErr := ""
		if err != nil {
			evErr = explain(err, "events").Error()
		} else {
			events = ev.Items
		}
		return PodDetailRows(p, events, evErr, time.Now()), nil
	}
	l := list.New("pod/"+ns+"/"+name, ns+"/"+name, []table.Column{{Title: "DETAIL", Flex: true}}, load, nil, "", th, km)
	cpKey := km.Checkpoint
	cpKey.SetHelp(cpKey.Help().Key, "checkpoint the selected container")
	if readonly {
		cpKey.SetEnabled(false)
	}
	l.Extras = []list.Extra{{Binding: cpKey, Run: func(r table.Row) tea.Cmd {
		ct, ok := strings.CutPrefix(r.Key, "container:")
		if !ok {
			return nav.Status("select a container line (under Containers) to checkpoint it")
		}
		return nav.Push(confirm.New("Checkpoint "+ns+"/"+name+" container "+ct+"?", ConfirmLines, func() tea.Cmd {
			return nav.Push(s.acquireScreen(ns, name, ct, th, km))
		}, th, km))
	}, Refused: func() tea.Cmd {
		return nav.Err(fmt.Errorf("checkpoint: %w", pods.ErrReadonly), "start podsleuth without --readonly (or readonly: false in the config) to checkpoint")
	}}}
	return l
}

// ConfirmLines explain what a checkpoint does, in the confirmation.
var ConfirmLines = []string{
	"The container keeps running and is not told: the kubelet asks the runtime to",
	"dump it with CRIU, then podsleuth pulls the archive into the evidence store.",
}

// PodDetailRows renders a pod's detail as lines.
func PodDetailRows(p *corev1.Pod, events []corev1.Event, evErr string, now time.Time) []table.Row {
	var rows []table.Row
	add := func(tone table.Tone, f string, a ...any) {
		rows = append(rows, table.Row{Key: strconv.Itoa(len(rows)), Cells: []string{fmt.Sprintf(f, a...)}, Tone: tone})
	}
	row := podRow(p)
	a, _ := age(now, p.CreationTimestamp.Time)
	add(table.Normal, "Pod %s/%s  %s  ready %s  restarts %d  age %s", p.Namespace, p.Name, row.Status, row.Ready, row.Restarts, a)
	add(table.Normal, "Node %s  IP %s  QoS %s  service account %s", orDash(p.Spec.NodeName), orDash(p.Status.PodIP), p.Status.QOSClass, orDash(p.Spec.ServiceAccountName))
	for _, o := range p.OwnerReferences {
		add(table.Normal, "Owner %s/%s", o.Kind, o.Name)
	}
	add(table.Muted, "")
	add(table.Normal, "Containers")
	st := map[string]corev1.ContainerStatus{}
	for _, cs := range p.Status.ContainerStatuses {
		st[cs.Name] = cs
	}
	for _, c := range p.Spec.Containers {
		cs := st[c.Name]
		state := "unknown"
		tone := table.Normal
		switch {
		case cs.State.Running != nil:
			state = "running since " + cs.State.Running.StartedAt.UTC().Format(time.RFC3339)
		case cs.State.Waiting != nil:
			state, tone = "waiting: "+cs.State.Waiting.Reason, table.Warn
		case cs.State.Terminated != nil:
			state, tone = fmt.Sprintf("terminated: %s (exit %d)", cs.State.Terminated.Reason, cs.State.Terminated.ExitCode), table.Danger
		}
		rows = append(rows, table.Row{Key: "container:" + c.Name, Tone: tone,
			Cells: []string{fmt.Sprintf("  %s  image %s  %s  ready %v  restarts %d", c.Name, c.Image, state, cs.Ready, cs.RestartCount)}})
		if cs.ContainerID != "" {
			add(table.Muted, "    id %s  image id %s", cs.ContainerID, orDash(cs.ImageID))
		}
		if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
			add(table.Danger, "    privileged")
		}
	}
	add(table.Muted, "")
	add(table.Normal, "Labels")
	keys := make([]string, 0, len(p.Labels))
	for k := range p.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(table.Normal, "  %s=%s", k, p.Labels[k])
	}
	add(table.Muted, "")
	add(table.Normal, "Events")
	if evErr != "" {
		add(table.Warn, "  %s", evErr)
	}
	sort.Slice(events, func(i, j int) bool { return eventTime(events[i]).After(eventTime(events[j])) })
	for i, e := range events {
		if i == 20 {
			add(table.Muted, "  … %d older", len(events)-i)
			break
		}
		tone := table.Normal
		if e.Type == corev1.EventTypeWarning {
			tone = table.Warn
		}
		ea, _ := age(now, eventTime(e))
		add(tone, "  %-6s %-8s %-20s %s", ea, e.Type, e.Reason, e.Message)
	}
	if len(events) == 0 && evErr == "" {
		add(table.Muted, "  none")
	}
	return rows
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// podRow renders a pod like kubectl get pods: READY, STATUS (the most telling reason),
// RESTARTS.
func podRow(p *corev1.Pod) pods.PodRow {
	r := pods.PodRow{Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName, Created: p.CreationTimestamp.Time, Labels: p.Labels}
	reason := string(p.Status.Phase)
	if p.Status.Reason != "" {
		reason = p.Status.Reason
	}
	for _, ic := range p.Status.InitContainerStatuses {
		switch {
		case ic.State.Terminated != nil && ic.State.Terminated.ExitCode == 0:
		case ic.State.Terminated != nil:
			reason = "Init:" + ic.State.Terminated.Reason
		case ic.State.Waiting != nil && ic.State.Waiting.Reason != "" && ic.State.Waiting.Reason != "PodInitializing":
			reason = "Init:" + ic.State.Waiting.Reason
		}
	}
	ready := 0
	for _, c := range p.Spec.Containers {
		r.Containers = append(r.Containers, c.Name)
	}
	for _, cs := range p.Status.ContainerStatuses {
		r.Restarts += int(cs.RestartCount)
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
			reason = cs.State.Waiting.Reason
		case cs.State.Terminated != nil && cs.State.Terminated.Reason != "":
			reason = cs.State.Terminated.Reason
		case cs.State.Running != nil && cs.Ready:
			ready++
		}
	}
	if p.DeletionTimestamp != nil {
		reason = "Terminating"
	}
	r.Ready = fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers))
	r.Status = reason
	return r
}

// podBrowser is a pods.Source over a shared informer of one namespace (or all).
type podBrowser struct {
	s       *ClusterSession
	ns      string
	once    sync.Once
	lister  listersv1.PodLister
	err     error
	changes chan struct{}
	stopCh  chan struct{}
	stopped sync.Once
}

func (b *podBrowser) stop() { b.stopped.Do(func() { close(b.stopCh) }) }

// start runs the informer and waits for its cache, bounded by the connect timeout plus a
// margin. It runs inside a Cmd.
func (b *podBrowser) start() {
	// one cheap list first: RBAC and reachability problems fail fast, in words
	pctx, pcancel := context.WithTimeout(context.Background(), b.s.cfg.Cluster.ConnectTimeout+5*time.Second)
	_, err := b.s.Conn.Client.CoreV1().Pods(b.ns).List(pctx, metav1.ListOptions{Limit: 1})
	pcancel()
	if err != nil {
		where := "in namespace " + b.ns
		if b.ns == "" {
			where = "in all namespaces (try :pods NAMESPACE)"
		}
		b.err = explain(err, "list pods "+where)
		return
	}
	f := informers.NewSharedInformerFactoryWithOptions(b.s.Conn.Client, 0, informers.WithNamespace(b.ns))
	inf := f.Core().V1().Pods()
	notify := func() {
		select {
		case b.changes <- struct{}{}:
		default: // already signalled: changes coalesce
		}
	}
	var watchErr error
	var mu sync.Mutex
	_ = inf.Informer().SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		mu.Lock()
		watchErr = err
		mu.Unlock()
		b.s.log.Warn("pod watch", "ns", b.ns, "err", err)
	})
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { notify() }, UpdateFunc: func(any, any) { notify() }, DeleteFunc: func(any) { notify() },
	})
	b.lister = inf.Lister()
	f.Start(b.stopCh)
	timeout := b.s.cfg.Cluster.ConnectTimeout*3 + 5*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		mu.Lock()
		defer mu.Unlock()
		if watchErr != nil {
			b.err = explain(watchErr, "watch pods")
		} else {
			b.err = fmt.Errorf("watch pods: the pod list did not arrive within %s", timeout)
		}
	}
}

// Snapshot returns the pods sorted by namespace and name.
func (b *podBrowser) Snapshot() []pods.PodRow {
	b.once.Do(b.start)
	if b.lister == nil {
		return nil
	}
	l, err := b.lister.List(labels.Everything())
	if err != nil {
		return nil
	}
	rows := make([]pods.PodRow, 0, len(l))
	for _, p := range l {
		rows = append(rows, podRow(p))
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Namespace != rows[j].Namespace {
			return rows[i].Namespace < rows[j].Namespace
		}
		return rows[i].Name < rows[j].Name
	})
	return rows
}

// Err is the informer's start error, if any.
func (b *podBrowser) Err() error { return b.err }

// Changes signals (coalesced) that pods changed.
func (b *podBrowser) Changes() <-chan struct{} { return b.changes }

// acquireScreen checkpoints one container and pulls it into the evidence store.
func (s *ClusterSession) acquireScreen(ns, pod, ct string, th theme.Theme, km keys.Map) *acquire.Model {
	target := ns + "/" + pod + "/" + ct
	cfg, conn, version := s.cfg, s.Conn, s.version
	run := func(ctx context.Context, progress func(acquire.Progress)) (acquire.Result, error) {
		store, err := evidence.Open(cfg.DataDir)
		if err != nil {
			return acquire.Result{}, err
		}
		started := time.Now()
		progress(acquire.Progress{Phase: "checkpoint"})
		res, err := conn.Checkpoint(ctx, cluster.Target{Namespace: ns, Pod: pod, Container: ct}, cfg.Cluster.CheckpointTimeout)
		if err != nil {
			return acquire.Result{}, err
		}
		progress(acquire.Progress{Phase: "collector", Elapsed: time.Since(started)})
		item, err := conn.Pull(ctx, res, cluster.PullOptions{
			Namespace: cfg.Cluster.CollectorNamespace, Image: cfg.Cluster.CollectorImage, Store: store,
			Manifest:       evidence.Manifest{CaseID: cfg.Case.ID, Analyst: cfg.Case.Analyst, Notes: cfg.Case.Notes, ToolVersion: version},
			DeleteFromNode: cfg.Cluster.DeleteFromNode,
			Progress: func(p cluster.Progress) {
				progress(acquire.Progress{Phase: p.Phase, Bytes: p.Bytes, Total: p.Total, Rate: p.Rate, Elapsed: time.Since(started), Attempt: p.Attempt})
			},
		})
		if err != nil {
			return acquire.Result{}, err
		}
		return acquire.Result{Path: item.Archive, ID: item.ID, Label: target}, nil
	}
	return acquire.New(target, target, run, checkpointHint, th, km)
}

// checkpointHint is the fix of a cluster error, in words.
func checkpointHint(err error) string {
	var ce *cluster.CheckpointError
	if errors.As(err, &ce) && ce.Fix != "" {
		return ce.Fix
	}
	return clusterHint(err)
}

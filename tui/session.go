package tui

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/tui/components/table"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/screens/acquire"
	"github.com/podsleuth/podsleuth/tui/screens/confirm"
	"github.com/podsleuth/podsleuth/tui/screens/list"
	"github.com/podsleuth/podsleuth/tui/screens/pods"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// ClusterSession is the App's connection to one cluster context: one cluster.Browser (pods,
// namespaces and nodes from shared informers) behind the pod, namespace and node views, the
// contexts list, and the checkpoint + pull. Everything that talks to the API server runs
// inside Cmds.
type ClusterSession struct {
	Conn    *cluster.Conn
	flags   *genericclioptions.ConfigFlags
	cfg     *config.Config
	log     *slog.Logger
	version string

	browse *sessionBrowser
}

// NewClusterSession wraps a connection.
func NewClusterSession(c *cluster.Conn, flags *genericclioptions.ConfigFlags, cfg *config.Config, log *slog.Logger, version string) *ClusterSession {
	s := &ClusterSession{Conn: c, flags: flags, cfg: cfg, log: log, version: version}
	s.browse = newSessionBrowser(c.Client, c.Namespace, cfg.Cluster.ConnectTimeout, log)
	return s
}

// Describe names the context and namespace for the header.
func (s *ClusterSession) Describe() string {
	return fmt.Sprintf("ctx %s  ns %s", s.Conn.Context, s.Conn.Namespace)
}

// Close stops the session's Browser (context switch, quit).
func (s *ClusterSession) Close() { s.browse.stop() }

// View builds a cluster screen (no I/O: the screens load in their Init Cmds).
func (s *ClusterSession) View(view, arg string, th theme.Theme, km keys.Map, readonly bool) (nav.Page, tea.Cmd, error) {
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
		p := pods.New(s.browse.pods(ns), ns, readonly, cp, th, km)
		p.Detail = func(ns, name string) tea.Cmd { return nav.Push(s.podDetail(ns, name, readonly, th, km)) }
		return nav.Wrap(p), nil, nil
	case "namespaces":
		l := list.New("namespaces", "namespaces", []table.Column{{Title: "NAME", Flex: true}, {Title: "STATUS"}, {Title: "AGE", Right: true, Numeric: true}},
			func(ctx context.Context) ([]table.Row, error) { return s.browse.namespaceRows(ctx, time.Now()) },
			func(r table.Row) tea.Cmd { return nav.Goto("pods", r.Key) }, "pods of the namespace", th, km)
		l.Changes = s.browse.changesFunc()
		return nav.Wrap(l), nil, nil
	case "nodes":
		l := list.New("nodes", "nodes", []table.Column{{Title: "NAME", Flex: true}, {Title: "STATUS"}, {Title: "ROLES"}, {Title: "VERSION"},
			{Title: "RUNTIME", Max: 30}, {Title: "INTERNAL-IP"}, {Title: "AGE", Right: true, Numeric: true}},
			func(ctx context.Context) ([]table.Row, error) { return s.browse.nodeRows(ctx, time.Now()) }, nil, "", th, km)
		l.Changes = s.browse.changesFunc()
		return nav.Wrap(l), nil, nil
	case "hunt":
		return s.huntView(arg, th, km, readonly)
	case "contexts":
		if arg != "" {
			return nil, s.switchContextCmd(arg), nil
		}
		return nav.Wrap(list.New("contexts", "contexts", []table.Column{{Title: "CURRENT"}, {Title: "NAME", Max: 40}, {Title: "CLUSTER", Max: 30}, {Title: "USER", Max: 30}, {Title: "NAMESPACE"}, {Title: "SERVER", Flex: true}},
			s.loadContexts, func(r table.Row) tea.Cmd { return s.switchContextCmd(r.Key) }, "switch to the context", th, km)), nil, nil
	}
	return nil, nil, fmt.Errorf("unknown view %q", view)
}

// CachedNamespaces returns the namespaces of the session's informer cache, without starting it
// (the ":" prompt's completion; no I/O).
func (s *ClusterSession) CachedNamespaces() ([]string, bool) {
	b := s.browse.started()
	if b == nil {
		return nil, false
	}
	return b.Namespaces(), true
}

// ListNames lists "namespaces" (from the API server, within ctx) or "contexts" (from the
// kubeconfig) for the completion; it runs inside a Cmd.
func (s *ClusterSession) ListNames(ctx context.Context, kind string) ([]string, error) {
	switch kind {
	case "namespaces":
		return cluster.NamespaceNames(ctx, s.Conn.Client)
	case "contexts":
		if s.flags == nil {
			return nil, nil
		}
		return cluster.KubeconfigNames(s.flags, kind)
	}
	return nil, fmt.Errorf("list names: unknown kind %q", kind)
}

func age(now, t time.Time) (string, string) {
	if t.IsZero() {
		return "", "0"
	}
	d := now.Sub(t)
	return pods.Age(d), strconv.FormatInt(int64(d.Seconds()), 10)
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
		events, err := cluster.PodEvents(ctx, s.Conn.Client, ns, name)
		evErr := ""
		if err != nil {
			evErr = err.Error()
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
	}}, {Binding: km.Logs, Run: func(r table.Row) tea.Cmd {
		ct, ok := strings.CutPrefix(r.Key, "container:")
		if !ok {
			return nav.Status("select a container line (under Containers) to read its logs")
		}
		return nav.Push(s.logsScreen(ns, name, ct, th, km))
	}}}
	return l
}

// logsScreen is a container's log, followed live: the last 5000 lines with timestamps as a
// filterable list, new lines appended as the container writes them (the selection follows the
// last line while it is on it). Closing the screen ends the stream. Read-only: allowed with
// --readonly.
func (s *ClusterSession) logsScreen(ns, pod, ct string, th theme.Theme, km keys.Map) *list.Model {
	f := &logFollower{ch: make(chan struct{}, 1), max: 5000}
	ctx, cancel := context.WithCancel(context.Background())
	l := list.New("logs/"+ns+"/"+pod+"/"+ct, "logs "+ct, []table.Column{{Title: "LOG (FOLLOWED, LAST 5000 LINES)", Flex: true}}, f.rows, nil, "", th, km)
	l.FollowTail = true
	l.Changes = func() <-chan struct{} {
		f.once.Do(func() {
			go f.follow(ctx, func(ctx context.Context) (io.ReadCloser, error) {
				return s.Conn.LogsStream(ctx, ns, pod, ct, cluster.LogOptions{Timestamps: true, TailLines: f.max, Follow: true})
			})
		})
		return f.ch
	}
	l.OnClose = cancel
	return l
}

// logFollower keeps the last max lines of a followed log and signals each batch (coalesced).
type logFollower struct {
	once  sync.Once
	ch    chan struct{}
	max   int
	mu    sync.Mutex
	lines []string
	first int // number of the first kept line
	err   error
	ended bool
}

func (f *logFollower) follow(ctx context.Context, open func(context.Context) (io.ReadCloser, error)) {
	defer close(f.ch)
	rc, err := open(ctx)
	if err != nil {
		f.finish(err)
		return
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f.mu.Lock()
		f.lines = append(f.lines, sc.Text())
		if len(f.lines) > f.max {
			drop := len(f.lines) - f.max
			f.lines, f.first = append([]string(nil), f.lines[drop:]...), f.first+drop
		}
		f.mu.Unlock()
		select {
		case f.ch <- struct{}{}:
		default: // a reload is pending: it will see this line too
		}
	}
	if ctx.Err() == nil {
		f.finish(sc.Err())
	}
}

func (f *logFollower) finish(err error) {
	f.mu.Lock()
	f.err, f.ended = err, true
	f.mu.Unlock()
	select {
	case f.ch <- struct{}{}:
	default:
	}
}

// rows is the list's loader: the lines kept so far.
func (f *logFollower) rows(context.Context) ([]table.Row, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil && len(f.lines) == 0 {
		return nil, f.err
	}
	rows := make([]table.Row, 0, len(f.lines)+1)
	for i, line := range f.lines {
		rows = append(rows, table.Row{Key: strconv.Itoa(f.first + i + 1), Cells: []string{line}})
	}
	if f.ended {
		end := "— the log ended (the container stopped)"
		if f.err != nil {
			end = "— the stream broke: " + f.err.Error()
		}
		rows = append(rows, table.Row{Key: "end", Cells: []string{end}, Tone: table.Muted})
	}
	return rows, nil
}

// ConfirmLines explain what a checkpoint does, in the confirmation.
var ConfirmLines = []string{
	"The container keeps running and is not told: the kubelet asks the runtime to",
	"dump it with CRIU, then podsleuth pulls the archive into the evidence store.",
}

// PodDetailRows renders a pod's detail as lines.
func PodDetailRows(p *corev1.Pod, events []cluster.EventRow, evErr string, now time.Time) []table.Row {
	var rows []table.Row
	add := func(tone table.Tone, f string, a ...any) {
		rows = append(rows, table.Row{Key: strconv.Itoa(len(rows)), Cells: []string{fmt.Sprintf(f, a...)}, Tone: tone})
	}
	row := cluster.PodRowFor(p)
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
	events = slices.Clone(events)
	sort.SliceStable(events, func(i, j int) bool { return events[i].Last.After(events[j].Last) })
	for i, e := range events {
		if i == 20 {
			add(table.Muted, "  … %d older", len(events)-i)
			break
		}
		tone := table.Normal
		if e.Type == corev1.EventTypeWarning {
			tone = table.Warn
		}
		ea, _ := age(now, e.Last)
		add(tone, "  %-6s %-8s %-20s %s", ea, e.Type, e.Reason, e.Message)
	}
	if len(events) == 0 && evErr == "" {
		add(table.Muted, "  none")
	}
	return rows
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// acquireScreen checkpoints one container and pulls it into the evidence store.
func (s *ClusterSession) acquireScreen(ns, pod, ct string, th theme.Theme, km keys.Map) *acquire.Model {
	target := ns + "/" + pod + "/" + ct
	cfg, conn, version := s.cfg, s.Conn, s.version
	run := func(ctx context.Context, progress func(acquire.Progress)) (acquire.Result, error) {
		started := time.Now()
		ac := cluster.NewAcquireConfig(cfg, version)
		ac.Targets = []cluster.Target{{Namespace: ns, Pod: pod, Container: ct}}
		ac.Progress = func(_ cluster.Target, p cluster.Progress) {
			progress(acquire.Progress{Phase: p.Phase, Bytes: p.Bytes, Total: p.Total, Rate: p.Rate, Elapsed: time.Since(started), Attempt: p.Attempt})
		}
		got, err := cluster.Acquire(ctx, conn, ac)
		if err != nil {
			return acquire.Result{}, err
		}
		item := got[0].Evidence
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

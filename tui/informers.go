package tui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/tui/components/table"
	"github.com/podsleuth/podsleuth/tui/screens/pods"
)

// errSessionClosed: a view asked the Browser of a session that was closed (context switch).
var errSessionClosed = errors.New("the cluster session was closed")

// sessionBrowser is the session's one cluster.Browser. It starts on first use, inside a Cmd
// (NewBrowser lists and waits for the informers), and fans the Browser's coalesced Changes out
// to every view that subscribed: one reader of a shared channel would take the signals meant
// for the others.
type sessionBrowser struct {
	client  kubernetes.Interface
	home    string // the connection's namespace: the scope when RBAC refuses all namespaces
	timeout time.Duration
	log     *slog.Logger

	once  sync.Once
	b     *cluster.Browser
	err   error
	scope string // the namespace watched; "" all

	mu      sync.Mutex
	subs    []chan struct{}
	stopped bool
	done    chan struct{}
}

func newSessionBrowser(client kubernetes.Interface, home string, connectTimeout time.Duration, log *slog.Logger) *sessionBrowser {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &sessionBrowser{client: client, home: home, timeout: connectTimeout, log: log, done: make(chan struct{})}
}

// subscribe returns a new coalesced change channel (one per view).
func (sb *sessionBrowser) subscribe() <-chan struct{} {
	ch := make(chan struct{}, 1)
	sb.mu.Lock()
	sb.subs = append(sb.subs, ch)
	sb.mu.Unlock()
	return ch
}

func (sb *sessionBrowser) broadcast() {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	for _, ch := range sb.subs {
		select {
		case ch <- struct{}{}:
		default: // already signalled: changes coalesce
		}
	}
}

// browser starts the Browser on the first call (blocking: call it inside a Cmd) and returns
// it, or why there is none.
func (sb *sessionBrowser) browser() (*cluster.Browser, string, error) {
	sb.once.Do(sb.start)
	return sb.b, sb.scope, sb.err
}

// started returns the Browser when it has started, without starting it (no I/O).
func (sb *sessionBrowser) started() *cluster.Browser {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.b
}

func (sb *sessionBrowser) start() {
	// one cheap list first: RBAC and reachability problems fail fast, in words (the Browser's
	// informers would retry until the sync timeout), and a user allowed only the connection's
	// namespace still gets a Browser of that namespace
	probe := func(ns string) error {
		ctx, cancel := context.WithTimeout(context.Background(), sb.timeout+5*time.Second)
		defer cancel()
		_, err := sb.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{Limit: 1})
		return err
	}
	scope := ""
	if err := probe(""); err != nil {
		if !apierrors.IsForbidden(err) || sb.home == "" {
			sb.err = explain(err, "list pods in all namespaces (try :pods NAMESPACE)")
			return
		}
		if err := probe(sb.home); err != nil {
			sb.err = explain(err, "list pods in namespace "+sb.home)
			return
		}
		scope = sb.home
	}
	b, err := cluster.NewBrowser(context.Background(), sb.client, cluster.BrowserOptions{Namespace: scope, SyncTimeout: sb.timeout*3 + 5*time.Second})
	if err != nil {
		sb.err = explain(err, "watch pods")
		return
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.stopped {
		go b.Stop()
		sb.err = errSessionClosed
		return
	}
	sb.b, sb.scope = b, scope
	if len(b.Partial) > 0 {
		sb.log.Info("browser: RBAC hides some lists", "scope", b.Scope, "hidden", b.Partial)
	}
	go sb.pump(b)
}

func (sb *sessionBrowser) pump(b *cluster.Browser) {
	for {
		select {
		case <-sb.done:
			return
		case <-b.Changes():
			sb.broadcast()
		}
	}
}

// stop stops the Browser without waiting for it (Close runs in Update).
func (sb *sessionBrowser) stop() {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.stopped {
		return
	}
	sb.stopped = true
	close(sb.done)
	if sb.b != nil {
		go sb.b.Stop()
	}
}

// podSource is a pods.Source of one namespace ("" all) over the session's Browser.
type podSource struct {
	sb      *sessionBrowser
	ns      string
	changes <-chan struct{}
	mu      sync.Mutex
	err     error
}

func (sb *sessionBrowser) pods(ns string) *podSource {
	return &podSource{sb: sb, ns: ns, changes: sb.subscribe()}
}

// Snapshot returns the pods, sorted by namespace and name (it starts the Browser: Cmd only).
func (s *podSource) Snapshot() []pods.PodRow {
	b, scope, err := s.sb.browser()
	if err == nil && scope != "" && s.ns != scope {
		where := "in all namespaces"
		if s.ns != "" {
			where = "in namespace " + s.ns
		}
		err = fmt.Errorf("list pods %s: %w: RBAC allows this session only namespace %s (try :pods %s)", where, cluster.ErrForbidden, scope, scope)
	}
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	if err != nil {
		return nil
	}
	rows := b.Pods(s.ns)
	out := make([]pods.PodRow, len(rows))
	for i, r := range rows {
		out[i] = podRowOf(r)
	}
	return out
}

// Err says why there are no pods.
func (s *podSource) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Changes signals (coalesced) that the Browser changed.
func (s *podSource) Changes() <-chan struct{} { return s.changes }

// podRowOf is the list's row of a Browser row.
func podRowOf(r cluster.PodRow) pods.PodRow {
	return pods.PodRow{Namespace: r.Namespace, Name: r.Name, Ready: r.Ready, Status: r.Status, Restarts: int(r.Restarts),
		Node: r.Node, Created: r.Created, Containers: r.Containers, Labels: r.Labels}
}

// namespaceRows are the namespaces view's rows, from the Browser.
func (sb *sessionBrowser) namespaceRows(_ context.Context, now time.Time) ([]table.Row, error) {
	b, _, err := sb.browser()
	if err != nil {
		return nil, err
	}
	var rows []table.Row
	for _, n := range b.NamespaceRows() {
		a, ak := age(now, n.Created)
		if n.Created.IsZero() {
			a, ak = "", ""
		}
		tone := table.Normal
		if n.Status == "Terminating" {
			tone = table.Muted
		}
		rows = append(rows, table.Row{Key: n.Name, Cells: []string{n.Name, n.Status, a}, Keys: []string{n.Name, n.Status, ak}, Labels: n.Labels, Tone: tone})
	}
	return rows, nil
}

// nodeRows are the nodes view's rows, from the Browser.
func (sb *sessionBrowser) nodeRows(_ context.Context, now time.Time) ([]table.Row, error) {
	b, _, err := sb.browser()
	if err != nil {
		return nil, err
	}
	if len(b.Nodes()) == 0 && containsStr(b.Partial, "nodes") {
		return nil, fmt.Errorf("list nodes: %w: RBAC does not allow list/watch on nodes", cluster.ErrForbidden)
	}
	var rows []table.Row
	for _, n := range b.Nodes() {
		status := "NotReady"
		if n.Ready == "True" {
			status = "Ready"
		}
		if n.Unschedulable {
			status += ",SchedulingDisabled"
		}
		a, ak := age(now, n.Created)
		tone := table.Normal
		if status != "Ready" {
			tone = table.Danger
		}
		rows = append(rows, table.Row{Key: n.Name, Cells: []string{n.Name, status, strings.Join(n.Roles, ","), n.KubeletVersion, n.Runtime, n.InternalIP, a},
			Keys: []string{n.Name, status, "", "", "", n.InternalIP, ak}, Labels: n.Labels, Tone: tone})
	}
	return rows, nil
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// changesFunc subscribes a list screen (its own channel, made now).
func (sb *sessionBrowser) changesFunc() func() <-chan struct{} {
	ch := sb.subscribe()
	return func() <-chan struct{} { return ch }
}

package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/screens/list"
	"github.com/podsleuth/podsleuth/tui/screens/pods"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// fakeSession is a ClusterSession over client-go's fake clientset (its informers work; RBAC
// reviews answer "allowed").
func fakeSession(t *testing.T, objs ...runtime.Object) (*ClusterSession, *fake.Clientset) {
	t.Helper()
	cs := fake.NewClientset(objs...)
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, &authzv1.SelfSubjectAccessReview{Status: authzv1.SubjectAccessReviewStatus{Allowed: true}}, nil
	})
	cfg := &config.Config{}
	cfg.Cluster.ConnectTimeout = 2 * time.Second
	s := NewClusterSession(&cluster.Conn{Client: cs, Context: "fake", Namespace: "default"}, nil, cfg, nil, "test")
	t.Cleanup(s.Close)
	return s, cs
}

// driver runs Cmds the way the runtime does: each on its own goroutine (a change wait blocks),
// batches split, every message sent to msgs.
type driver struct{ msgs chan tea.Msg }

func (d *driver) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		msg := cmd()
		if b, ok := subCmds(msg); ok {
			for _, c := range b {
				d.run(c)
			}
			return
		}
		if msg != nil {
			d.msgs <- msg
		}
	}()
}

// until feeds the messages back into the screen until its view contains want; no key is
// pressed (ctrl+r is not needed for a change to show).
func (d *driver) until(t *testing.T, update func(tea.Msg) tea.Cmd, view func() string, want string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(ansi.Strip(view()), want) {
		select {
		case msg := <-d.msgs:
			if _, ok := msg.(tea.KeyPressMsg); ok {
				t.Fatal("no key may be involved")
			}
			d.run(update(msg))
		case <-deadline:
			t.Fatalf("%q did not appear; view:\n%s", want, ansi.Strip(view()))
		}
	}
}

func readyNode(name string, ready corev1.ConditionStatus) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.37.2"}}}
}

// TestNamespacesAndNodesAreLive: a namespace created and a node going NotReady reach the open
// views through the session's one Browser, without ctrl+r.
func TestNamespacesAndNodesAreLive(t *testing.T) {
	s, cs := fakeSession(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, readyNode("node-1", corev1.ConditionTrue))
	ctx := context.Background()
	open := func(view string) (*list.Model, *driver) {
		v, cmd, err := s.View(view, "", theme.Plain(), keys.Default(), true)
		require.NoError(t, err)
		require.Nil(t, cmd)
		l := v.Unwrap().(*list.Model)
		l.SetSize(100, 10)
		d := &driver{msgs: make(chan tea.Msg, 16)}
		d.run(l.Init())
		return l, d
	}
	ns, nsd := open("namespaces")
	nodes, nodesd := open("nodes")
	upd := func(l *list.Model) func(tea.Msg) tea.Cmd {
		return func(m tea.Msg) tea.Cmd { var c tea.Cmd; _, c = l.Update(m); return c }
	}
	nsd.until(t, upd(ns), ns.View, "shop")
	nodesd.until(t, upd(nodes), nodes.View, "Ready")

	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "incident-42"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	nsd.until(t, upd(ns), ns.View, "incident-42")

	_, err = cs.CoreV1().Nodes().Update(ctx, readyNode("node-1", corev1.ConditionFalse), metav1.UpdateOptions{})
	require.NoError(t, err)
	nodesd.until(t, upd(nodes), nodes.View, "NotReady")

	// the pod list shares the Browser
	v, _, err := s.View("pods", "shop", theme.Plain(), keys.Default(), true)
	require.NoError(t, err)
	p := v.Unwrap().(*pods.Model)
	p.SetSize(120, 10)
	pd := &driver{msgs: make(chan tea.Msg, 16)}
	pd.run(p.Init())
	_, err = cs.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "latecomer"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	pd.until(t, func(m tea.Msg) tea.Cmd { var c tea.Cmd; p, c = p.Update(m); return c }, p.View, "latecomer")
}

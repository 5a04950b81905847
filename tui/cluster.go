package tui

import (
	"errors"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/podsleuth/podsleuth/cluster"

	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/screens/acquire"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
	"github.com/podsleuth/podsleuth/tui/screens/confirm"
	"github.com/podsleuth/podsleuth/tui/screens/evidence"
	"github.com/podsleuth/podsleuth/tui/screens/list"
	"github.com/podsleuth/podsleuth/tui/screens/pods"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// Cluster is the connection the cluster views browse. Describe names it for the header
// ("kind-podsleuth / default").
type Cluster interface {
	Describe() string
}

// clusterViewer is implemented by Cluster values that can build the cluster screens (pods,
// namespaces, contexts, nodes). It is a separate interface so that a connection without
// browsing support still shows where it is connected.
type clusterViewer interface {
	View(view, arg string, th theme.Theme, km keys.Map, readonly bool) (screen any, cmd tea.Cmd, err error)
}

// closerCluster is a Cluster with resources (informers) to release on a context switch.
type closerCluster interface{ Close() }

// ErrNoBrowser is reported when the cluster connection cannot browse (this build has no
// cluster browser).
var ErrNoBrowser = errors.New("the cluster browser is not available in this build")

func (a *App) clusterView(view, arg string) (page, tea.Cmd, error) {
	cv, ok := a.cluster.(clusterViewer)
	if !ok {
		return nil, nil, fmt.Errorf(":%s: %w", view, ErrNoBrowser)
	}
	s, cmd, err := cv.View(view, arg, a.th, a.km, a.o.Readonly)
	if err != nil || s == nil {
		return nil, cmd, err
	}
	p, err := a.wrapAny(s)
	return p, cmd, err
}

// wrapAny wraps the screen types the App knows.
func (a *App) wrapAny(s any) (page, error) {
	switch s := s.(type) {
	case *checkpoint.Model:
		return wrap(s), nil
	case *evidence.Model:
		return wrap(s), nil
	case *pods.Model:
		return wrap(s), nil
	case *list.Model:
		return wrap(s), nil
	case *acquire.Model:
		return wrap(s), nil
	case *confirm.Model:
		return wrap(s), nil
	case page:
		return s, nil
	}
	return nil, fmt.Errorf("internal: cannot show a %T", s)
}

// plainClusterError turns a connection failure into words a responder understands.
func plainClusterError(err error) string {
	s := err.Error()
	l := strings.ToLower(s)
	switch {
	case errors.Is(err, cluster.ErrNoKubeconfig) || strings.Contains(l, "no configuration has been provided") || strings.Contains(l, "invalid configuration: no configuration"):
		return "no kubeconfig"
	case errors.Is(err, cluster.ErrUnauthorized) || strings.Contains(l, "unauthorized"):
		return "the API server rejected the credentials"
	case strings.Contains(l, "connection refused"):
		return "the API server refused the connection"
	case strings.Contains(l, "no such host"):
		return "the API server's name does not resolve"
	case errors.Is(err, cluster.ErrUnreachable) || strings.Contains(l, "deadline exceeded") || strings.Contains(l, "timeout"):
		return "the API server did not answer in time"
	case strings.Contains(l, "x509") || strings.Contains(l, "certificate"):
		return "the API server's certificate is not trusted"
	}
	return s
}

// clusterHint says how to fix a cluster error.
func clusterHint(err error) string {
	l := strings.ToLower(err.Error())
	switch {
	case strings.Contains(l, "forbidden"):
		return "your identity lacks RBAC permission: see deploy/rbac in the README for the role podsleuth needs"
	case strings.Contains(l, "feature gate") || strings.Contains(l, "404"):
		return "enable the kubelet's ContainerCheckpoint feature gate (on by default since Kubernetes 1.30)"
	case strings.Contains(l, "criu"):
		return "CRIU failed on the node: the kubelet's message above says why (e.g. unsupported socket or mount)"
	case strings.Contains(l, "timeout") || strings.Contains(l, "deadline"):
		return "raise cluster.checkpoint_timeout, or check that the node is reachable"
	}
	return ""
}

// PushPage returns the message that pushes a screen (tests and cluster views).
func PushPage(s any) tea.Msg { return PushPageMsg{s} }

// PushPageMsg pushes a screen built outside the App (tests, cluster views).
type PushPageMsg struct{ s any }

// navOpen is the message that opens a checkpoint (tests).
func navOpen(path, label string) tea.Msg { return nav.OpenCheckpointMsg{Path: path, Label: label} }

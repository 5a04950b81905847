package tui

import (
	"errors"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// Cluster is the connection the cluster views browse (a ClusterSession). Describe names it for
// the header ("ctx kind-podsleuth  ns default"); View builds a cluster screen (pods,
// namespaces, nodes, contexts) without I/O: the screen loads in its Init Cmd.
type Cluster interface {
	Describe() string
	View(view, arg string, th theme.Theme, km keys.Map, readonly bool) (nav.Page, tea.Cmd, error)
}

// closerCluster is a Cluster with resources (informers) to release on a context switch.
type closerCluster interface{ Close() }

func (a *App) clusterView(view, arg string) (nav.Page, tea.Cmd, error) {
	return a.cluster.View(view, arg, a.th, a.km, a.o.Readonly)
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

// navOpen is the message that opens a checkpoint (tests).
func navOpen(path, label string) tea.Msg { return nav.OpenCheckpointMsg{Path: path, Label: label} }

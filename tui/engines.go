package tui

import (
	"context"
	"log/slog"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
)

// NewLoader returns the Loader that opens checkpoints with the open job (forensics/open) and
// analyses them with the analysis job (forensics/analysis). It runs inside a Cmd.
func NewLoader(cfg *config.Config) checkpoint.Loader {
	return NewJobs(cfg, "").Loader()
}

// Connector returns the function the App calls at start to reach the cluster named by the
// kubectl-style flags within cluster.connect_timeout (read-only when configured); version is
// sent in the user agent and recorded in the manifests of acquisitions.
func Connector(flags genericclioptions.RESTClientGetter, cfg *config.Config, log *slog.Logger, version string) func(context.Context) (Cluster, error) {
	return newConnector(flags, cfg, log, version)
}

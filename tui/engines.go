package tui

import (
	"context"
	"log/slog"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
)

// NewLoader returns the Loader that decodes checkpoints with forensics/archive and
// forensics/criu and analyses them with forensics/memory, forensics/ioc and forensics/findings.
// It returns nil while the decoder is not part of the build, and the App then says so.
func NewLoader(cfg *config.Config) checkpoint.Loader {
	return newLoader(cfg)
}

// Connector returns the function the App calls at start to reach the cluster named by the
// kubectl-style flags within cluster.connect_timeout, or nil while the cluster package is not
// part of the build (the App then starts in the evidence view and says so).
func Connector(flags genericclioptions.RESTClientGetter, cfg *config.Config, log *slog.Logger) func(context.Context) (Cluster, error) {
	return newConnector(flags, cfg, log)
}

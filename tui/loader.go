package tui

import (
	"context"
	"log/slog"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
)

// newLoader is nil until forensics/criu provides Decode.
func newLoader(cfg *config.Config) checkpoint.Loader { return nil }

// newConnector is nil until the cluster package provides Connect.
func newConnector(genericclioptions.RESTClientGetter, *config.Config, *slog.Logger) func(context.Context) (Cluster, error) {
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/config"
)

// options is the shape of a subcommand's options, as kubectl's commands have it
// (sample-cli-plugin's NewCmdX): Complete fills the values from the configuration, the
// arguments and the streams and does no work (it opens no store, connects to nothing, unpacks
// nothing); Validate checks them; Run does the work.
type options interface {
	Complete(a *app, cmd *cobra.Command, args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// runE runs o's Complete, Validate and Run in turn: the RunE of a command built on options.
func runE(a *app, o options) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(a, cmd, args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		return o.Run(ctx)
	}
}

// common is what the options of a command family share: the output format, the loaded
// configuration, the streams and the arguments. Its Complete and Validate serve every member
// of the family that needs no more.
type common struct {
	output string
	// formats are the output formats the command accepts (the first is the default).
	formats []string
	cfg     *config.Config
	args    []string
	streams
	// connect connects to the cluster the kubectl-style flags name (bound by Complete, called
	// only by a Run that needs the cluster).
	connect func(context.Context) (*cluster.Conn, error)
}

// Complete loads the configuration (flags, environment, file), keeps the arguments and binds
// the cluster connection; it connects to nothing.
func (o *common) Complete(a *app, cmd *cobra.Command, args []string) error {
	c, err := a.config(cmd)
	if err != nil {
		return err
	}
	o.cfg, o.args, o.streams = c, args, a.streams
	o.connect = func(ctx context.Context) (*cluster.Conn, error) {
		conn, _, err := a.connect(ctx, cmd)
		return conn, err
	}
	return nil
}

// Validate checks the output format.
func (o *common) Validate() error {
	if !slices.Contains(o.formats, o.output) {
		return fmt.Errorf("--output must be %s, not %q", strings.Join(o.formats, " or "), o.output)
	}
	return nil
}

// json reports whether the output is JSON.
func (o *common) json() bool { return o.output == "json" }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

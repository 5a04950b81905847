package main

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/cluster"
)

// logsOptions are the options of `podsleuth logs [NAMESPACE/]POD`.
type logsOptions struct {
	*common
	container string
	tail      int
	previous  bool
	raw       bool
	follow    bool
	ns, pod   string
}

// Complete reads the pod argument.
func (o *logsOptions) Complete(a *app, cmd *cobra.Command, args []string) error {
	if err := o.common.Complete(a, cmd, args); err != nil {
		return err
	}
	var err error
	o.ns, o.pod, err = a.podArg(args[0])
	return err
}

// Validate checks --tail.
func (o *logsOptions) Validate() error {
	if o.tail < 0 {
		return fmt.Errorf("--tail must be 0 (all) or more, not %d", o.tail)
	}
	return nil
}

// ignoreCancel drops the error of a stream ended by Ctrl-C (the end the user asked for).
func ignoreCancel(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func newLogsCmd(a *app) *cobra.Command {
	o := &logsOptions{common: &common{}}
	cmd := &cobra.Command{
		Use:   "logs [NAMESPACE/]POD [-c CONTAINER] [--tail N] [--previous] [-f] [--raw]",
		Short: "Print a container's log with timestamps (the TUI's L on a container), read-only",
		Long: `logs reads a container's log through the API server, each line with its timestamp: the
workbench's L on a container line, as a command. Lines are written terminal-safe (escape
sequences and other control characters escaped, as everywhere in podsleuth's text output);
--raw writes the bytes as the kubelet sent them. A checkpoint --pull keeps the log with the
evidence (artifacts), hashed.`,
		Args: cobra.ExactArgs(1),
		RunE: runE(a, o),
	}
	cmd.Flags().StringVarP(&o.container, "container", "c", "", "container (default: the pod's default container)")
	cmd.Flags().IntVar(&o.tail, "tail", 0, "only the last N lines (default: all)")
	cmd.Flags().BoolVarP(&o.previous, "previous", "p", false, "the previous instance's log (after a restart)")
	cmd.Flags().BoolVar(&o.raw, "raw", false, "write the log's bytes unchanged (control characters included)")
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "keep printing new lines until Ctrl-C or the container stops")
	return cmd
}

// Run streams the log, terminal-safe line by line unless --raw.
func (o *logsOptions) Run(ctx context.Context) error {
	conn, err := o.connect(ctx)
	if err != nil {
		return err
	}
	ts, err := conn.Resolve(ctx, o.ns, o.pod, o.container, false, "")
	if err != nil {
		return err
	}
	rc, err := conn.LogsStream(ctx, o.ns, o.pod, ts[0].Container,
		cluster.LogOptions{Timestamps: true, TailLines: o.tail, Previous: o.previous, Follow: o.follow})
	if err != nil {
		return err
	}
	defer rc.Close()
	if o.raw {
		_, err = io.Copy(o.Out, rc)
		return ignoreCancel(ctx, err)
	}
	// line by line, flushed as they come (-f)
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if _, err := fmt.Fprintln(o.Out, quote(sc.Text())); err != nil {
			return err
		}
	}
	return ignoreCancel(ctx, sc.Err())
}

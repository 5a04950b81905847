package main

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/cluster"
)

type logsOptions struct {
	container string
	tail      int
	previous  bool
	raw       bool
	follow    bool
}

// ignoreCancel drops the error of a stream ended by Ctrl-C (the end the user asked for).
func ignoreCancel(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func newLogsCmd(a *app) *cobra.Command {
	o := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs [NAMESPACE/]POD [-c CONTAINER] [--tail N] [--previous] [-f] [--raw]",
		Short: "Print a container's log with timestamps (the TUI's L on a container), read-only",
		Long: `logs reads a container's log through the API server, each line with its timestamp: the
workbench's L on a container line, as a command. Lines are written terminal-safe (escape
sequences and other control characters escaped, as everywhere in podsleuth's text output);
--raw writes the bytes as the kubelet sent them. A checkpoint --pull keeps the log with the
evidence (artifacts), hashed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, pod, err := a.podArg(args[0])
			if err != nil {
				return err
			}
			conn, _, err := a.connect(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			ts, err := conn.Resolve(cmd.Context(), ns, pod, o.container, false, "")
			if err != nil {
				return err
			}
			rc, err := conn.LogsStream(cmd.Context(), ns, pod, ts[0].Container,
				cluster.LogOptions{Timestamps: true, TailLines: o.tail, Previous: o.previous, Follow: o.follow})
			if err != nil {
				return err
			}
			defer rc.Close()
			if o.raw {
				_, err = io.Copy(a.Out, rc)
				return ignoreCancel(cmd.Context(), err)
			}
			// line by line, flushed as they come (-f)
			sc := bufio.NewScanner(rc)
			sc.Buffer(make([]byte, 64<<10), 16<<20)
			for sc.Scan() {
				if _, err := fmt.Fprintln(a.Out, quote(sc.Text())); err != nil {
					return err
				}
			}
			return ignoreCancel(cmd.Context(), sc.Err())
		},
	}
	cmd.Flags().StringVarP(&o.container, "container", "c", "", "container (default: the pod's default container)")
	cmd.Flags().IntVar(&o.tail, "tail", 0, "only the last N lines (default: all)")
	cmd.Flags().BoolVarP(&o.previous, "previous", "p", false, "the previous instance's log (after a restart)")
	cmd.Flags().BoolVar(&o.raw, "raw", false, "write the log's bytes unchanged (control characters included)")
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "keep printing new lines until Ctrl-C or the container stops")
	return cmd
}

package main

import (
	"bufio"
	"bytes"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/cluster"
)

type logsOptions struct {
	container string
	tail      int
	previous  bool
	raw       bool
}

func newLogsCmd(a *app) *cobra.Command {
	o := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs [NAMESPACE/]POD [-c CONTAINER] [--tail N] [--previous] [--raw]",
		Short: "Print a container's log with timestamps (the TUI's L on a container), read-only",
		Long: `logs reads a container's log through the API server, each line with its timestamp: the
workbench's L on a container line, as a command. Lines are written terminal-safe (escape
sequences and other control characters escaped, as everywhere in podsleuth's text output);
--raw writes the bytes as the kubelet sent them. A checkpoint --pull keeps the log with the
evidence (artifacts), hashed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, _, err := a.kube.ToRawKubeConfigLoader().Namespace()
			if err != nil || ns == "" {
				ns = "default"
			}
			ns, pod := splitNamespacedName(args[0], ns)
			if pod == "" {
				return fmt.Errorf("invalid pod %q: want [NAMESPACE/]POD", args[0])
			}
			conn, _, err := a.connect(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			ts, err := conn.Resolve(cmd.Context(), ns, pod, o.container, false, "")
			if err != nil {
				return err
			}
			b, err := conn.Logs(cmd.Context(), ns, pod, ts[0].Container, cluster.LogOptions{Timestamps: true, TailLines: o.tail, Previous: o.previous})
			if err != nil {
				return err
			}
			if o.raw {
				_, err = a.Out.Write(b)
				return err
			}
			w := bufio.NewWriter(a.Out)
			sc := bufio.NewScanner(bytes.NewReader(b))
			sc.Buffer(make([]byte, 64<<10), 16<<20)
			for sc.Scan() {
				fmt.Fprintln(w, quote(sc.Text()))
			}
			if err := sc.Err(); err != nil {
				return err
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&o.container, "container", "c", "", "container (default: the pod's default container)")
	cmd.Flags().IntVar(&o.tail, "tail", 0, "only the last N lines (default: all)")
	cmd.Flags().BoolVarP(&o.previous, "previous", "p", false, "the previous instance's log (after a restart)")
	cmd.Flags().BoolVar(&o.raw, "raw", false, "write the log's bytes unchanged (control characters included)")
	return cmd
}

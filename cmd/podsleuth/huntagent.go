package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/forensics/hunt"
)

// The node side of `podsleuth hunt`: the analyzer Job's container runs `hunt-agent serve`, and
// the hunt runs `hunt-agent analyze` in it (exec) for each archive as its checkpoint completes.
// Neither reads a config file or the evidence store: the node holds no analyst secret.

type huntAgentOptions struct {
	dir, cache   string
	idle, maxRun time.Duration
}

func newHuntAgentCmd(a *app) *cobra.Command {
	o := &huntAgentOptions{}
	cmd := &cobra.Command{
		Use:    "hunt-agent",
		Short:  "The analyzer a hunt runs on each node (not for interactive use)",
		Hidden: true,
	}
	cmd.PersistentFlags().StringVar(&o.dir, "dir", "/checkpoints", "the checkpoint directory (read-only mount)")
	cmd.PersistentFlags().StringVar(&o.cache, "cache", "/scratch", "writable scratch directory (emptyDir)")
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Keep the analyzer pod running until the hunt is over (idle or SIGTERM)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.serve(a)
		},
	}
	serve.Flags().DurationVar(&o.idle, "idle", 10*time.Minute, "exit 0 after this long without an analysis (a hunt that died)")
	serve.Flags().DurationVar(&o.maxRun, "max", 0, "exit 0 after this long in any case (0: no bound; the Job's activeDeadlineSeconds bounds it too)")
	analyze := &cobra.Command{
		Use:   "analyze",
		Short: "Analyse one archive: a JSON request on stdin, one JSON result line on stdout",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.touch()
			defer o.touch()
			var res *hunt.Result
			req, err := hunt.DecodeRequest(a.In)
			if err != nil {
				res = &hunt.Result{V: hunt.ResultVersion, Stage: "request", Error: err.Error(), Archive: "invalid-request"}
			} else {
				res = hunt.Analyze(cmd.Context(), req, hunt.Options{Dir: o.dir, CacheDir: o.cache})
			}
			b, err := json.Marshal(res)
			if err != nil {
				return err
			}
			_, err = a.Out.Write(append(b, '\n'))
			return err
		},
	}
	cmd.AddCommand(serve, analyze)
	return cmd
}

// activity is the file whose time says when an analysis last started or ended.
func (o *huntAgentOptions) activity() string { return filepath.Join(o.cache, ".podsleuth-activity") }

func (o *huntAgentOptions) touch() {
	now := time.Now()
	if err := os.Chtimes(o.activity(), now, now); err != nil {
		_ = os.WriteFile(o.activity(), nil, 0o600)
	}
}

func (o *huntAgentOptions) serve(a *app) error {
	o.touch()
	fmt.Fprintf(a.Out, "podsleuth hunt-agent %s ready: archives in %s, scratch %s, uid %d\n", version, o.dir, o.cache, os.Getuid())
	if st, err := os.Stat(o.dir); err != nil || !st.IsDir() {
		return fmt.Errorf("checkpoint directory %s: not a directory (%v)", o.dir, err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	start := time.Now()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-sig:
			fmt.Fprintln(a.Out, "podsleuth hunt-agent: stopped")
			return nil
		case <-tick.C:
			if o.maxRun > 0 && time.Since(start) > o.maxRun {
				fmt.Fprintln(a.Out, "podsleuth hunt-agent: time is up")
				return nil
			}
			if st, err := os.Stat(o.activity()); err == nil && time.Since(st.ModTime()) > o.idle {
				fmt.Fprintf(a.Out, "podsleuth hunt-agent: idle for %s, exiting\n", o.idle)
				return nil
			}
		}
	}
}

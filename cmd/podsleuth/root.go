package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/podsleuth/podsleuth/config"
)

// version is set by the Makefile with -ldflags "-X main.version=...".
var version = "dev"

// streams are the command's standard streams (tests pass buffers).
type streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// app is what every subcommand shares: streams, the global flags and the kubectl-style flags.
// It is built once per run; there are no flag globals.
type app struct {
	streams
	root       *cobra.Command
	configFile string
	kube       *genericclioptions.ConfigFlags
	cfg        *config.Config
	// mismatched lists the evidence opened by this run that failed verification: the run
	// ends with exitMismatch after its output (see noteVerification).
	mismatched []string
}

// exitMismatch is the exit status of a command that analysed store evidence which failed its
// verification on open (the output is printed, with a warning on stderr): documented in README.
const exitMismatch = 3

// exitError carries a specific exit status (e.g. 2 for "evidence verification failed").
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// config loads the configuration once, honouring the flags of the command being run.
func (a *app) config(cmd *cobra.Command) (*config.Config, error) {
	if a.cfg != nil {
		return a.cfg, nil
	}
	c, err := config.Load(config.Options{File: a.configFile, Flags: cmd.Flags()})
	if err != nil {
		return nil, err
	}
	a.cfg = c
	return c, nil
}

// newApp builds the command tree.
func newApp(name string, s streams) *app {
	a := &app{streams: s, kube: genericclioptions.NewConfigFlags(true)}
	root := &cobra.Command{
		Use:   "podsleuth",
		Short: "Checkpoint, pull, decode and analyse Kubernetes containers silently",
		Long: name + ` is a keyboard-driven workbench for incident responders: browse a cluster, checkpoint a
suspicious container without it noticing (kubelet checkpoint API, CRIU), pull the archive into a
local evidence store with a chain of custody, decode it, search its memory, restore it into an
isolated sandbox and export a forensic report. With no subcommand it starts the TUI.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runTUI(cmd, nil, "")
		},
	}
	// Run as a kubectl plugin, help and usage say "kubectl podsleuth".
	root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: name}
	pf := root.PersistentFlags()
	pf.StringVar(&a.configFile, "config", "", "config file (default "+filepath.Join(config.ConfigDir(), "config.yaml")+")")
	pf.Bool("readonly", false, "refuse every action that changes the cluster")
	pf.String("data-dir", "", "evidence store directory (default $XDG_DATA_HOME/podsleuth)")
	pf.String("case-id", "", "case identifier recorded in custody logs and reports")
	pf.String("case-analyst", "", "analyst recorded in custody logs and reports")
	a.kube.AddFlags(pf)
	a.root = root
	root.AddCommand(
		newVersionCmd(a),
		newOpenCmd(a),
		newInspectCmd(a),
		newMemdumpCmd(a),
		newMemsearchCmd(a),
		newIOCsCmd(a),
		newFindingsCmd(a),
		newFilesCmd(a),
		newYaraCmd(a),
		newReportCmd(a),
		newDiffCmd(a),
		newContextsCmd(a),
		newPreflightCmd(a),
		newLogsCmd(a),
		newCheckpointCmd(a),
		newEvidenceCmd(a),
		newRestoreCmd(a),
		newSandboxCmd(a),
		newHuntCmd(a),
		newHuntAgentCmd(a),
	)
	a.registerCompletions()
	return a
}

// run executes the command line and returns the exit status. Errors are printed as one line,
// never as a stack trace.
func run(ctx context.Context, args []string, s streams) int {
	name := "podsleuth"
	if len(args) > 0 && strings.HasPrefix(filepath.Base(args[0]), "kubectl-") {
		name = "kubectl podsleuth"
	}
	a := newApp(name, s)
	a.root.SetArgs(args[1:])
	a.root.SetIn(s.In)
	a.root.SetOut(s.Out)
	a.root.SetErr(s.ErrOut)
	err := a.root.ExecuteContext(ctx)
	if err == nil && len(a.mismatched) > 0 {
		err = &exitError{code: exitMismatch, err: fmt.Errorf("%d evidence item(s) FAILED verification on open (%s): the output comes from altered evidence",
			len(a.mismatched), strings.Join(a.mismatched, ", "))}
	}
	if err != nil {
		fmt.Fprintf(s.ErrOut, "%s: error: %v\n", strings.Fields(name)[len(strings.Fields(name))-1], err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	return 0
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(a.Out, version)
			return err
		},
	}
}

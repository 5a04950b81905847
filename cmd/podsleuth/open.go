package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	tea "charm.land/bubbletea/v2"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/forensics/open"
	"github.com/podsleuth/podsleuth/test/fixtures"
	"github.com/podsleuth/podsleuth/tui"
	"github.com/podsleuth/podsleuth/tui/keys"
	evscreen "github.com/podsleuth/podsleuth/tui/screens/evidence"
)

// openOptions are the options of `podsleuth open` (and of the bare `podsleuth`).
type openOptions struct {
	archives []string
	rootfs   string
}

func newOpenCmd(a *app) *cobra.Command {
	o := &openOptions{}
	cmd := &cobra.Command{
		Use:   "open ARCHIVE|IMAGE-DIR|EVIDENCE-ID... [--rootfs BASE]",
		Short: "Open checkpoints in the workbench TUI",
		Long: `Open decodes the given checkpoint archives (tar, tar.gz, tar.zst) or CRIU image directories and
shows them in the workbench: summary and findings, the process tree with each process's
cmdline, environment (secrets masked until r), credentials, fds, sockets and maps, network,
files, mounts, rootfs changes, memory search with a hexdump viewer, IOCs.

With --rootfs BASE (the container's base image, as findings and report take it) the rootfs
changes are told apart (modified or added) against it, enter on a modified text file shows its
diff, and the report exported with x carries the diffs.`,
		Example: `  podsleuth open checkpoint.tar
  podsleuth open checkpoint.tar --rootfs base-image.tar.gz`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.archives = args
			return a.runTUI(cmd, o.archives, o.rootfs)
		},
	}
	cmd.Flags().StringVar(&o.rootfs, "rootfs", "", "the containers' base image (registry reference fetched with your registry credentials, docker-archive/OCI tarball, OCI layout, or rootfs dir/tar; tarballs may be gzipped): rootfs changes are classified added or modified against it and modified text files diffed")
	return cmd
}

// runTUI starts the workbench; archives, when given, are opened directly (against the base
// image rootfs when not "").
func (a *app) runTUI(cmd *cobra.Command, archives []string, rootfs string) error {
	cfg, err := a.config(cmd)
	if err != nil {
		return err
	}
	for i, p := range archives {
		// the loader records the opening of evidence in its custody log
		t, err := open.Resolve(open.FromConfig(cfg, p, ""))
		if err != nil {
			return fmt.Errorf("open %w", err)
		}
		if _, err := os.Stat(t.Path); err != nil {
			// the path once: "open X: no such file or directory", not "open X: stat X: ..."
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return fmt.Errorf("open %s: %w", p, err)
		}
		archives[i] = t.Path
	}
	km, err := keys.Default().WithOverrides(cfg.TUI.Keys)
	if err != nil {
		return err
	}
	logger, closeLog, err := openLog(cfg.LogFile)
	if err != nil {
		return err
	}
	defer closeLog()
	silenceKlog(logger)

	jobs := tui.NewJobs(cfg, version)
	o := tui.Options{
		Keys:     km,
		Readonly: cfg.Readonly,
		Theme:    cfg.TUI.Theme,
		NoColor:  tui.NoColor(),
		Mouse:    cfg.TUI.Mouse,
		Archives: archives,
		Rootfs:   rootfs,
		Log:      logger,
		Loader:   jobs.Loader(),
		Extract: func(ctx context.Context, name string) (string, error) {
			return tui.ExtractSample(ctx, fixtures.Sample, name, cfg.CacheDir)
		},
	}
	st, serr := evidence.OpenConfig(cfg)
	src := evscreen.Source{StoreErr: serr, Samples: func() ([]evscreen.Sample, error) { return tui.Samples(fixtures.Sample) }}
	if serr == nil {
		src.Store = st
	}
	src.Actions = evscreen.Actions{Report: jobs.Report, Restore: jobs.Restore, Add: jobs.Add}
	o.Evidence = src
	if len(archives) > 0 {
		o.NoCluster = "not used: opening files"
	} else {
		o.Connect = tui.Connector(a.kube, cfg, logger, version)
	}
	app := tui.New(o)
	opts := []tea.ProgramOption{tea.WithContext(cmd.Context())}
	if f, ok := a.In.(*os.File); ok {
		opts = append(opts, tea.WithInput(f))
	}
	if f, ok := a.Out.(*os.File); ok {
		opts = append(opts, tea.WithOutput(f))
	}
	_, err = tea.NewProgram(app, opts...).Run()
	if errors.Is(err, tea.ErrProgramKilled) && cmd.Context().Err() != nil {
		return nil
	}
	return err
}

// openLog opens the log file (creating its directory); logs never go to the terminal while
// the TUI runs.
func openLog(path string) (*slog.Logger, func(), error) {
	if path == "" {
		return slog.New(slog.DiscardHandler), func() {}, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("log file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("log file: %w", err)
	}
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug})), func() { f.Close() }, nil
}

// silenceKlog sends client-go's klog output to the log file instead of stderr.
func silenceKlog(l *slog.Logger) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
	klog.SetSlogLogger(l)
}

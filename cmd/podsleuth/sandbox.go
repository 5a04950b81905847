package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/sandbox"
	"github.com/podsleuth/podsleuth/sandbox/local"
	"github.com/podsleuth/podsleuth/sandbox/restore"
)

// sandboxOptions are the options of `podsleuth sandbox ...`.
type sandboxOptions struct {
	output string
	signal string
}

func newSandboxCmd(a *app) *cobra.Command {
	o := &sandboxOptions{}
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "List, inspect, enter, resume, kill and destroy restored sandboxes",
	}
	cmd.PersistentFlags().StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	// backend returns the local backend.
	backend := func(cmd *cobra.Command) (*local.Local, error) {
		c, err := a.config(cmd)
		if err != nil {
			return nil, err
		}
		return restore.Local(c), nil
	}
	// backendFor returns the backend that owns sandbox id (cluster sandboxes need the cluster).
	backendFor := func(cmd *cobra.Command, id string) (sandbox.Restorer, error) {
		c, err := a.config(cmd)
		if err != nil {
			return nil, err
		}
		info, err := sandbox.States{Root: restore.StateDir(c)}.Load(id)
		if err != nil {
			return nil, err
		}
		if info.Backend != sandbox.BackendCluster {
			return restore.Local(c), nil
		}
		conn, _, err := a.connect(cmd.Context(), cmd)
		if err != nil {
			return nil, err
		}
		return restore.Cluster(c, conn, info.Node, true), nil
	}
	custody := func(cmd *cobra.Command, info *sandbox.Info, what string, details map[string]string) error {
		if info == nil || info.EvidenceID == "" {
			return nil
		}
		c, err := a.config(cmd)
		if err != nil {
			return err
		}
		st, err := evidence.OpenConfig(c)
		if err != nil {
			return err
		}
		if details == nil {
			details = map[string]string{}
		}
		details["sandbox"] = info.ID
		return sandbox.LogCustody(st, info.EvidenceID, what, details)
	}
	// sandboxOf finds sandbox id and its backend.
	sandboxOf := func(cmd *cobra.Command, id string) (sandbox.Restorer, *sandbox.Info, error) {
		b, err := backendFor(cmd, id)
		if err != nil {
			return nil, nil, err
		}
		info, err := b.Get(cmd.Context(), id)
		if err != nil {
			return nil, nil, err
		}
		return b, info, nil
	}
	// signalSandbox signals the restored processes, records what in the custody log and says
	// done (a format with the sandbox ID).
	signalSandbox := func(cmd *cobra.Command, id string, sig syscall.Signal, what string, details map[string]string, done string) error {
		b, err := backendFor(cmd, id)
		if err != nil {
			return err
		}
		if err := b.Signal(cmd.Context(), id, sig); err != nil {
			return err
		}
		info, _ := b.Get(cmd.Context(), id)
		if err := custody(cmd, info, what, details); err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.Out, done, id)
		return err
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the sandboxes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := backend(cmd)
			if err != nil {
				return err
			}
			all, err := b.List(cmd.Context())
			if err != nil {
				return err
			}
			c, _ := a.config(cmd)
			more, err := sandbox.States{Root: restore.StateDir(c)}.List(sandbox.BackendCluster)
			if err != nil {
				return err
			}
			all = append(all, more...)
			if o.output == "json" {
				return writeJSON(a.Out, all)
			}
			if len(all) == 0 {
				_, err := fmt.Fprintln(a.Out, "no sandboxes")
				return err
			}
			tw := tabwriter.NewWriter(a.Out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tBACKEND\tKIND\tSTATE\tROOT PID\tSINKHOLE\tCREATED\tSOURCE")
			for _, s := range all {
				sink := "-"
				if s.Sinkhole != nil {
					sink = s.Sinkhole.Address
				}
				if s.Namespace != "" {
					sink = "ns " + s.Namespace
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", s.ID, s.Backend, s.Kind, s.State, s.RootPID, sink,
					s.Created.Format("2006-01-02 15:04:05"), s.Source)
			}
			return tw.Flush()
		},
	}
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a sandbox",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, info, err := sandboxOf(cmd, args[0])
			if err != nil {
				return err
			}
			if o.output == "json" {
				return writeJSON(a.Out, info)
			}
			return printSandbox(a.Out, info)
		},
	}
	ps := &cobra.Command{
		Use:   "ps ID",
		Short: "List the processes of a sandbox (host and sandbox PIDs, state)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := backendFor(cmd, args[0])
			if err != nil {
				return err
			}
			procs, err := b.Ps(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if o.output == "json" {
				return writeJSON(a.Out, procs)
			}
			tw := tabwriter.NewWriter(a.Out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "HOST PID\tPID\tPPID\tSTATE\tCOMM\tCMDLINE")
			for _, p := range procs {
				c := p.Cmdline
				if !p.Restored {
					c += "   (podsleuth namespace holder)"
				}
				fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\n", p.HostPID, p.NSPID, p.PPID, p.State, p.Comm, c)
			}
			return tw.Flush()
		},
	}
	enter := &cobra.Command{
		Use:   "enter ID [-- COMMAND...]",
		Short: "Run a shell (or COMMAND) inside the sandbox's namespaces",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, info, err := sandboxOf(cmd, args[0])
			if err != nil {
				return err
			}
			if en, ok := b.(sandbox.Enterer); ok {
				// a cluster sandbox: the command runs on its node, streamed through the API server
				if err := custody(cmd, info, "entered", map[string]string{"command": strings.Join(args[1:], " "), "node": info.Node}); err != nil {
					return err
				}
				code, err := enterRemote(cmd.Context(), a, en, args[0], args[1:])
				if err != nil {
					return err
				}
				if code != 0 {
					return &exitError{code: code, err: fmt.Errorf("command in sandbox %s exited with status %d", args[0], code)}
				}
				return nil
			}
			argv, err := b.EnterCommand(cmd.Context(), args[0], args[1:])
			if err != nil {
				return err
			}
			if err := custody(cmd, info, "entered", map[string]string{"command": strings.Join(args[1:], " ")}); err != nil {
				return err
			}
			c := exec.CommandContext(context.WithoutCancel(cmd.Context()), argv[0], argv[1:]...)
			c.Stdin, c.Stdout, c.Stderr = a.In, a.Out, a.ErrOut
			signal.Ignore(os.Interrupt) // Ctrl-C belongs to the shell inside
			defer signal.Reset(os.Interrupt)
			if err := c.Run(); err != nil {
				if ee, ok := err.(*exec.ExitError); ok {
					return &exitError{code: ee.ExitCode(), err: fmt.Errorf("command in sandbox %s exited with status %d", args[0], ee.ExitCode())}
				}
				return err
			}
			return nil
		},
	}
	resume := &cobra.Command{
		Use:   "resume ID",
		Short: "Let the restored processes of a sandbox run (SIGCONT)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return signalSandbox(cmd, args[0], syscall.SIGCONT, "resumed", nil, "sandbox %s resumed\n")
		},
	}
	kill := &cobra.Command{
		Use:   "kill ID",
		Short: "Send a signal (default SIGKILL) to every restored process of a sandbox",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sig, err := parseSignal(o.signal)
			if err != nil {
				return err
			}
			return signalSandbox(cmd, args[0], sig, "signalled", map[string]string{"signal": o.signal}, "sent "+o.signal+" to the processes of sandbox %s\n")
		},
	}
	kill.Flags().StringVar(&o.signal, "signal", "KILL", "signal name or number (KILL, TERM, STOP, CONT, ...)")
	destroy := &cobra.Command{
		Use:   "destroy ID...",
		Short: "Remove sandboxes: processes, mounts, namespaces, sinkhole and state directory",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, id := range args {
				b, info, err := sandboxOf(cmd, id)
				if err != nil {
					return err
				}
				if err := b.Destroy(cmd.Context(), id); err != nil {
					return err
				}
				if err := custody(cmd, info, "destroyed", nil); err != nil {
					return err
				}
				if _, err := fmt.Fprintf(a.Out, "sandbox %s destroyed\n", id); err != nil {
					return err
				}
			}
			return nil
		},
	}
	sinklog := &cobra.Command{
		Use:   "connections ID",
		Short: "Show what a sandbox tried to reach through its sinkhole",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := backend(cmd)
			if err != nil {
				return err
			}
			info, err := b.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if info.Sinkhole == nil {
				return fmt.Errorf("sandbox %s has no sinkhole (restore with --sinkhole)", args[0])
			}
			evs, err := local.ReadSinkholeLog(info.Dir)
			if err != nil && !os.IsNotExist(err) {
				return err
			}
			if o.output == "json" {
				return writeJSON(a.Out, evs)
			}
			tw := tabwriter.NewWriter(a.Out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tPROTO\tPROCESS\tDESTINATION\tQUERY\tFIRST BYTES")
			for _, e := range evs {
				proc := "?"
				if e.PID != 0 {
					proc = fmt.Sprintf("%d/%s", e.PID, e.Comm)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.60s\n", e.Time.Format("15:04:05.000"), e.Proto, proc, e.Dst, e.Query, e.FirstBytes)
			}
			return tw.Flush()
		},
	}
	serve := &cobra.Command{
		Use:    "sinkhole-serve DIR",
		Short:  "Run a sandbox's sinkhole server (started by restore --sinkhole inside its own netns)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := filepath.Clean(args[0])
			info, err := sandbox.States{Root: filepath.Dir(dir)}.Load(filepath.Base(dir))
			s := &local.SinkholeServer{Dir: dir}
			if err == nil && info.EvidenceID != "" {
				if c, cerr := a.config(cmd); cerr == nil {
					if st, serr := evidence.OpenConfig(c); serr == nil {
						s.OnEvent = func(e sandbox.SinkholeEvent) {
							_ = sandbox.LogCustody(st, info.EvidenceID, "sinkhole-"+e.Proto, map[string]string{
								"sandbox": info.ID, "dst": e.Dst, "src": e.Src, "query": e.Query,
								"pid": fmt.Sprint(e.PID), "comm": e.Comm, "first_bytes": e.FirstBytes,
							})
						}
					}
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM)
			defer stop()
			return s.Serve(ctx)
		},
	}
	cmd.AddCommand(list, show, ps, enter, resume, kill, destroy, sinklog, serve)
	return cmd
}

func parseSignal(name string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(name); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	n := strings.TrimPrefix(strings.ToUpper(name), "SIG")
	for s := syscall.Signal(1); s < 32; s++ {
		if strings.EqualFold(strings.TrimPrefix(strings.ToUpper(unixSignalName(s)), "SIG"), n) {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown signal %q", name)
}

func unixSignalName(s syscall.Signal) string {
	names := map[syscall.Signal]string{syscall.SIGHUP: "HUP", syscall.SIGINT: "INT", syscall.SIGQUIT: "QUIT",
		syscall.SIGKILL: "KILL", syscall.SIGUSR1: "USR1", syscall.SIGUSR2: "USR2", syscall.SIGTERM: "TERM",
		syscall.SIGSTOP: "STOP", syscall.SIGCONT: "CONT", syscall.SIGABRT: "ABRT", syscall.SIGALRM: "ALRM"}
	return names[s]
}

// enterRemote runs a command in a cluster sandbox with this terminal: in raw mode with its size
// followed when stdin and stdout are a terminal, else plain streams (scripts, pipes).
func enterRemote(ctx context.Context, a *app, en sandbox.Enterer, id string, argv []string) (int, error) {
	st := sandbox.Streams{In: a.In, Out: a.Out, Err: a.ErrOut}
	in, inOK := a.In.(*os.File)
	out, outOK := a.Out.(*os.File)
	if inOK && outOK && term.IsTerminal(int(in.Fd())) && term.IsTerminal(int(out.Fd())) {
		old, err := term.MakeRaw(int(in.Fd()))
		if err != nil {
			return 0, fmt.Errorf("terminal: %w", err)
		}
		defer func() { _ = term.Restore(int(in.Fd()), old) }()
		sizes := make(chan sandbox.TermSize, 1)
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		done := make(chan struct{})
		defer func() { signal.Stop(winch); close(done) }()
		go func() {
			defer close(sizes)
			for {
				if w, h, err := term.GetSize(int(out.Fd())); err == nil {
					select {
					case sizes <- sandbox.TermSize{Width: uint16(w), Height: uint16(h)}:
					case <-done:
						return
					}
				}
				select {
				case <-winch:
				case <-done:
					return
				}
			}
		}()
		st.TTY, st.Resize = true, sizes
	}
	signal.Ignore(os.Interrupt) // Ctrl-C belongs to the command inside
	defer signal.Reset(os.Interrupt)
	return en.Enter(context.WithoutCancel(ctx), id, argv, st)
}

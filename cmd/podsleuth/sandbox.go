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

	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/sandbox"
	"github.com/podsleuth/podsleuth/sandbox/local"
	"github.com/podsleuth/podsleuth/sandbox/restore"
)

// sandboxOptions are what every `podsleuth sandbox ...` command shares (-o, the
// configuration, the streams, the way to the cluster); each command's own options embed it.
type sandboxOptions struct{ *common }

func newSandboxCmd(a *app) *cobra.Command {
	o := &sandboxOptions{common: &common{formats: []string{"text", "json"}}}
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "List, inspect, enter, resume, kill and destroy restored sandboxes",
	}
	cmd.PersistentFlags().StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the sandboxes",
		Args:  cobra.NoArgs,
		RunE:  runE(a, &sandboxListOptions{o}),
	}
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a sandbox",
		Args:  cobra.ExactArgs(1),
		RunE:  runE(a, &sandboxShowOptions{o}),
	}
	ps := &cobra.Command{
		Use:   "ps ID",
		Short: "List the processes of a sandbox (host and sandbox PIDs, state)",
		Args:  cobra.ExactArgs(1),
		RunE:  runE(a, &sandboxPsOptions{o}),
	}
	enter := &cobra.Command{
		Use:   "enter ID [-- COMMAND...]",
		Short: "Run a shell (or COMMAND) inside the sandbox's namespaces",
		Args:  cobra.MinimumNArgs(1),
		RunE:  runE(a, &sandboxEnterOptions{o}),
	}
	resume := &cobra.Command{
		Use:   "resume ID",
		Short: "Let the restored processes of a sandbox run (SIGCONT)",
		Args:  cobra.ExactArgs(1),
		RunE:  runE(a, &sandboxSignalOptions{sandboxOptions: o, resume: true, signal: "CONT"}),
	}
	ko := &sandboxSignalOptions{sandboxOptions: o}
	kill := &cobra.Command{
		Use:   "kill ID",
		Short: "Send a signal (default SIGKILL) to every restored process of a sandbox",
		Args:  cobra.ExactArgs(1),
		RunE:  runE(a, ko),
	}
	kill.Flags().StringVar(&ko.signal, "signal", "KILL", "signal name or number (KILL, TERM, STOP, CONT, ...)")
	destroy := &cobra.Command{
		Use:   "destroy ID...",
		Short: "Remove sandboxes: processes, mounts, namespaces, sinkhole and state directory",
		Args:  cobra.MinimumNArgs(1),
		RunE:  runE(a, &sandboxDestroyOptions{o}),
	}
	sinklog := &cobra.Command{
		Use:   "connections ID",
		Short: "Show what a sandbox tried to reach through its sinkhole",
		Args:  cobra.ExactArgs(1),
		RunE:  runE(a, &sandboxConnectionsOptions{o}),
	}
	serve := &cobra.Command{
		Use:    "sinkhole-serve DIR",
		Short:  "Run a sandbox's sinkhole server (started by restore --sinkhole inside its own netns)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE:   runE(a, &sinkholeServeOptions{}),
	}
	cmd.AddCommand(list, show, ps, enter, resume, kill, destroy, sinklog, serve)
	return cmd
}

// backendFor returns the backend that owns sandbox id (cluster sandboxes need the cluster).
func (o *sandboxOptions) backendFor(ctx context.Context, id string) (sandbox.Restorer, error) {
	info, err := sandbox.States{Root: restore.StateDir(o.cfg)}.Load(id)
	if err != nil {
		return nil, err
	}
	if info.Backend != sandbox.BackendCluster {
		return restore.Local(o.cfg), nil
	}
	conn, err := o.connect(ctx)
	if err != nil {
		return nil, err
	}
	return restore.Cluster(o.cfg, conn, info.Node, true), nil
}

// sandboxOf finds sandbox id and its backend.
func (o *sandboxOptions) sandboxOf(ctx context.Context, id string) (sandbox.Restorer, *sandbox.Info, error) {
	b, err := o.backendFor(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	info, err := b.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return b, info, nil
}

// custody records what was done to a sandbox in the custody log of the evidence it restores
// (nothing for a sandbox restored from a path).
func (o *sandboxOptions) custody(info *sandbox.Info, what string, details map[string]string) error {
	if info == nil || info.EvidenceID == "" {
		return nil
	}
	st, err := evidence.OpenConfig(o.cfg)
	if err != nil {
		return err
	}
	if details == nil {
		details = map[string]string{}
	}
	details["sandbox"] = info.ID
	return sandbox.LogCustody(st, info.EvidenceID, what, details)
}

// sandboxListOptions are the options of `podsleuth sandbox list`.
type sandboxListOptions struct{ *sandboxOptions }

// Run lists the local sandboxes and the cluster sandboxes this machine restored.
func (o *sandboxListOptions) Run(ctx context.Context) error {
	all, err := restore.Local(o.cfg).List(ctx)
	if err != nil {
		return err
	}
	more, err := sandbox.States{Root: restore.StateDir(o.cfg)}.List(sandbox.BackendCluster)
	if err != nil {
		return err
	}
	all = append(all, more...)
	if o.json() {
		return writeJSON(o.Out, all)
	}
	if len(all) == 0 {
		_, err := fmt.Fprintln(o.Out, "no sandboxes")
		return err
	}
	tw := tabwriter.NewWriter(o.Out, 0, 0, 2, ' ', 0)
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
}

// sandboxShowOptions are the options of `podsleuth sandbox show ID`.
type sandboxShowOptions struct{ *sandboxOptions }

// Run shows the sandbox.
func (o *sandboxShowOptions) Run(ctx context.Context) error {
	_, info, err := o.sandboxOf(ctx, o.args[0])
	if err != nil {
		return err
	}
	if o.json() {
		return writeJSON(o.Out, info)
	}
	return printSandbox(o.Out, info)
}

// sandboxPsOptions are the options of `podsleuth sandbox ps ID`.
type sandboxPsOptions struct{ *sandboxOptions }

// Run lists the sandbox's processes.
func (o *sandboxPsOptions) Run(ctx context.Context) error {
	b, err := o.backendFor(ctx, o.args[0])
	if err != nil {
		return err
	}
	procs, err := b.Ps(ctx, o.args[0])
	if err != nil {
		return err
	}
	if o.json() {
		return writeJSON(o.Out, procs)
	}
	tw := tabwriter.NewWriter(o.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST PID\tPID\tPPID\tSTATE\tCOMM\tCMDLINE")
	for _, p := range procs {
		c := p.Cmdline
		if !p.Restored {
			c += "   (podsleuth namespace holder)"
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\n", p.HostPID, p.NSPID, p.PPID, p.State, p.Comm, c)
	}
	return tw.Flush()
}

// sandboxEnterOptions are the options of `podsleuth sandbox enter ID [-- COMMAND...]`.
type sandboxEnterOptions struct{ *sandboxOptions }

// Run runs the command (a shell by default) inside the sandbox with this terminal; its exit
// status becomes podsleuth's.
func (o *sandboxEnterOptions) Run(ctx context.Context) error {
	id, argv := o.args[0], o.args[1:]
	b, info, err := o.sandboxOf(ctx, id)
	if err != nil {
		return err
	}
	exited := func(code int) error {
		return &exitError{code: code, err: fmt.Errorf("command in sandbox %s exited with status %d", id, code)}
	}
	if en, ok := b.(sandbox.Enterer); ok {
		// a cluster sandbox: the command runs on its node, streamed through the API server
		if err := o.custody(info, "entered", map[string]string{"command": strings.Join(argv, " "), "node": info.Node}); err != nil {
			return err
		}
		code, err := enterRemote(ctx, o.streams, en, id, argv)
		if err != nil {
			return err
		}
		if code != 0 {
			return exited(code)
		}
		return nil
	}
	full, err := b.EnterCommand(ctx, id, argv)
	if err != nil {
		return err
	}
	if err := o.custody(info, "entered", map[string]string{"command": strings.Join(argv, " ")}); err != nil {
		return err
	}
	c := exec.CommandContext(context.WithoutCancel(ctx), full[0], full[1:]...)
	c.Stdin, c.Stdout, c.Stderr = o.In, o.Out, o.ErrOut
	signal.Ignore(os.Interrupt) // Ctrl-C belongs to the shell inside
	defer signal.Reset(os.Interrupt)
	if err := c.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return exited(ee.ExitCode())
		}
		return err
	}
	return nil
}

// sandboxSignalOptions are the options of `podsleuth sandbox kill ID` and `resume ID`.
type sandboxSignalOptions struct {
	*sandboxOptions
	signal string
	resume bool
	sig    syscall.Signal
}

// Validate checks the output format and the signal.
func (o *sandboxSignalOptions) Validate() error {
	if err := o.sandboxOptions.Validate(); err != nil {
		return err
	}
	var err error
	o.sig, err = parseSignal(o.signal)
	return err
}

// Run signals the restored processes and records it in the custody log.
func (o *sandboxSignalOptions) Run(ctx context.Context) error {
	id := o.args[0]
	b, err := o.backendFor(ctx, id)
	if err != nil {
		return err
	}
	if err := b.Signal(ctx, id, o.sig); err != nil {
		return err
	}
	what, details, done := "signalled", map[string]string{"signal": o.signal}, "sent "+o.signal+" to the processes of sandbox %s\n"
	if o.resume {
		what, details, done = "resumed", nil, "sandbox %s resumed\n"
	}
	info, _ := b.Get(ctx, id)
	if err := o.custody(info, what, details); err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.Out, done, id)
	return err
}

// sandboxDestroyOptions are the options of `podsleuth sandbox destroy ID...`.
type sandboxDestroyOptions struct{ *sandboxOptions }

// Run destroys each sandbox in turn and records it in the custody log.
func (o *sandboxDestroyOptions) Run(ctx context.Context) error {
	for _, id := range o.args {
		b, info, err := o.sandboxOf(ctx, id)
		if err != nil {
			return err
		}
		if err := b.Destroy(ctx, id); err != nil {
			return err
		}
		if err := o.custody(info, "destroyed", nil); err != nil {
			return err
		}
		if _, err := fmt.Fprintf(o.Out, "sandbox %s destroyed\n", id); err != nil {
			return err
		}
	}
	return nil
}

// sandboxConnectionsOptions are the options of `podsleuth sandbox connections ID`.
type sandboxConnectionsOptions struct{ *sandboxOptions }

// Run shows the sinkhole's log.
func (o *sandboxConnectionsOptions) Run(ctx context.Context) error {
	id := o.args[0]
	info, err := restore.Local(o.cfg).Get(ctx, id)
	if err != nil {
		return err
	}
	if info.Sinkhole == nil {
		return fmt.Errorf("sandbox %s has no sinkhole (restore with --sinkhole)", id)
	}
	evs, err := local.ReadSinkholeLog(info.Dir)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if o.json() {
		return writeJSON(o.Out, evs)
	}
	tw := tabwriter.NewWriter(o.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tPROTO\tPROCESS\tDESTINATION\tQUERY\tFIRST BYTES")
	for _, e := range evs {
		proc := "?"
		if e.PID != 0 {
			proc = fmt.Sprintf("%d/%s", e.PID, e.Comm)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.60s\n", e.Time.Format("15:04:05.000"), e.Proto, proc, e.Dst, e.Query, e.FirstBytes)
	}
	return tw.Flush()
}

// sinkholeServeOptions are the options of the hidden `podsleuth sandbox sinkhole-serve DIR`.
type sinkholeServeOptions struct {
	dir string
	cfg *config.Config // nil when the configuration cannot be loaded: the sinkhole serves anyway
}

// Complete keeps the directory and the configuration, when it loads: a sinkhole never refuses
// to serve for want of the custody log.
func (o *sinkholeServeOptions) Complete(a *app, cmd *cobra.Command, args []string) error {
	o.dir = filepath.Clean(args[0])
	o.cfg, _ = a.config(cmd)
	return nil
}

// Validate accepts any directory: Run reads the sandbox's state from it.
func (o *sinkholeServeOptions) Validate() error { return nil }

// Run serves until SIGTERM, recording each connection in the custody log of the sandbox's evidence.
func (o *sinkholeServeOptions) Run(ctx context.Context) error {
	info, err := sandbox.States{Root: filepath.Dir(o.dir)}.Load(filepath.Base(o.dir))
	s := &local.SinkholeServer{Dir: o.dir}
	if err == nil && info.EvidenceID != "" && o.cfg != nil {
		if st, serr := evidence.OpenConfig(o.cfg); serr == nil {
			s.OnEvent = func(e sandbox.SinkholeEvent) {
				_ = sandbox.LogCustody(st, info.EvidenceID, "sinkhole-"+e.Proto, map[string]string{
					"sandbox": info.ID, "dst": e.Dst, "src": e.Src, "query": e.Query,
					"pid": fmt.Sprint(e.PID), "comm": e.Comm, "first_bytes": e.FirstBytes,
				})
			}
		}
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM)
	defer stop()
	return s.Serve(ctx)
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
func enterRemote(ctx context.Context, s streams, en sandbox.Enterer, id string, argv []string) (int, error) {
	st := sandbox.Streams{In: s.In, Out: s.Out, Err: s.ErrOut}
	in, inOK := s.In.(*os.File)
	out, outOK := s.Out.(*os.File)
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

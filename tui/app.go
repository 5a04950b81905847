package tui

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	tea "charm.land/bubbletea/v2"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/tui/components/prompt"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
	"github.com/podsleuth/podsleuth/tui/screens/evidence"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// Options are what the App is built from; cmd fills them from the config and the engines.
type Options struct {
	Keys     keys.Map
	Readonly bool
	// Theme is "auto" (ask the terminal), "dark" or "light"; NoColor drops colours (NO_COLOR).
	Theme   string
	NoColor bool
	Mouse   bool
	// Loader opens and analyses a checkpoint (NewLoader, Jobs.Loader).
	Loader checkpoint.Loader
	// Extract writes a bundled sample to a file and returns its path.
	Extract func(ctx context.Context, name string) (string, error)
	// Evidence lists the store and the samples.
	Evidence evidence.Source
	// Connect reaches the cluster within the connect timeout; nil means no cluster support.
	// NoCluster, when set, says why there is no cluster before even trying (no kubeconfig).
	Connect   func(ctx context.Context) (Cluster, error)
	NoCluster string
	// Archives are opened directly at start (podsleuth open ARCHIVE...).
	Archives []string
	// Rootfs is the containers' base image for Archives (podsleuth open --rootfs BASE).
	Rootfs string
	Log    *slog.Logger
}

type mode int

const (
	modeNormal mode = iota
	modeCommand
	modeFilter
	modeHelp
)

// App is the root model: the screen stack, the window size, the global keys, the prompts and
// the status bar. It sends WindowSizeMsg to every screen and keys to the top one.
type App struct {
	o      Options
	th     theme.Theme
	km     keys.Map
	w, h   int
	stack  []nav.Page
	mode   mode
	prompt prompt.Model
	// hist keeps each prompt's history for the session: the command line, the table filters
	// and the memory searches apart (histCommand, histFilter, histSearch).
	hist map[string][]string
	// names are what completion Cmds listed for the open ":" prompt (complete.go); a key
	// present with no names was asked for, or found nothing.
	names map[string][]string
	// filterPrev is the filter value when the prompt opened (esc restores it).
	filterPrev string
	filterLive bool

	status  string
	err     string
	hint    string
	cluster Cluster
	// clusterNote says why there is no cluster ("" while connecting or when connected).
	clusterNote string
	connecting  bool
	log         *slog.Logger
	// bannerH is 1 while the evidence banner is shown (banner.go).
	bannerH int
	// opened are the cases opened in this session, most recent last: the evidence view keeps
	// listing them.
	opened []evidence.Opened
	// helpOff is the first line of the help shown (it scrolls when taller than the screen).
	helpOff int
	// bg are closed screens whose work still runs (a cancelled hunt cleaning up: huntview.go).
	bg []busy
}

// New builds the App. It starts in the evidence view; Init connects to the cluster (when
// there is one) and switches to the pods when it answers.
func New(o Options) *App {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	a := &App{o: o, km: o.Keys, log: o.Log, hist: map[string][]string{}}
	switch {
	case o.NoColor:
		a.th = theme.Plain()
	case o.Theme == "light":
		a.th = theme.New(false)
	default:
		a.th = theme.New(true)
	}
	ev := evidence.New(o.Evidence, a.th, a.km)
	a.stack = []nav.Page{nav.Wrap(ev)}
	switch {
	case o.NoCluster != "":
		a.clusterNote = o.NoCluster
	case o.Connect == nil:
		a.clusterNote = "no kubeconfig"
	default:
		a.connecting = true
	}
	if !a.connecting {
		ev.SetBanner(a.embeddedBanner())
	}
	return a
}

func (a *App) embeddedBanner() string {
	return "No cluster (" + a.clusterNote + "): showing the bundled sample checkpoints and the local evidence store."
}

// ConnectedMsg is the result of reaching the cluster at start.
type ConnectedMsg struct {
	Cluster Cluster
	Err     error
	// Switch is set for a context switch (":ctx NAME"): a failure keeps the current cluster.
	Switch bool
}

func connectCmd(f func(context.Context) (Cluster, error)) tea.Cmd {
	return func() tea.Msg {
		c, err := f(context.Background())
		return ConnectedMsg{Cluster: c, Err: err}
	}
}

// Init asks for the background colour, lists the evidence, connects and opens the archives.
func (a *App) Init() tea.Cmd {
	cmds := []tea.Cmd{a.stack[0].Init()}
	if a.o.Theme == "auto" || a.o.Theme == "" {
		cmds = append(cmds, tea.RequestBackgroundColor)
	}
	if a.connecting {
		cmds = append(cmds, connectCmd(a.o.Connect))
	}
	for _, p := range a.o.Archives {
		open := nav.OpenCheckpointMsg{Path: p, Rootfs: a.o.Rootfs}
		cmds = append(cmds, func() tea.Msg { return open })
	}
	return tea.Batch(cmds...)
}

func (a *App) top() nav.Page { return a.stack[len(a.stack)-1] }

// Top returns the screen on top of the stack (tests).
func (a *App) Top() any { return a.top().Unwrap() }

// Depth is the stack depth (tests).
func (a *App) Depth() int { return len(a.stack) }

// Status returns the status line and the error line (tests).
func (a *App) Status() (status, err string) { return a.status, a.err }

// Prompting returns the prompt's value when a prompt is open.
func (a *App) Prompting() (string, bool) {
	return a.prompt.Value, a.mode == modeCommand || a.mode == modeFilter
}

// bodySize is the size screens get: the header, the help/prompt line and the status line
// take three lines, the evidence banner one more.
func (a *App) bodySize() (int, int) { return a.w, max(a.h-3-a.bannerH, 1) }

func (a *App) push(p nav.Page) tea.Cmd {
	w, h := a.bodySize()
	p.SetSize(w, h)
	a.stack = append(a.stack, p)
	return p.Init()
}

// pop closes the top screen. Back on the evidence view from a case, the view lists the cases
// opened in this session and selects that one.
func (a *App) pop() tea.Cmd {
	if len(a.stack) <= 1 {
		return nil
	}
	p := a.top()
	a.stack = a.stack[:len(a.stack)-1]
	a.closePage(p)
	ev, ok := a.top().Unwrap().(*evidence.Model)
	if !ok {
		return nil
	}
	focus := ""
	if cp, ok := p.Unwrap().(*checkpoint.Model); ok {
		focus = cp.Path()
	}
	ev.SetOpened(a.opened, focus)
	return ev.Init()
}

// remember adds a case to the ones opened in this session (once, most recent last).
func (a *App) remember(o evidence.Opened) {
	for i, c := range a.opened {
		if c.Path == o.Path {
			if o.Sample == "" {
				o.Sample = c.Sample
			}
			a.opened = append(a.opened[:i], a.opened[i+1:]...)
			break
		}
	}
	a.opened = append(a.opened, o)
}

func (a *App) closePage(p nav.Page) {
	defer a.keepIfBusy(p)
	if c, ok := p.Unwrap().(closer); ok {
		if err := c.Close(); err != nil {
			a.log.Warn("close screen", "screen", p.Title(), "err", err)
		}
	}
}

// reset replaces the stack with p.
func (a *App) reset(p nav.Page) tea.Cmd {
	for len(a.stack) > 0 {
		a.closePage(a.top())
		a.stack = a.stack[:len(a.stack)-1]
	}
	return a.push(p)
}

func (a *App) setErr(err error, hint string) {
	// errors and statuses quote names from checkpoints and the cluster: made terminal-safe
	a.err = forensics.Printable(err.Error())
	a.hint = forensics.Printable(hint)
	a.status = ""
	a.log.Error("tui", "err", err, "hint", hint)
}

// Update routes messages: global keys and prompts here, keys to the top screen, results to
// every screen (each drops the ones that are not its own by their request key).
func (a *App) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	defer a.fitBanner()
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		a.w, a.h = msg.Width, msg.Height
		w, h := a.bodySize()
		for _, p := range a.stack {
			p.SetSize(w, h)
		}
		return a, nil
	case tea.BackgroundColorMsg:
		if !a.o.NoColor && (a.o.Theme == "auto" || a.o.Theme == "") {
			a.th = theme.New(msg.IsDark())
			for _, p := range a.stack {
				if t, ok := p.Unwrap().(themer); ok {
					t.SetTheme(a.th)
				}
			}
		}
		return a, nil
	case nav.ErrMsg:
		a.setErr(msg.Err, msg.Hint)
		return a, nil
	case nav.StatusMsg:
		a.status, a.err, a.hint = forensics.Printable(msg.Text), "", ""
		return a, nil
	case nav.OpenCheckpointMsg:
		return a, a.open(msg)
	case SampleExtractedMsg:
		if msg.err != nil {
			a.setErr(nav.Cause("bundled sample", msg.name, msg.err), "")
			return a, nil
		}
		a.remember(evidence.Opened{Path: msg.path, Label: msg.label, Sample: msg.name})
		return a, a.open(nav.OpenCheckpointMsg{Path: msg.path, Label: msg.label})
	case nav.GotoMsg:
		return a, a.gotoView(msg.View, msg.Arg)
	case evidence.ArtifactsMsg:
		return a, a.push(nav.Wrap(a.artifactsScreen(msg.Item)))
	case nav.PushMsg:
		return a, a.push(msg.Page)
	case nav.PopMsg:
		return a, a.pop()
	case ConnectedMsg:
		return a, a.connected(msg)
	case CompletionMsg:
		return a, a.completed(msg)
	case tea.KeyPressMsg:
		return a, a.updateKey(msg)
	case tea.MouseWheelMsg:
		if a.mode != modeNormal {
			return a, nil
		}
		return a, a.toTop(msg)
	}
	// results: to every screen
	var cmds []tea.Cmd
	for i, p := range a.stack {
		np, cmd := p.Update(msg)
		a.stack[i] = np
		cmds = append(cmds, cmd)
	}
	return a, tea.Batch(cmds...)
}

func (a *App) toTop(msg tea.Msg) tea.Cmd {
	np, cmd := a.top().Update(msg)
	a.stack[len(a.stack)-1] = np
	return cmd
}

// SampleExtractedMsg is the result of extracting a bundled sample for opening.
type SampleExtractedMsg struct {
	name, label, path string
	err               error
}

func extractCmd(f func(context.Context, string) (string, error), name, label string) tea.Cmd {
	return func() tea.Msg {
		p, err := f(context.Background(), name)
		return SampleExtractedMsg{name: name, label: label, path: p, err: err}
	}
}

func (a *App) open(msg nav.OpenCheckpointMsg) tea.Cmd {
	if msg.Embedded != "" {
		if a.o.Extract == nil {
			a.setErr(fmt.Errorf("bundled sample %s: no bundled samples in this build", msg.Embedded), "")
			return nil
		}
		a.status = "extracting bundled sample " + msg.Embedded + "…"
		return extractCmd(a.o.Extract, msg.Embedded, msg.Label)
	}
	if msg.Replace {
		a.pop()
	}
	a.remember(evidence.Opened{Path: msg.Path, Label: msg.Label, Rootfs: msg.Rootfs})
	a.status, a.err, a.hint = "decoding "+msg.Path+"…", "", ""
	return a.push(nav.Wrap(checkpoint.New(checkpoint.Source{Path: msg.Path, Rootfs: msg.Rootfs}, msg.Label, a.o.Loader, a.th, a.km)))
}

func (a *App) connected(msg ConnectedMsg) tea.Cmd {
	a.connecting = false
	if msg.Switch {
		if msg.Err != nil {
			a.setErr(msg.Err, clusterHint(msg.Err))
			return nil
		}
		if c, ok := a.cluster.(closerCluster); ok {
			c.Close()
		}
		a.cluster = msg.Cluster
		a.status = "switched to " + msg.Cluster.Describe()
		return a.gotoView("pods", "")
	}
	if msg.Err != nil {
		a.clusterNote = plainClusterError(msg.Err)
		a.log.Warn("no cluster", "err", msg.Err)
		if ev, ok := a.stack[0].Unwrap().(*evidence.Model); ok {
			ev.SetBanner(a.embeddedBanner())
			w, h := a.bodySize()
			ev.SetSize(w, h)
		}
		a.status = "no cluster: " + a.clusterNote
		return nil
	}
	a.cluster = msg.Cluster
	a.status = "connected to " + msg.Cluster.Describe()
	// switch to the pods unless the user already went somewhere
	if len(a.stack) == 1 {
		if _, ok := a.stack[0].Unwrap().(*evidence.Model); ok {
			return a.gotoView("pods", "")
		}
	}
	return nil
}

// NoColor reports whether NO_COLOR asks for no colours (any non-empty value).
func NoColor() bool { return os.Getenv("NO_COLOR") != "" }

package tui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/tui/components/frame"
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
	// Loader decodes and analyses a checkpoint; nil when the decoder is not in this build.
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
	Log      *slog.Logger
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
	stack  []page
	mode   mode
	prompt prompt.Model
	hist   map[mode][]string
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
}

// New builds the App. It starts in the evidence view; Init connects to the cluster (when
// there is one) and switches to the pods when it answers.
func New(o Options) *App {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	a := &App{o: o, km: o.Keys, log: o.Log, hist: map[mode][]string{}}
	switch {
	case o.NoColor:
		a.th = theme.Plain()
	case o.Theme == "light":
		a.th = theme.New(false)
	default:
		a.th = theme.New(true)
	}
	ev := evidence.New(o.Evidence, a.th, a.km)
	a.stack = []page{wrap(ev)}
	switch {
	case o.Connect == nil && o.NoCluster == "":
		a.clusterNote = "cluster browsing is not available in this build"
	case o.NoCluster != "":
		a.clusterNote = o.NoCluster
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
	cmds := []tea.Cmd{a.stack[0].init()}
	if a.o.Theme == "auto" || a.o.Theme == "" {
		cmds = append(cmds, tea.RequestBackgroundColor)
	}
	if a.connecting {
		cmds = append(cmds, connectCmd(a.o.Connect))
	}
	for _, p := range a.o.Archives {
		cmds = append(cmds, nav.Open(p, "", ""))
	}
	return tea.Batch(cmds...)
}

func (a *App) top() page { return a.stack[len(a.stack)-1] }

// Top returns the screen on top of the stack (tests).
func (a *App) Top() any { return a.top().value() }

// Depth is the stack depth (tests).
func (a *App) Depth() int { return len(a.stack) }

// Status returns the status line and the error line (tests).
func (a *App) Status() (status, err string) { return a.status, a.err }

// Prompting returns the prompt's value when a prompt is open.
func (a *App) Prompting() (string, bool) {
	return a.prompt.Value, a.mode == modeCommand || a.mode == modeFilter
}

// bodySize is the size screens get: the header, the help/prompt line and the status line
// take three lines.
func (a *App) bodySize() (int, int) { return a.w, max(a.h-3, 1) }

func (a *App) push(p page) tea.Cmd {
	w, h := a.bodySize()
	p.setSize(w, h)
	a.stack = append(a.stack, p)
	return p.init()
}

func (a *App) pop() {
	if len(a.stack) <= 1 {
		return
	}
	p := a.top()
	a.stack = a.stack[:len(a.stack)-1]
	a.closePage(p)
}

func (a *App) closePage(p page) {
	if c, ok := p.value().(closer); ok {
		if err := c.Close(); err != nil {
			a.log.Warn("close screen", "screen", p.title(), "err", err)
		}
	}
}

// reset replaces the stack with p.
func (a *App) reset(p page) tea.Cmd {
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
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		a.w, a.h = msg.Width, msg.Height
		w, h := a.bodySize()
		for _, p := range a.stack {
			p.setSize(w, h)
		}
		return a, nil
	case tea.BackgroundColorMsg:
		if !a.o.NoColor && (a.o.Theme == "auto" || a.o.Theme == "") {
			a.th = theme.New(msg.IsDark())
			for _, p := range a.stack {
				if t, ok := p.value().(themer); ok {
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
			a.setErr(fmt.Errorf("bundled sample %s: %w", msg.name, msg.err), "")
			return a, nil
		}
		return a, a.open(nav.OpenCheckpointMsg{Path: msg.path, Label: msg.label})
	case nav.GotoMsg:
		return a, a.gotoView(msg.View, msg.Arg)
	case evidence.ArtifactsMsg:
		return a, a.push(wrap(a.artifactsScreen(msg.Item)))
	case nav.PushMsg:
		p, err := a.wrapAny(msg.Screen)
		if err != nil {
			a.setErr(err, "")
			return a, nil
		}
		return a, a.push(p)
	case PushPageMsg:
		p, err := a.wrapAny(msg.s)
		if err != nil {
			a.setErr(err, "")
			return a, nil
		}
		return a, a.push(p)
	case nav.PopMsg:
		a.pop()
		return a, nil
	case ConnectedMsg:
		return a, a.connected(msg)
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
		np, cmd := p.update(msg)
		a.stack[i] = np
		cmds = append(cmds, cmd)
	}
	return a, tea.Batch(cmds...)
}

func (a *App) toTop(msg tea.Msg) tea.Cmd {
	np, cmd := a.top().update(msg)
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

// ErrNoDecoder is reported when a checkpoint is opened but the decoder is not in this build.
var ErrNoDecoder = errors.New("the checkpoint decoder is not available in this build")

func (a *App) open(msg nav.OpenCheckpointMsg) tea.Cmd {
	if msg.Embedded != "" {
		if a.o.Extract == nil {
			a.setErr(fmt.Errorf("bundled sample %s: no bundled samples in this build", msg.Embedded), "")
			return nil
		}
		a.status = "extracting bundled sample " + msg.Embedded + "…"
		return extractCmd(a.o.Extract, msg.Embedded, msg.Label)
	}
	if a.o.Loader == nil {
		a.setErr(fmt.Errorf("open %s: %w", msg.Path, ErrNoDecoder), "")
		return nil
	}
	if msg.Replace {
		a.pop()
	}
	a.status, a.err, a.hint = "decoding "+msg.Path+"…", "", ""
	return a.push(wrap(checkpoint.New(msg.Path, msg.Label, a.o.Loader, a.th, a.km)))
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
		if ev, ok := a.stack[0].value().(*evidence.Model); ok {
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
		if _, ok := a.stack[0].value().(*evidence.Model); ok {
			return a.gotoView("pods", "")
		}
	}
	return nil
}

func (a *App) updateKey(msg tea.KeyPressMsg) tea.Cmd {
	km := a.km
	switch a.mode {
	case modeHelp:
		if key.Matches(msg, km.Quit) && msg.String() == "ctrl+c" {
			return a.quit()
		}
		a.mode = modeNormal
		return nil
	case modeCommand, modeFilter:
		return a.updatePrompt(msg)
	}
	if msg.String() == "ctrl+c" {
		return a.quit()
	}
	if c, ok := a.top().value().(capturer); ok && c.Capturing() {
		return a.toTop(msg)
	}
	switch {
	case key.Matches(msg, km.Quit):
		return a.quit()
	case key.Matches(msg, km.Help):
		a.mode = modeHelp
		return nil
	case key.Matches(msg, km.Command):
		a.mode = modeCommand
		a.prompt = prompt.New(":")
		a.prompt.History = a.hist[modeCommand]
		a.prompt.Reset("")
		return nil
	case key.Matches(msg, km.Filter):
		f, ok := a.top().value().(filterer)
		if !ok {
			return nil
		}
		prefix, val, live := f.FilterPrompt()
		if prefix == "" {
			return nil
		}
		a.mode = modeFilter
		a.prompt = prompt.New(prefix)
		a.prompt.History = a.hist[modeFilter]
		a.prompt.Reset(val)
		a.filterPrev, a.filterLive = val, live
		return nil
	case key.Matches(msg, km.Back):
		if b, ok := a.top().value().(backHandler); ok && b.HandlesBack() {
			return a.toTop(msg)
		}
		if len(a.stack) > 1 {
			a.pop()
			a.err, a.hint = "", ""
			return nil
		}
		if f, ok := a.top().value().(filterer); ok {
			if _, v, live := f.FilterPrompt(); live && v != "" {
				cmd, _ := f.ApplyFilter("", true)
				return cmd
			}
		}
		return nil
	}
	return a.toTop(msg)
}

func (a *App) updatePrompt(msg tea.KeyPressMsg) tea.Cmd {
	// ctrl+t on the memory search prompt cycles the search mode without leaving the prompt
	if a.mode == modeFilter && msg.String() == "ctrl+t" {
		if c, ok := a.top().value().(*checkpoint.Model); ok && c.Tab() == checkpoint.TabMemory {
			c.CycleSearchMode()
			a.prompt.Prefix, _, _ = c.FilterPrompt()
		}
		return nil
	}
	p, res := a.prompt.Update(msg)
	a.prompt = p
	switch a.mode {
	case modeCommand:
		switch res {
		case prompt.Cancelled:
			a.mode = modeNormal
		case prompt.Submitted:
			a.mode = modeNormal
			a.hist[modeCommand] = a.prompt.History
			return a.runCommand(a.prompt.Value)
		}
		return nil
	}
	f, ok := a.top().value().(filterer)
	if !ok {
		a.mode = modeNormal
		return nil
	}
	switch res {
	case prompt.Cancelled:
		a.mode = modeNormal
		if a.filterLive {
			cmd, _ := f.ApplyFilter(a.filterPrev, true)
			return cmd
		}
		return nil
	case prompt.Submitted:
		a.mode = modeNormal
		a.hist[modeFilter] = a.prompt.History
		cmd, err := f.ApplyFilter(a.prompt.Value, true)
		if err != nil {
			a.setErr(err, "")
			return nil
		}
		a.err, a.hint = "", ""
		return cmd
	}
	if a.filterLive {
		if _, err := f.ApplyFilter(a.prompt.Value, false); err != nil {
			// keep typing: the error shows until the regex is valid again
			a.err, a.hint = err.Error(), ""
		} else {
			a.err, a.hint = "", ""
		}
	}
	return nil
}

func (a *App) quit() tea.Cmd {
	if c, ok := a.cluster.(closerCluster); ok {
		c.Close()
	}
	for len(a.stack) > 0 {
		a.closePage(a.top())
		a.stack = a.stack[:len(a.stack)-1]
	}
	a.stack = []page{wrap(evidence.New(evidence.Source{}, a.th, a.km))}
	return tea.Quit
}

// Commands lists the ":" commands for the help screen.
var Commands = [][2]string{
	{":pods [NS]", "pods (of namespace NS; all namespaces with \"all\")"},
	{":ns [NAME]", "namespaces, or switch to NAME"},
	{":ctx [NAME]", "kubeconfig contexts, or switch to NAME"},
	{":nodes", "nodes"},
	{":evidence", "bundled samples and the local evidence store"},
	{":open PATH", "decode and analyse a checkpoint archive or CRIU image directory"},
	{":q", "quit"},
}

// ErrUnknownCommand is reported for a ":" command that does not exist.
var ErrUnknownCommand = errors.New("unknown command")

func (a *App) runCommand(line string) tea.Cmd {
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil
	}
	arg := strings.Join(f[1:], " ")
	a.err, a.hint = "", ""
	switch f[0] {
	case "q", "quit", "q!", "exit":
		return a.quit()
	case "pods", "po", "pod":
		return a.gotoView("pods", arg)
	case "ns", "namespace", "namespaces":
		if arg != "" {
			return a.gotoView("pods", arg)
		}
		return a.gotoView("namespaces", "")
	case "ctx", "context", "contexts":
		return a.gotoView("contexts", arg)
	case "nodes", "no", "node":
		return a.gotoView("nodes", arg)
	case "evidence", "ev":
		return a.gotoView("evidence", "")
	case "open", "o":
		if arg == "" {
			a.setErr(errors.New(":open needs a path"), "e.g. :open /path/to/checkpoint.tar")
			return nil
		}
		return a.open(nav.OpenCheckpointMsg{Path: arg})
	case "help", "h":
		a.mode = modeHelp
		return nil
	}
	a.setErr(fmt.Errorf("%w %q", ErrUnknownCommand, f[0]), "? lists the commands")
	return nil
}

func (a *App) gotoView(view, arg string) tea.Cmd {
	if view == "evidence" {
		ev := evidence.New(a.o.Evidence, a.th, a.km)
		if a.cluster == nil && !a.connecting {
			ev.SetBanner(a.embeddedBanner())
		}
		return a.reset(wrap(ev))
	}
	if a.cluster == nil {
		why := a.clusterNote
		if a.connecting {
			why = "still connecting"
		}
		a.setErr(fmt.Errorf(":%s needs a cluster: %s", view, why), "set KUBECONFIG or --kubeconfig/--context; the API server must answer within cluster.connect_timeout")
		return nil
	}
	p, cmd, err := a.clusterView(view, arg)
	if err != nil {
		a.setErr(err, clusterHint(err))
		return cmd
	}
	if p == nil {
		return cmd
	}
	return tea.Batch(cmd, a.reset(p))
}

// View renders the header, the top screen, the help or prompt line and the status bar.
func (a *App) View() tea.View {
	var v tea.View
	v.AltScreen = true
	if a.o.Mouse {
		v.MouseMode = tea.MouseModeCellMotion
	}
	v.WindowTitle = "podsleuth"
	if a.w <= 0 || a.h <= 0 {
		return v
	}
	v.SetContent(a.Render())
	return v
}

// Render is the frame as a string (the View's content; goldens compare it).
func (a *App) Render() string {
	w := a.w
	var b strings.Builder
	b.WriteString(a.header())
	b.WriteByte('\n')
	_, bh := a.bodySize()
	if a.mode == modeHelp {
		b.WriteString(a.helpView(bh))
	} else {
		body := a.top().view()
		b.WriteString(frame.Block(body, w, bh))
	}
	b.WriteByte('\n')
	switch a.mode {
	case modeCommand, modeFilter:
		b.WriteString(frame.Line(a.th.Accent.Render(a.prompt.View()), w))
	default:
		if a.err != "" && a.hint != "" {
			// the fix gets its own line: it matters more than the key help
			b.WriteString(frame.Line(a.th.Warning.Render("fix: "+a.hint), w))
		} else {
			b.WriteString(frame.Line(a.shortHelp(), w))
		}
	}
	b.WriteByte('\n')
	b.WriteString(a.statusBar())
	return b.String()
}

func (a *App) header() string {
	var crumbs []string
	for _, p := range a.stack {
		crumbs = append(crumbs, forensics.Printable(p.title()))
	}
	left := a.th.Title.Render("podsleuth") + " " + strings.Join(crumbs, " › ")
	var right string
	switch {
	case a.cluster != nil:
		right = a.cluster.Describe()
	case a.connecting:
		right = "connecting…"
	default:
		right = "no cluster"
	}
	if a.o.Readonly {
		right = "[readonly] " + right
	}
	right = a.th.Muted.Render(right)
	gap := a.w - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		return frame.Line(left, a.w)
	}
	return left + strings.Repeat(" ", gap) + right
}

func (a *App) shortHelp() string {
	var parts []string
	for _, b := range a.top().shortHelp() {
		if !b.Enabled() {
			continue
		}
		h := b.Help()
		parts = append(parts, a.th.Key.Render(h.Key)+" "+a.th.Muted.Render(h.Desc))
	}
	return strings.Join(parts, "  ")
}

func (a *App) statusBar() string {
	var left string
	switch {
	case a.err != "":
		left = a.th.Error.Render(" " + a.err + " ")
	case a.status != "":
		left = " " + a.status
	case a.cluster == nil && !a.connecting:
		left = " no cluster: " + a.clusterNote
	}
	right := ""
	if p, ok := a.top().value().(positioner); ok {
		right = p.Position() + " "
	}
	gap := a.w - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		return a.th.Status.Render(frame.Line(left, a.w))
	}
	return a.th.Status.Render(left + strings.Repeat(" ", gap) + right)
}

func (a *App) helpView(h int) string {
	var lines []string
	lines = append(lines, a.th.Title.Render("Keys of "+a.top().title()), "")
	for _, group := range a.top().fullHelp() {
		for _, b := range group {
			if !b.Enabled() {
				continue
			}
			hk := b.Help()
			lines = append(lines, fmt.Sprintf("  %s %s", a.th.Key.Render(fmt.Sprintf("%-10s", hk.Key)), hk.Desc))
		}
	}
	lines = append(lines, "", a.th.Title.Render("Everywhere"), "")
	for _, b := range []key.Binding{a.km.Quit, a.km.Help, a.km.Command, a.km.Filter, a.km.Back} {
		hk := b.Help()
		lines = append(lines, fmt.Sprintf("  %s %s", a.th.Key.Render(fmt.Sprintf("%-10s", hk.Key)), hk.Desc))
	}
	lines = append(lines, "  "+a.th.Muted.Render("filter: regex (smart case), !regex inverts, -l key=value selects labels"))
	lines = append(lines, "", a.th.Title.Render("Commands"), "")
	for _, c := range Commands {
		lines = append(lines, fmt.Sprintf("  %s %s", a.th.Key.Render(fmt.Sprintf("%-12s", c[0])), c[1]))
	}
	lines = append(lines, "", a.th.Muted.Render("any key closes this help"))
	// two columns when tall content meets a wide screen
	if len(lines) > h && a.w >= 100 {
		half := (len(lines) + 1) / 2
		left := frame.Block(strings.Join(lines[:half], "\n"), a.w/2, h)
		right := frame.Block(strings.Join(lines[half:], "\n"), a.w-a.w/2, h)
		return lipgloss.JoinHorizontal(lipgloss.Top, left, right)
	}
	return frame.Block(strings.Join(lines, "\n"), a.w, h)
}

// NoColor reports whether NO_COLOR asks for no colours (any non-empty value).
func NoColor() bool { return os.Getenv("NO_COLOR") != "" }

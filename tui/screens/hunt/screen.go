// Package hunt is the Hunt view (`:hunt`): it plans a hunt (cluster.PlanHunt, in a Cmd), shows
// the plan and asks for confirmation, runs cluster.Hunt in a Cmd and turns its events into a
// table filling in live, one row per node and per container (state, severity, findings, hits,
// archive size, time), sortable. enter opens a container's result; esc (and ctrl+c, q) cancel
// a running hunt: new work stops, cluster.Hunt cleans up what it created, the results so far
// stay on the screen.
//
// It must not import tui (the root) or any other screen.
package hunt

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/tui/components/table"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// Planner makes the plan (reads only); it runs inside a Cmd.
type Planner func(ctx context.Context) (*cluster.HuntPlan, error)

// Runner runs the confirmed plan (cluster.Hunt), calling events one at a time as it goes; it
// runs inside a Cmd and must honour ctx (cancelling it stops new work and cleans up).
type Runner func(ctx context.Context, plan *cluster.HuntPlan, events func(cluster.HuntEvent)) (*cluster.HuntReport, error)

// Confirmer builds the confirmation screen's Cmd for the plan: yes is the Cmd that starts
// the hunt (StartMsg).
type Confirmer func(plan *cluster.HuntPlan, lines []string, yes func() tea.Cmd) tea.Cmd

// Opener opens a container's result (and its archive when it was pulled).
type Opener func(o cluster.HuntOutcome) tea.Cmd

// Config is what the view is built from.
type Config struct {
	Plan    Planner
	Run     Runner
	Confirm Confirmer
	Open    Opener
	// Describe is what the hunt will run besides the plan (rules, patterns, image, limits),
	// shown under the plan and in the confirmation.
	Describe []string
}

// State is where the hunt is.
type State int

// States.
const (
	Planning State = iota
	Planned        // waiting for the confirmation
	Declined       // the plan was not confirmed: nothing was changed
	Running
	Cancelling
	Done
)

var stateText = map[State]string{Planning: "planning", Planned: "waiting for confirmation", Declined: "not confirmed: nothing was changed",
	Running: "running", Cancelling: "cancelling: no new work; cleaning up what the hunt created", Done: "done"}

// PlannedMsg is the plan of hunt ID.
type PlannedMsg struct {
	ID   string
	Plan *cluster.HuntPlan
	Err  error
}

// StartMsg starts hunt ID (the confirmation's yes).
type StartMsg struct{ ID string }

// EventsMsg is a batch of hunt ID's events, in order.
type EventsMsg struct {
	ID     string
	Events []cluster.HuntEvent
}

// DoneMsg is the end of hunt ID: the report (nil when it never started) and the error.
type DoneMsg struct {
	ID     string
	Report *cluster.HuntReport
	Err    error
}

// feed carries events from the hunt's goroutine to the view: never dropped (each outcome
// matters), never blocking the hunt.
type feed struct {
	mu  sync.Mutex
	evs []cluster.HuntEvent
	sig chan struct{}
}

func newFeed() *feed { return &feed{sig: make(chan struct{}, 1)} }

func (f *feed) push(e cluster.HuntEvent) {
	f.mu.Lock()
	f.evs = append(f.evs, e)
	f.mu.Unlock()
	select {
	case f.sig <- struct{}{}:
	default: // a wake-up is pending: it drains this event too
	}
}

func (f *feed) drain() []cluster.HuntEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	evs := f.evs
	f.evs = nil
	return evs
}

func waitCmd(id string, f *feed) tea.Cmd {
	return func() tea.Msg {
		_, open := <-f.sig
		evs := f.drain()
		if !open && len(evs) == 0 {
			return nil
		}
		return EventsMsg{ID: id, Events: evs}
	}
}

func planCmd(ctx context.Context, id string, p Planner) tea.Cmd {
	return func() tea.Msg {
		plan, err := p(ctx)
		return PlannedMsg{ID: id, Plan: plan, Err: err}
	}
}

func runCmd(ctx context.Context, id string, run Runner, plan *cluster.HuntPlan, f *feed, over chan struct{}) tea.Cmd {
	return func() tea.Msg {
		rep, err := run(ctx, plan, f.push)
		close(f.sig) // Hunt has returned: no more events
		close(over)
		return DoneMsg{ID: id, Report: rep, Err: err}
	}
}

// Model is the Hunt view.
type Model struct {
	id     string
	cfg    Config
	th     theme.Theme
	km     keys.Map
	w, h   int
	ctx    context.Context
	cancel context.CancelFunc
	feed   *feed
	over   chan struct{} // closed when the hunt has returned (its cleanup done)
	state  State
	plan   *cluster.HuntPlan
	err    error
	rep    *cluster.HuntReport
	nodes  map[string]*nodeRow
	pods   map[string]*podRow // by node + "\x00" + target
	tbl    table.Model
	sorted bool // the table was sorted by severity when the hunt ended
}

// New returns the view; id must be unique among open screens. Init plans.
func New(id string, cfg Config, th theme.Theme, km keys.Map) *Model {
	ctx, cancel := context.WithCancel(context.Background())
	m := &Model{id: id, cfg: cfg, th: th, km: km, ctx: ctx, cancel: cancel, feed: newFeed(), over: make(chan struct{}),
		nodes: map[string]*nodeRow{}, pods: map[string]*podRow{}, tbl: table.New(columns, th, km)}
	m.tbl.Empty = "planning: listing the selected pods…"
	return m
}

// Init plans the hunt.
func (m *Model) Init() tea.Cmd { return planCmd(m.ctx, m.id, m.cfg.Plan) }

// Title names the view.
func (m *Model) Title() string { return "hunt" }

// SetSize sets the size.
func (m *Model) SetSize(w, h int) {
	m.w, m.h = w, h
	m.tbl.SetSize(w, max(h-m.headerLines(), 1))
}

// SetTheme replaces the styles.
func (m *Model) SetTheme(th theme.Theme) { m.th = th; m.tbl.SetTheme(th) }

// State is where the hunt is (tests).
func (m *Model) State() State { return m.state }

// Report is the hunt's report once it ended (tests).
func (m *Model) Report() *cluster.HuntReport { return m.rep }

// Table returns the table (tests).
func (m *Model) Table() table.Model { return m.tbl }

// Running says whether the hunt (or its cleanup) is still going: quitting then would leave
// Jobs, pods and archives behind.
func (m *Model) Running() bool { return m.state == Running || m.state == Cancelling }

// Busy says whether the hunt's Cmd is still running (closed views: the App waits for a
// cancelled hunt's cleanup before quitting).
func (m *Model) Busy() bool {
	if m.state < Running {
		return false
	}
	select {
	case <-m.over:
		return false
	default:
		return true
	}
}

// HandlesBack: esc cancels a running hunt before the view can be left.
func (m *Model) HandlesBack() bool { return m.Running() }

// Interrupt cancels a running hunt (ctrl+c, q anywhere in the App while it runs) and says
// whether there was one; the App waits for its cleanup instead of quitting.
func (m *Model) Interrupt() (tea.Cmd, bool) {
	switch m.state {
	case Running:
		return m.stop(), true
	case Cancelling:
		return nav.Status("the hunt is cleaning up what it created (Jobs, pods, archives): wait for it to end"), true
	}
	return nil, false
}

// Close cancels the hunt (the view was closed): its cleanup still runs.
func (m *Model) Close() error { m.cancel(); return nil }

// FilterPrompt makes the table filterable.
func (m *Model) FilterPrompt() (string, string, bool) { return "/", m.tbl.Filter(), true }

// ApplyFilter filters the table.
func (m *Model) ApplyFilter(q string, _ bool) (tea.Cmd, error) { return nil, m.tbl.SetFilter(q) }

// Position is the status bar position.
func (m *Model) Position() string { return m.tbl.Position() }

func (m *Model) stop() tea.Cmd {
	m.cancel()
	m.state = Cancelling
	m.relayout()
	return nav.Status("cancelling the hunt: no new work; cleaning up what it created")
}

// Update handles the plan, the events, the end and keys.
func (m *Model) Update(msg tea.Msg) (*Model, tea.Cmd) {
	switch msg := msg.(type) {
	case PlannedMsg:
		if msg.ID != m.id || m.state != Planning {
			return m, nil
		}
		if msg.Err != nil {
			m.err, m.state = msg.Err, Declined
			m.tbl.Empty = "no plan: " + msg.Err.Error()
			m.relayout()
			return m, nav.Err(fmt.Errorf("hunt: %w", msg.Err), "check the selection (-n NS, -A, -l SELECTOR, or NS/POD)")
		}
		m.plan, m.state = msg.Plan, Planned
		m.seed()
		if msg.Plan.Targets() == 0 {
			m.state = Declined
			m.relayout()
			return m, nav.Err(errors.New("hunt: no running container to hunt in (see the skipped list)"), "")
		}
		m.relayout()
		return m, m.ask()
	case StartMsg:
		if msg.ID != m.id || (m.state != Planned && m.state != Declined) || m.plan == nil || m.plan.Targets() == 0 {
			return m, nil
		}
		m.state = Running
		m.relayout()
		return m, tea.Batch(runCmd(m.ctx, m.id, m.cfg.Run, m.plan, m.feed, m.over), waitCmd(m.id, m.feed),
			nav.Status(fmt.Sprintf("hunting in %d containers on %d nodes", m.plan.Targets(), len(m.plan.Nodes))))
	case EventsMsg:
		if msg.ID != m.id {
			return m, nil
		}
		for _, e := range msg.Events {
			m.apply(e)
		}
		m.refresh()
		return m, waitCmd(m.id, m.feed)
	case DoneMsg:
		if msg.ID != m.id {
			return m, nil
		}
		return m, m.finish(msg)
	case tea.KeyPressMsg:
		return m, m.key(msg)
	case tea.MouseWheelMsg:
		m.tbl, _ = m.tbl.Update(msg)
	}
	return m, nil
}

func (m *Model) ask() tea.Cmd {
	if m.cfg.Confirm == nil {
		return nil
	}
	id := m.id
	return m.cfg.Confirm(m.plan, m.planLines(), func() tea.Cmd { return func() tea.Msg { return StartMsg{ID: id} } })
}

func (m *Model) finish(msg DoneMsg) tea.Cmd {
	interrupted := m.state == Cancelling
	m.state, m.rep, m.err = Done, msg.Report, msg.Err
	if msg.Report != nil {
		for _, o := range msg.Report.Outcomes {
			m.apply(cluster.HuntEvent{Node: o.Node, Target: &o.Target, Phase: "done", Outcome: &o})
		}
		interrupted = interrupted || msg.Report.Interrupted
	}
	for _, n := range m.nodes {
		if n.state == "starting analyzer" || n.state == "ready" {
			n.state = "stopped"
		}
	}
	for _, p := range m.pods {
		if p.out == nil && p.phase != "" {
			p.phase = "interrupted"
		}
	}
	m.refresh()
	if !m.sorted {
		m.tbl.SortBy(colSeverity, true)
		m.sorted = true
	}
	m.relayout()
	if msg.Report == nil {
		return nav.Err(fmt.Errorf("hunt: %w", msg.Err), "")
	}
	a, mt, f := msg.Report.Counts()
	what := "hunt " + msg.Report.ID
	if interrupted {
		what += " cancelled (the results so far are kept)"
	}
	st := fmt.Sprintf("%s: %d analysed, %d matched, %d failed; stored in %s", what, a, mt, f, msg.Report.Dir)
	if len(msg.Report.CleanupErrors) > 0 {
		return nav.Err(fmt.Errorf("%s; LEFT BEHIND: %v", st, msg.Report.CleanupErrors), "delete what is named by hand (kubectl delete)")
	}
	if msg.Err != nil && !errors.Is(msg.Err, context.Canceled) && !errors.Is(msg.Err, cluster.ErrInterrupted) {
		return nav.Err(fmt.Errorf("%s: %w", st, msg.Err), "")
	}
	return nav.Status(st)
}

func (m *Model) key(msg tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(msg, m.km.Back) && m.state == Running:
		return m.stop()
	case key.Matches(msg, m.km.Back) && m.state == Cancelling:
		return nav.Status("the hunt is cleaning up what it created: wait for it to end")
	case key.Matches(msg, m.km.Enter):
		r, ok := m.tbl.Selected()
		if !ok {
			return nil
		}
		if (m.state == Planned || m.state == Declined) && m.plan != nil && m.plan.Targets() > 0 {
			return m.ask()
		}
		p := m.pods[r.Key]
		if p == nil {
			return nav.Status("select a container's row to open its result")
		}
		if p.out == nil {
			return nav.Status(p.target.String() + ": no result yet")
		}
		if m.cfg.Open == nil {
			return nil
		}
		return m.cfg.Open(*p.out)
	}
	var handled bool
	m.tbl, handled = m.tbl.Update(msg)
	_ = handled
	return nil
}

// ShortHelp is the one-line help.
func (m *Model) ShortHelp() []key.Binding {
	b := m.km.Back
	switch m.state {
	case Running:
		b.SetHelp("esc", "cancel the hunt")
	case Cancelling:
		b.SetHelp("esc", "(cleaning up)")
	}
	return append(m.FullHelp()[0], m.km.Filter, b)
}

// FullHelp lists the keys that work now: enter confirms the plan before the hunt and opens a
// container's result after it; moving and sorting need rows.
func (m *Model) FullHelp() [][]key.Binding {
	km := m.km
	on := func(b key.Binding, ok bool) key.Binding {
		b.SetEnabled(ok && b.Enabled())
		return b
	}
	n := m.tbl.Len()
	e := km.Enter
	planned := (m.state == Planned || m.state == Declined) && m.plan != nil && m.plan.Targets() > 0
	if planned {
		e.SetHelp("enter", "confirm the plan")
	} else {
		e.SetHelp("enter", "open the result")
	}
	e = on(e, n > 0 && (planned || m.cfg.Open != nil))
	return [][]key.Binding{
		{e, on(km.SortNext, n > 0), on(km.SortRev, n > 0)},
		{on(km.Up, n > 1), on(km.Down, n > 1), on(km.PageUp, n > 1), on(km.PageDown, n > 1), on(km.Top, n > 1), on(km.Bottom, n > 1)},
		{km.Filter},
	}
}

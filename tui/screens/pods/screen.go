// Package pods is the cluster browser's pod list: name, ready, status, restarts, node, age,
// containers, updated live from the cluster package's informers, with the k9s keys, and "c"
// to checkpoint a container after a confirmation.
//
// It must not import tui (the root) or any other screen.
package pods

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/podsleuth/podsleuth/tui/components/frame"
	"github.com/podsleuth/podsleuth/tui/components/table"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// PodRow is one pod as the list shows it.
type PodRow struct {
	Namespace  string
	Name       string
	Ready      string // "1/2"
	Status     string
	Restarts   int
	Node       string
	Created    time.Time
	Containers []string
	Labels     map[string]string
}

// Source is what the list needs from the cluster package's browser: a sorted snapshot and a
// coalesced change signal (closed when the watch ends).
type Source interface {
	Snapshot() []PodRow
	Changes() <-chan struct{}
}

// Checkpointer starts a checkpoint + pull of one container; nil when this build cannot.
type Checkpointer func(namespace, pod, container string) tea.Cmd

// PodsMsg is a snapshot of the pods, taken at Now (ages are computed from it).
type PodsMsg struct {
	Gen  int
	Rows []PodRow
	Now  time.Time
	Err  error
}

// errSource is a Source that can say why it has no pods (the watch could not start).
type errSource interface{ Err() error }

// ChangedMsg says the informer saw changes since the last snapshot.
type ChangedMsg struct{ Gen int }

// WatchEndedMsg says the change channel was closed.
type WatchEndedMsg struct{ Gen int }

func snapshotCmd(gen int, src Source) tea.Cmd {
	return func() tea.Msg {
		msg := PodsMsg{Gen: gen, Rows: src.Snapshot(), Now: time.Now()}
		if e, ok := src.(errSource); ok {
			msg.Err = e.Err()
		}
		return msg
	}
}

func waitChangeCmd(gen int, ch <-chan struct{}) tea.Cmd {
	return func() tea.Msg {
		if _, ok := <-ch; !ok {
			return WatchEndedMsg{Gen: gen}
		}
		return ChangedMsg{Gen: gen}
	}
}

// Model is the pod list.
type Model struct {
	src        Source
	ns         string
	th         theme.Theme
	km         keys.Map
	w, h       int
	gen        int
	tbl        table.Model
	pods       map[string]PodRow
	readonly   bool
	checkpoint Checkpointer
	// confirm is the pending checkpoint confirmation (pod key and container), when asked.
	confirm *confirmState
	// Detail opens a pod's detail on enter; nil disables it.
	Detail func(namespace, name string) tea.Cmd
}

type confirmState struct {
	ns, pod    string
	containers []string
	choice     int
}

// New returns the list of namespace ns ("" for all) over src.
func New(src Source, ns string, readonly bool, cp Checkpointer, th theme.Theme, km keys.Map) *Model {
	cols := []table.Column{
		{Title: "NAMESPACE", Max: 24}, {Title: "NAME", Flex: true, Max: 60}, {Title: "READY"},
		{Title: "STATUS", Max: 20}, {Title: "RESTARTS", Right: true, Numeric: true},
		{Title: "NODE", Max: 24}, {Title: "AGE", Right: true, Numeric: true}, {Title: "CONTAINERS", Max: 30},
	}
	// without a Checkpointer the list is read-only (the session's readonly setting)
	readonly = readonly || cp == nil
	m := &Model{src: src, ns: ns, th: th, km: km, tbl: table.New(cols, th, km), readonly: readonly, checkpoint: cp}
	m.tbl.Empty = "loading pods…"
	if readonly {
		m.km.Checkpoint.SetEnabled(false)
	}
	return m
}

// Init takes the first snapshot and waits for changes.
func (m *Model) Init() tea.Cmd {
	m.gen++
	return tea.Batch(snapshotCmd(m.gen, m.src), waitChangeCmd(m.gen, m.src.Changes()))
}

// Title names the view.
func (m *Model) Title() string {
	if m.ns == "" {
		return "pods (all namespaces)"
	}
	return "pods " + m.ns
}

// SetSize sets the size.
func (m *Model) SetSize(w, h int) { m.w, m.h = w, h; m.tbl.SetSize(w, h) }

// SetTheme replaces the styles.
func (m *Model) SetTheme(th theme.Theme) { m.th = th; m.tbl.SetTheme(th) }

// Table returns the table (tests).
func (m *Model) Table() table.Model { return m.tbl }

// FilterPrompt makes the list filterable.
func (m *Model) FilterPrompt() (string, string, bool) { return "/", m.tbl.Filter(), true }

// ApplyFilter filters the list.
func (m *Model) ApplyFilter(q string, _ bool) (tea.Cmd, error) { return nil, m.tbl.SetFilter(q) }

// Position is the status bar position.
func (m *Model) Position() string { return m.tbl.Position() }

// Capturing is set while the checkpoint confirmation is asked.
func (m *Model) Capturing() bool { return m.confirm != nil }

// Age renders a duration like kubectl: 45s, 12m, 5h, 3d.
func Age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// Rows turns pods into table rows, with ages at now.
func Rows(pods []PodRow, now time.Time) []table.Row {
	rows := make([]table.Row, len(pods))
	for i, p := range pods {
		age := ""
		var secs int64
		if !p.Created.IsZero() {
			d := now.Sub(p.Created)
			age, secs = Age(d), int64(d.Seconds())
		}
		tone := table.Normal
		switch p.Status {
		case "Running", "Completed", "Succeeded":
		case "Pending", "ContainerCreating", "Terminating":
			tone = table.Warn
		default:
			tone = table.Danger
		}
		if p.Status == "Completed" || p.Status == "Succeeded" {
			tone = table.Muted
		}
		restarts := strconv.Itoa(p.Restarts)
		rows[i] = table.Row{
			Key:    p.Namespace + "/" + p.Name,
			Cells:  []string{p.Namespace, p.Name, p.Ready, p.Status, restarts, p.Node, age, strings.Join(p.Containers, ",")},
			Keys:   []string{p.Namespace, p.Name, p.Ready, p.Status, restarts, p.Node, strconv.FormatInt(secs, 10)},
			Labels: p.Labels,
			Tone:   tone,
		}
	}
	return rows
}

// ErrReadonly is reported when a mutating action is asked for in read-only mode.
var ErrReadonly = errors.New("refused: podsleuth runs read-only")

// Update handles snapshots and keys.
func (m *Model) Update(msg tea.Msg) (*Model, tea.Cmd) {
	switch msg := msg.(type) {
	case PodsMsg:
		if msg.Gen != m.gen {
			return m, nil
		}
		if msg.Err != nil && len(msg.Rows) == 0 {
			m.tbl.Empty = "no pods: " + msg.Err.Error()
			m.tbl.SetRows(nil)
			return m, nav.Err(msg.Err, "check RBAC: podsleuth needs list/watch on pods (see the README's role)")
		}
		m.pods = make(map[string]PodRow, len(msg.Rows))
		var rows []PodRow
		for _, p := range msg.Rows {
			if m.ns != "" && p.Namespace != m.ns {
				continue
			}
			m.pods[p.Namespace+"/"+p.Name] = p
			rows = append(rows, p)
		}
		m.tbl.SetRows(Rows(rows, msg.Now))
		m.tbl.Empty = "no pods"
		if m.ns != "" {
			m.tbl.Empty = "no pods in namespace " + m.ns
		}
		return m, nil
	case ChangedMsg:
		if msg.Gen != m.gen {
			return m, nil
		}
		return m, tea.Batch(snapshotCmd(m.gen, m.src), waitChangeCmd(m.gen, m.src.Changes()))
	case WatchEndedMsg:
		if msg.Gen != m.gen {
			return m, nil
		}
		return m, nav.Err(errors.New("the pod watch ended: the list is no longer live"), ":pods restarts it")
	case tea.KeyPressMsg:
		if m.confirm != nil {
			return m.updateConfirm(msg)
		}
		return m.updateKey(msg)
	case tea.MouseWheelMsg:
		m.tbl, _ = m.tbl.Update(msg)
	}
	return m, nil
}

func (m *Model) updateKey(msg tea.KeyPressMsg) (*Model, tea.Cmd) {
	// in read-only mode the binding is disabled (hidden from help) but its keys still explain
	// the refusal instead of doing nothing
	if key.Matches(msg, m.km.Checkpoint) || (m.readonly && slices.Contains(m.km.Checkpoint.Keys(), msg.String())) {
		if m.readonly {
			return m, nav.Err(fmt.Errorf("checkpoint: %w", ErrReadonly), "start podsleuth without --readonly (or readonly: false in the config) to checkpoint")
		}
		r, ok := m.tbl.Selected()
		if !ok {
			return m, nil
		}
		p := m.pods[r.Key]
		m.confirm = &confirmState{ns: p.Namespace, pod: p.Name, containers: p.Containers}
		return m, nil
	}
	if key.Matches(msg, m.km.Enter) && m.Detail != nil {
		if r, ok := m.tbl.Selected(); ok {
			p := m.pods[r.Key]
			return m, m.Detail(p.Namespace, p.Name)
		}
		return m, nil
	}
	m.tbl, _ = m.tbl.Update(msg)
	return m, nil
}

func (m *Model) updateConfirm(msg tea.KeyPressMsg) (*Model, tea.Cmd) {
	c := m.confirm
	switch {
	case key.Matches(msg, m.km.Up):
		c.choice = max(c.choice-1, 0)
	case key.Matches(msg, m.km.Down):
		c.choice = min(c.choice+1, len(c.containers))
	case key.Matches(msg, m.km.Confirm), key.Matches(msg, m.km.Enter):
		m.confirm = nil
		var cmds []tea.Cmd
		if c.choice == len(c.containers) {
			for _, ct := range c.containers {
				cmds = append(cmds, m.checkpoint(c.ns, c.pod, ct))
			}
		} else {
			cmds = append(cmds, m.checkpoint(c.ns, c.pod, c.containers[c.choice]))
		}
		return m, tea.Batch(cmds...)
	case key.Matches(msg, m.km.Deny), key.Matches(msg, m.km.Back), msg.String() == "q":
		m.confirm = nil
		return m, nav.Status("checkpoint cancelled")
	}
	return m, nil
}

// View renders the list, or the confirmation over it.
func (m *Model) View() string {
	if m.confirm == nil {
		return m.tbl.View()
	}
	c := m.confirm
	lines := []string{
		m.th.Title.Render(fmt.Sprintf("Checkpoint %s/%s?", c.ns, c.pod)),
		"",
		"The container keeps running and is not told: the kubelet asks the runtime to",
		"dump it with CRIU, then podsleuth pulls the archive into the evidence store.",
		"",
		"Container:",
	}
	for i, ct := range append(append([]string(nil), c.containers...), "all containers") {
		mark := "  "
		if i == c.choice {
			mark = "▸ "
			ct = m.th.Selected.Render(ct)
		}
		lines = append(lines, "  "+mark+ct)
	}
	lines = append(lines, "", m.th.Key.Render("y/enter")+" checkpoint   "+m.th.Key.Render("n/esc")+" cancel")
	return frame.Lines(lines, m.w, m.h)
}

// ShortHelp is the one-line help.
func (m *Model) ShortHelp() []key.Binding {
	if m.confirm != nil {
		return []key.Binding{m.km.Confirm, m.km.Deny}
	}
	f := m.FullHelp()
	return append(f[0], m.km.Filter, m.km.SortNext, m.km.Command, m.km.Help)
}

// FullHelp lists the keys that work now: the confirmation's, or the list's (enter and c need a
// pod; c is off in read-only mode).
func (m *Model) FullHelp() [][]key.Binding {
	km := m.km
	if m.confirm != nil {
		n := len(m.confirm.containers) + 1
		return [][]key.Binding{{on(km.Up, n > 1), on(km.Down, n > 1), km.Confirm, km.Deny}}
	}
	n := m.tbl.Len()
	enter := km.Enter
	enter.SetHelp(enter.Help().Key, "pod detail")
	return [][]key.Binding{
		{on(enter, m.Detail != nil && n > 0), on(km.Checkpoint, n > 0)},
		{on(km.Up, n > 1), on(km.Down, n > 1), on(km.PageUp, n > 1), on(km.PageDown, n > 1), on(km.Top, n > 1), on(km.Bottom, n > 1)},
		{km.Filter, on(km.SortNext, n > 0), on(km.SortRev, n > 0)},
	}
}

// on returns b enabled only when ok.
func on(b key.Binding, ok bool) key.Binding {
	b.SetEnabled(ok && b.Enabled())
	return b
}

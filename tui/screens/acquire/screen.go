// Package acquire is the progress view of a checkpoint + pull: phase, bytes, rate, ETA; esc
// cancels cleanly (the runner's context is cancelled and it removes what it started), and the
// result is opened when done.
//
// It must not import tui (the root) or any other screen.
package acquire

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/tui/components/frame"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// Progress is one update of the acquisition.
type Progress struct {
	// Phase is "checkpoint" (the kubelet is dumping), "collector", "hash", "stream", "done".
	Phase   string
	Bytes   int64
	Total   int64
	Rate    float64 // bytes per second
	Elapsed time.Duration
	Attempt int
}

// Result is what was acquired.
type Result struct {
	// Path is the archive in the evidence store; ID the evidence item.
	Path, ID, Label string
}

// Runner checkpoints and pulls; it calls progress (from any goroutine) and returns when done.
// It must honour ctx: on cancellation it cleans up (collector pod) and returns ctx's error.
type Runner func(ctx context.Context, progress func(Progress)) (Result, error)

// ProgressMsg is one progress update of acquisition ID.
type ProgressMsg struct {
	ID string
	P  Progress
}

// DoneMsg is the end of acquisition ID. Hint, when set, says how to fix Err.
type DoneMsg struct {
	ID     string
	Result Result
	Err    error
	Hint   string
}

// Hinter extracts a fix hint from a runner's error (the cluster package's CheckpointError).
type Hinter func(error) string

func runCmd(ctx context.Context, id string, run Runner, ch chan Progress, hint Hinter) tea.Cmd {
	return func() tea.Msg {
		res, err := run(ctx, func(p Progress) {
			select {
			case ch <- p:
			default: // the view is behind: drop, the next update supersedes it
			}
		})
		close(ch)
		h := ""
		if err != nil && hint != nil {
			h = hint(err)
		}
		return DoneMsg{ID: id, Result: res, Err: err, Hint: h}
	}
}

func waitCmd(id string, ch <-chan Progress) tea.Cmd {
	return func() tea.Msg {
		p, ok := <-ch
		if !ok {
			return nil
		}
		return ProgressMsg{ID: id, P: p}
	}
}

// Model is the progress view.
type Model struct {
	id     string
	target string
	run    Runner
	hint   Hinter
	th     theme.Theme
	km     keys.Map
	w, h   int
	ctx    context.Context
	cancel context.CancelFunc
	ch     chan Progress
	p      Progress
	done   bool
	err    error
	errHnt string
	res    Result
}

// New returns the view for target ("ns/pod/container"); Init starts the runner.
func New(id, target string, run Runner, hint Hinter, th theme.Theme, km keys.Map) *Model {
	ctx, cancel := context.WithCancel(context.Background())
	return &Model{id: id, target: target, run: run, hint: hint, th: th, km: km, ctx: ctx, cancel: cancel,
		ch: make(chan Progress, 8), p: Progress{Phase: "checkpoint"}}
}

// Init starts the acquisition.
func (m *Model) Init() tea.Cmd {
	return tea.Batch(runCmd(m.ctx, m.id, m.run, m.ch, m.hint), waitCmd(m.id, m.ch))
}

// Title names the view.
func (m *Model) Title() string { return "checkpoint " + m.target }

// SetSize sets the size.
func (m *Model) SetSize(w, h int) { m.w, m.h = w, h }

// SetTheme replaces the styles.
func (m *Model) SetTheme(th theme.Theme) { m.th = th }

// Running says whether the acquisition is still going.
func (m *Model) Running() bool { return !m.done }

// HandlesBack: esc cancels a running acquisition before the view can be left.
func (m *Model) HandlesBack() bool { return !m.done }

// Capturing keeps q from quitting while the acquisition runs: quitting then would leave the
// collector pod behind (esc cancels and cleans up first).
func (m *Model) Capturing() bool { return !m.done }

// Close cancels a running acquisition.
func (m *Model) Close() error { m.cancel(); return nil }

// Update handles progress, the result and keys.
func (m *Model) Update(msg tea.Msg) (*Model, tea.Cmd) {
	switch msg := msg.(type) {
	case ProgressMsg:
		if msg.ID != m.id || m.done {
			return m, nil
		}
		m.p = msg.P
		return m, waitCmd(m.id, m.ch)
	case DoneMsg:
		if msg.ID != m.id {
			return m, nil
		}
		m.done = true
		if msg.Err != nil {
			m.err, m.errHnt = msg.Err, msg.Hint
			if errors.Is(msg.Err, context.Canceled) {
				return m, nav.Status("checkpoint of " + m.target + " cancelled; nothing was kept")
			}
			return m, nav.Err(msg.Err, msg.Hint)
		}
		m.res = msg.Result
		m.p.Phase = "done"
		label := msg.Result.Label
		if label == "" {
			label = m.target
		}
		return m, tea.Batch(nav.Status(fmt.Sprintf("acquired %s as evidence %s", m.target, msg.Result.ID)), nav.OpenReplacing(msg.Result.Path, label))
	case tea.KeyPressMsg:
		switch {
		case key.Matches(msg, m.km.Back) && !m.done:
			m.cancel()
			return m, nav.Status("cancelling…")
		case key.Matches(msg, m.km.Quit) && !m.done:
			return m, nav.Status("an acquisition is running: esc cancels it (and removes the collector pod) first")
		}
	}
	return m, nil
}

// ETA is the time left at the current rate ("" when unknown).
func ETA(p Progress) string {
	if p.Total <= 0 || p.Rate <= 0 || p.Bytes >= p.Total {
		return ""
	}
	d := time.Duration(float64(p.Total-p.Bytes) / p.Rate * float64(time.Second))
	return d.Round(time.Second).String()
}

var phases = []string{"checkpoint", "collector", "hash", "stream", "done"}

var phaseText = map[string]string{
	"checkpoint": "the kubelet is checkpointing the container (CRIU dump; the container keeps running)",
	"collector":  "starting the collector pod on the node",
	"hash":       "hashing the archive on the node (sha256)",
	"stream":     "streaming the archive into the evidence store",
	"done":       "done",
}

// View renders the progress.
func (m *Model) View() string {
	p := m.p
	var l []string
	l = append(l, m.th.Title.Render("Checkpoint and pull "+m.target), "")
	var steps []string
	cur := 0
	for i, ph := range phases {
		if ph == p.Phase {
			cur = i
		}
	}
	for i, ph := range phases {
		switch {
		case i < cur:
			steps = append(steps, m.th.OK.Render("✓ "+ph))
		case i == cur && !m.done:
			steps = append(steps, m.th.Accent.Render("▸ "+ph))
		case i == cur && m.err == nil:
			steps = append(steps, m.th.OK.Render("✓ "+ph))
		case i == cur:
			steps = append(steps, m.th.Danger.Render("✗ "+ph))
		default:
			steps = append(steps, m.th.Muted.Render("· "+ph))
		}
	}
	l = append(l, "  "+strings.Join(steps, "  "), "", "  "+phaseText[p.Phase])
	if p.Total > 0 || p.Bytes > 0 {
		pct := 0.0
		if p.Total > 0 {
			pct = float64(p.Bytes) / float64(p.Total)
		}
		barW := max(min(m.w-20, 60), 10)
		fill := int(pct * float64(barW))
		l = append(l, "", fmt.Sprintf("  [%s%s] %3.0f%%", strings.Repeat("█", fill), strings.Repeat("░", barW-fill), pct*100))
		line := fmt.Sprintf("  %s of %s", forensics.HumanBytes(p.Bytes), forensics.HumanBytes(p.Total))
		if p.Rate > 0 {
			line += fmt.Sprintf("  %s/s", forensics.HumanBytes(int64(p.Rate)))
		}
		if eta := ETA(p); eta != "" {
			line += "  ETA " + eta
		}
		l = append(l, line)
	}
	if p.Elapsed > 0 {
		l = append(l, fmt.Sprintf("  elapsed %s", p.Elapsed.Round(100*time.Millisecond)))
	}
	if p.Attempt > 1 {
		l = append(l, m.th.Warning.Render(fmt.Sprintf("  stream attempt %d (the previous one broke)", p.Attempt)))
	}
	switch {
	case m.err != nil && errors.Is(m.err, context.Canceled):
		l = append(l, "", "  cancelled: the collector pod was removed and nothing was added to the evidence store", "  esc goes back")
	case m.err != nil:
		l = append(l, "", "  "+m.th.Danger.Render("failed: "+m.err.Error()))
		if m.errHnt != "" {
			l = append(l, "  "+m.th.Warning.Render("fix: "+m.errHnt))
		}
		l = append(l, "  esc goes back")
	case !m.done:
		l = append(l, "", m.th.Muted.Render("  esc cancels (the collector pod is removed; nothing partial is kept)"))
	}
	return frame.Lines(l, m.w, m.h)
}

// ShortHelp is the one-line help.
func (m *Model) ShortHelp() []key.Binding {
	b := m.km.Back
	if !m.done {
		b.SetHelp("esc", "cancel")
	}
	return []key.Binding{b}
}

// FullHelp lists every key.
func (m *Model) FullHelp() [][]key.Binding { return [][]key.Binding{m.ShortHelp()} }

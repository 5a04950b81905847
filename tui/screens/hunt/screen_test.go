package hunt

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/forensics"
	fhunt "github.com/podsleuth/podsleuth/forensics/hunt"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/theme"
)

var t0 = time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)

// ScriptPlan is two nodes, three containers, one skipped.
func ScriptPlan() *cluster.HuntPlan {
	return &cluster.HuntPlan{Context: "prod", Selection: cluster.HuntSelection{Namespaces: []string{"shop"}, Selector: "app=web"},
		Nodes: []cluster.HuntNode{
			{Name: "node-a", Targets: []cluster.Target{{Namespace: "shop", Pod: "web-1", Container: "app"}, {Namespace: "shop", Pod: "web-2", Container: "app"}}},
			{Name: "node-b", Targets: []cluster.Target{{Namespace: "shop", Pod: "web-3", Container: "app"}}},
		},
		Skipped: []cluster.HuntSkip{{Target: cluster.Target{Namespace: "shop", Pod: "web-4", Container: "app"}, Node: "node-b", Reason: "not running (waiting: ContainerCreating)"}},
	}
}

// ScriptEvents is what cluster.Hunt emits for ScriptPlan: web-1 has a planted high finding
// and a pattern hit (pulled), web-2 is clean, web-3 cannot be checkpointed.
func ScriptEvents() []cluster.HuntEvent {
	plan := ScriptPlan()
	w1, w2, w3 := plan.Nodes[0].Targets[0], plan.Nodes[0].Targets[1], plan.Nodes[1].Targets[0]
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	hit := &cluster.HuntOutcome{Target: w1, Node: "node-a", Checkpoint: 2 * time.Second, Matched: true, Evidence: "ev-1a2b",
		Result: &fhunt.Result{V: 1, Size: 70 << 20, SHA256: strings.Repeat("ab", 32), Severity: "high",
			Findings:   []fhunt.Finding{{Rule: "miner-pool", Severity: forensics.SeverityHigh, Title: "connection to a mining pool"}},
			Indicators: []fhunt.Indicator{{Type: "url", Value: "stratum+tcp://pool.example:3333", Count: 2}},
			Patterns:   []fhunt.PatternHits{{Pattern: "PODSLEUTH-PLANTED", Hits: 3, Severity: forensics.SeverityHigh}},
			PeakRSS:    93 << 20}}
	clean := &cluster.HuntOutcome{Target: w2, Node: "node-a", Checkpoint: time.Second,
		Result: &fhunt.Result{V: 1, Size: 68 << 20, Patterns: []fhunt.PatternHits{{Pattern: "PODSLEUTH-PLANTED"}}}}
	refused := &cluster.HuntOutcome{Target: w3, Node: "node-b", Err: errors.New("checkpoint refused"), Class: "checkpoint: refused",
		Error: "the kubelet refused: CRIU failed"}
	return []cluster.HuntEvent{
		{Time: at(0), Node: "node-a", Phase: "analyzer"},
		{Time: at(0), Node: "node-b", Phase: "analyzer"},
		{Time: at(3), Node: "node-a", Phase: "ready"},
		{Time: at(3), Node: "node-a", Target: &w1, Phase: "checkpoint"},
		{Time: at(4), Node: "node-b", Phase: "ready"},
		{Time: at(4), Node: "node-b", Target: &w3, Phase: "checkpoint"},
		{Time: at(5), Node: "node-a", Target: &w1, Phase: "analyze"},
		{Time: at(5.5), Node: "node-b", Target: &w3, Phase: "done", Outcome: refused},
		{Time: at(6), Node: "node-a", Target: &w1, Phase: "pull"},
		{Time: at(9), Node: "node-a", Target: &w1, Phase: "done", Outcome: hit},
		{Time: at(9), Node: "node-a", Target: &w2, Phase: "checkpoint"},
		{Time: at(10), Node: "node-a", Target: &w2, Phase: "analyze"},
		{Time: at(11), Node: "node-a", Target: &w2, Phase: "clean"},
		{Time: at(11.5), Node: "node-a", Target: &w2, Phase: "done", Outcome: clean},
		{Time: at(12), Node: "node-a", Phase: "stopped"},
		{Time: at(12), Node: "node-b", Phase: "stopped"},
	}
}

func outcomes(evs []cluster.HuntEvent) []cluster.HuntOutcome {
	var out []cluster.HuntOutcome
	for _, e := range evs {
		if e.Outcome != nil {
			out = append(out, *e.Outcome)
		}
	}
	return out
}

func newModel(t *testing.T, run Runner, opened *[]cluster.HuntOutcome) (*Model, *int) {
	asked := 0
	cfg := Config{
		Plan: func(context.Context) (*cluster.HuntPlan, error) { return ScriptPlan(), nil },
		Run:  run,
		Confirm: func(p *cluster.HuntPlan, lines []string, yes func() tea.Cmd) tea.Cmd {
			asked++
			require.Contains(t, lines[0], "3 containers on 2 nodes")
			return yes()
		},
		Open: func(o cluster.HuntOutcome) tea.Cmd { *opened = append(*opened, o); return nil },
	}
	m := New("h1", cfg, theme.Plain(), keys.Default())
	m.SetSize(160, 30)
	return m, &asked
}

// exec runs a Cmd (and the batches it returns) and gives the messages.
func exec(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	msg := cmd()
	if b, ok := msg.(tea.BatchMsg); ok {
		var out []tea.Msg
		for _, c := range b {
			out = append(out, exec(c)...)
		}
		return out
	}
	return []tea.Msg{msg}
}

func cellsOf(m *Model, key string) []string {
	for _, r := range m.Table().Rows() {
		if r.Key == key {
			return r.Cells
		}
	}
	return nil
}

// TestScriptedHuntFillsTheTable plans, confirms, then feeds the scripted event stream one
// event at a time: each container's row follows its phases and ends with its outcome; the
// node rows count what is done; the end sorts by severity, most severe first.
func TestScriptedHuntFillsTheTable(t *testing.T) {
	var opened []cluster.HuntOutcome
	m, asked := newModel(t, nil, &opened)
	msgs := exec(m.Init())
	require.Len(t, msgs, 1)
	m, cmd := m.Update(msgs[0])
	require.Equal(t, Planned, m.State())
	require.Equal(t, 1, *asked)
	// the plan is on screen before anything runs: every target waiting, the skipped named
	k1 := podKey("node-a", ScriptPlan().Nodes[0].Targets[0])
	require.Equal(t, "waiting", cellsOf(m, k1)[colState])
	require.Contains(t, cellsOf(m, podKey("node-b", ScriptPlan().Skipped[0].Target))[colState], "skipped: not running")
	start := exec(cmd)
	require.Equal(t, StartMsg{ID: "h1"}, start[0])
	m.state = Running // as StartMsg does, without starting the runner (Run is nil here)

	evs := ScriptEvents()
	for i, e := range evs {
		m, _ = m.Update(EventsMsg{ID: "h1", Events: []cluster.HuntEvent{e}})
		if i == 6 { // web-1 is being analysed on node-a
			require.Equal(t, "analyze", cellsOf(m, k1)[colState])
			require.Equal(t, "ready 0/2", cellsOf(m, "node\x00node-a")[colState])
		}
	}
	require.Equal(t, []string{"  shop/web-1/app", "node-a", "pulled ev-1a2b", "HIGH", "1", "3", "70.0 MiB", "6s"}, cellsOf(m, k1))
	k2 := podKey("node-a", ScriptPlan().Nodes[0].Targets[1])
	require.Equal(t, []string{"analysed", "clean", "0", "0"}, cellsOf(m, k2)[colState:colBytes])
	k3 := podKey("node-b", ScriptPlan().Nodes[1].Targets[0])
	require.Equal(t, "FAILED checkpoint: refused: the kubelet refused: CRIU failed", cellsOf(m, k3)[colState])
	require.Equal(t, []string{"stopped 2/2", "HIGH", "1", "3", "138.0 MiB", "12s"}, cellsOf(m, "node\x00node-a")[colState:])
	require.Equal(t, "stopped 1/1", cellsOf(m, "node\x00node-b")[colState])

	// a stale event for another hunt changes nothing
	m, _ = m.Update(EventsMsg{ID: "other", Events: []cluster.HuntEvent{{Node: "node-a", Target: &ScriptPlan().Nodes[0].Targets[0], Phase: "checkpoint"}}})
	require.Equal(t, "pulled ev-1a2b", cellsOf(m, k1)[colState])

	m, cmd = m.Update(DoneMsg{ID: "h1", Report: &cluster.HuntReport{ID: "hunt-1", Dir: "/store/hunts/hunt-1", Outcomes: outcomes(evs)}})
	require.Equal(t, Done, m.State())
	st := exec(cmd)
	require.Equal(t, nav.StatusMsg{Text: "hunt hunt-1: 2 analysed, 1 matched, 1 failed; stored in /store/hunts/hunt-1"}, st[0])
	col, desc := m.Table().Sort()
	require.Equal(t, colSeverity, col)
	require.True(t, desc)
	first, _ := m.Table().Selected()
	require.Contains(t, []string{k1, "node\x00node-a"}, first.Key, "the most severe rows come first")

	// enter on a container opens its result; on a node row it says what to select
	require.True(t, m.tbl.SelectKey(k1))
	m, _ = m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	require.Len(t, opened, 1)
	require.Equal(t, "ev-1a2b", opened[0].Evidence)
	require.True(t, m.tbl.SelectKey("node\x00node-b"))
	_, cmd = m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	require.Len(t, opened, 1)
	require.IsType(t, nav.StatusMsg{}, exec(cmd)[0])
}

// TestCancelKeepsResultsAndWaitsForCleanup runs a real Runner goroutine that emits two
// outcomes, then blocks until its context is cancelled (as cluster.Hunt does on esc) and
// returns an interrupted report; the view stays busy (HandlesBack, Busy) until it returned,
// and keeps the results so far.
func TestCancelKeepsResultsAndWaitsForCleanup(t *testing.T) {
	evs := ScriptEvents()
	cleaned := make(chan struct{})
	run := func(ctx context.Context, p *cluster.HuntPlan, events func(cluster.HuntEvent)) (*cluster.HuntReport, error) {
		for _, e := range evs[:10] { // up to web-1's outcome
			events(e)
		}
		<-ctx.Done()
		<-cleaned // the cleanup takes a while
		interrupted := &cluster.HuntOutcome{Target: ScriptPlan().Nodes[0].Targets[1], Node: "node-a", Class: "interrupted", Error: "interrupted", Err: ctx.Err()}
		return &cluster.HuntReport{ID: "hunt-2", Dir: "/d", Interrupted: true, Outcomes: append(outcomes(evs[:10]), *interrupted)}, ctx.Err()
	}
	var opened []cluster.HuntOutcome
	m, _ := newModel(t, run, &opened)
	m, _ = m.Update(exec(m.Init())[0])
	m, cmd := m.Update(StartMsg{ID: "h1"})
	require.Equal(t, Running, m.State())
	require.True(t, m.Busy())
	// the batch: the runner, the event wait, the status
	batch := cmd().(tea.BatchMsg)
	done := make(chan tea.Msg, 1)
	go func() { done <- batch[0]() }()
	// events arrive through the feed as the runner emits them
	got := 0
	for got < 10 {
		msg := batch[1]()
		if em, ok := msg.(EventsMsg); ok {
			got += len(em.Events)
			m, _ = m.Update(em)
		}
	}
	k1 := podKey("node-a", ScriptPlan().Nodes[0].Targets[0])
	require.Equal(t, "pulled ev-1a2b", cellsOf(m, k1)[colState])

	require.True(t, m.HandlesBack())
	m, cmd = m.Update(tea.KeyPressMsg{Code: tea.KeyEscape})
	require.Equal(t, Cancelling, m.State())
	require.Contains(t, exec(cmd)[0].(nav.StatusMsg).Text, "cancelling")
	_, again := m.Interrupt()
	require.True(t, again, "ctrl+c while cleaning up is still taken by the hunt")
	require.True(t, m.Busy(), "cleanup still running")
	close(cleaned)
	m, cmd = m.Update(<-done)
	require.False(t, m.Busy())
	require.False(t, m.HandlesBack())
	require.Equal(t, Done, m.State())
	require.Contains(t, exec(cmd)[0].(nav.StatusMsg).Text, "hunt hunt-2 cancelled (the results so far are kept): 1 analysed")
	require.Equal(t, "pulled ev-1a2b", cellsOf(m, k1)[colState], "results so far kept")
	require.Equal(t, "interrupted", cellsOf(m, podKey("node-a", ScriptPlan().Nodes[0].Targets[1]))[colState])
	require.Contains(t, m.View(), "cancelled: hunt hunt-2, results so far kept")
}

// TestPlanErrorIsShownAndNothingRuns: a selection that matches nothing is named, and enter
// does not start anything.
func TestPlanErrorIsShownAndNothingRuns(t *testing.T) {
	ran := false
	m := New("h2", Config{
		Plan: func(context.Context) (*cluster.HuntPlan, error) { return nil, cluster.ErrNoSuchPod },
		Run: func(context.Context, *cluster.HuntPlan, func(cluster.HuntEvent)) (*cluster.HuntReport, error) {
			ran = true
			return nil, nil
		},
	}, theme.Plain(), keys.Default())
	m.SetSize(80, 20)
	m, cmd := m.Update(exec(m.Init())[0])
	e := exec(cmd)[0].(nav.ErrMsg)
	require.ErrorIs(t, e.Err, cluster.ErrNoSuchPod)
	m, cmd = m.Update(StartMsg{ID: "h2"})
	require.Nil(t, cmd)
	require.False(t, ran)
	require.Contains(t, m.View(), "no plan:")
}

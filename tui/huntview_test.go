package tui

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
	"github.com/podsleuth/podsleuth/tui/screens/confirm"
	"github.com/podsleuth/podsleuth/tui/screens/hunt"
	"github.com/podsleuth/podsleuth/tui/screens/pods"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// goldenHunt is a hunt over four containers on two nodes, as cluster.Hunt reports it: one
// planted finding pulled, one clean, one refused checkpoint, one still running.
func goldenHunt() (*cluster.HuntPlan, []cluster.HuntEvent) {
	tg := func(p string) cluster.Target { return cluster.Target{Namespace: "shop", Pod: p, Container: "app"} }
	plan := &cluster.HuntPlan{Context: "prod", Selection: cluster.HuntSelection{Namespaces: []string{"shop"}, Selector: "app=web"},
		Nodes: []cluster.HuntNode{{Name: "node-a", Targets: []cluster.Target{tg("web-1"), tg("web-2")}}, {Name: "node-b", Targets: []cluster.Target{tg("web-3"), tg("web-4")}}}}
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	w1, w2, w3, w4 := tg("web-1"), tg("web-2"), tg("web-3"), tg("web-4")
	return plan, []cluster.HuntEvent{
		{Time: at(0), Node: "node-a", Phase: "analyzer"}, {Time: at(0), Node: "node-b", Phase: "analyzer"},
		{Time: at(2), Node: "node-a", Phase: "ready"}, {Time: at(2), Node: "node-b", Phase: "ready"},
		{Time: at(2), Node: "node-a", Target: &w1, Phase: "checkpoint"},
		{Time: at(7), Node: "node-a", Target: &w1, Phase: "done", Outcome: &cluster.HuntOutcome{Target: w1, Node: "node-a", Matched: true, Evidence: "3f9c2a1b",
			Result: &fhunt.Result{Size: 70 << 20, Severity: "high", Findings: []fhunt.Finding{{Rule: "miner-pool", Severity: forensics.SeverityHigh, Title: "mining pool"}},
				Yara: []fhunt.YaraHits{{Rule: "planted_marker", Hits: 1, Severity: forensics.SeverityHigh}}}}},
		{Time: at(7), Node: "node-a", Target: &w2, Phase: "checkpoint"},
		{Time: at(10), Node: "node-a", Target: &w2, Phase: "done", Outcome: &cluster.HuntOutcome{Target: w2, Node: "node-a", Result: &fhunt.Result{Size: 68 << 20}}},
		{Time: at(2), Node: "node-b", Target: &w3, Phase: "checkpoint"},
		{Time: at(3), Node: "node-b", Target: &w3, Phase: "done", Outcome: &cluster.HuntOutcome{Target: w3, Node: "node-b", Class: "checkpoint: refused",
			Error: "CRIU failed", Err: errors.New("CRIU failed")}},
		{Time: at(3), Node: "node-b", Target: &w4, Phase: "analyze"},
	}
}

func huntApp(t *testing.T, w, h int, run hunt.Runner) (*App, *hunt.Model) {
	a := New(Options{Keys: keys.Default(), NoColor: true, NoCluster: "test"})
	a.Update(tea.WindowSizeMsg{Width: w, Height: h})
	plan, _ := goldenHunt()
	m := hunt.New("g", hunt.Config{
		Plan: func(context.Context) (*cluster.HuntPlan, error) { return plan, nil },
		Run:  run,
		Confirm: func(p *cluster.HuntPlan, lines []string, yes func() tea.Cmd) tea.Cmd {
			return nav.Push(confirm.New("Hunt: checkpoint and analyse 4 containers on 2 nodes?", lines, yes, a.th, a.km))
		},
		Describe: []string{"", "YARA: planted.yar; patterns: none"},
	}, a.th, a.km)
	a.Update(pushPage(m))
	return a, m
}

// TestHuntGoldens: the plan's confirmation, then the table filling in (80x24 and 160x45).
func TestHuntGoldens(t *testing.T) {
	for _, sz := range []struct{ w, h int }{{80, 24}, {160, 45}} {
		suffix := "-" + itoa(sz.w) + "x" + itoa(sz.h)
		a, m := huntApp(t, sz.w, sz.h, nil)
		run(t, a, m.Init())
		golden(t, "hunt-confirm"+suffix, a.Render())
		require.IsType(t, &confirm.Model{}, a.Top())
		_, evs := goldenHunt()
		a.Update(nav.PopMsg{}) // answered later: the plan stays, enter asks again
		m.Update(hunt.StartMsg{ID: "other"})
		require.Equal(t, hunt.Planned, m.State())
		a.Update(hunt.StartMsg{ID: "g"}) // its Cmd (the runner) is not run: the events arrive as messages
		require.Equal(t, hunt.Running, m.State())
		a.Update(hunt.EventsMsg{ID: "g", Events: evs})
		golden(t, "hunt-live"+suffix, a.Render())
	}
}

// TestHuntInterruptsInsteadOfQuitting: while a hunt runs, ctrl+c and q anywhere cancel it
// (its cleanup runs) instead of quitting; once it has returned, q quits.
func TestHuntInterruptsInsteadOfQuitting(t *testing.T) {
	release := make(chan struct{})
	runner := func(ctx context.Context, p *cluster.HuntPlan, events func(cluster.HuntEvent)) (*cluster.HuntReport, error) {
		<-ctx.Done()
		<-release
		return &cluster.HuntReport{ID: "h", Interrupted: true}, ctx.Err()
	}
	a, m := huntApp(t, 100, 30, runner)
	a.Update(m.Init()()) // planned; the confirmation's Cmd is not run: StartMsg answers it
	_, start := m.Update(hunt.StartMsg{ID: "g"})
	require.Equal(t, hunt.Running, m.State())
	batch := start().(tea.BatchMsg)
	done := make(chan tea.Msg, 1)
	go func() { done <- batch[0]() }()

	_, q := a.Update(tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl})
	require.Equal(t, hunt.Cancelling, m.State(), "ctrl+c cancels the hunt")
	require.NotEqual(t, tea.QuitMsg{}, q())
	_, q = a.Update(press('q'))
	require.Equal(t, 2, a.Depth(), "still here while it cleans up")
	if q != nil {
		require.NotEqual(t, tea.QuitMsg{}, q())
	}
	// another view replaces it while it cleans up: quitting still waits
	a.reset(nav.Wrap(pods.New(fivePods(), "shop", false, nil, a.th, a.km)))
	_, q = a.Update(press('q'))
	require.Contains(t, q().(nav.StatusMsg).Text, "still cleaning up")
	close(release)
	<-done
	_, q = a.Update(press('q'))
	require.Equal(t, tea.QuitMsg{}, q())
}

// TestHuntRefusedReadonly: `:hunt` in --readonly is refused with the message every mutation
// gives, and nothing is planned.
func TestHuntRefusedReadonly(t *testing.T) {
	s := &ClusterSession{}
	p, cmd, err := s.View("hunt", "-n shop --image x@sha256:"+strings.Repeat("0", 64), theme.Plain(), keys.Default(), true)
	require.NoError(t, err)
	require.Nil(t, p)
	e := cmd().(nav.ErrMsg)
	require.ErrorIs(t, e.Err, pods.ErrReadonly)
	require.Equal(t, "hunt: refused: podsleuth runs read-only", e.Err.Error())
	require.Contains(t, e.Hint, "without --readonly")
}

func TestParseHuntArgs(t *testing.T) {
	img := "--image r/a@sha256:" + strings.Repeat("1", 64)
	a, err := ParseHuntArgs("-l app=web --pattern PLANTED --pull-on-match high "+img, "shop", 4)
	require.NoError(t, err)
	require.Equal(t, cluster.HuntSelection{Namespaces: []string{"shop"}, Selector: "app=web"}, a.Sel)
	require.Equal(t, forensics.SeverityHigh, *a.PullOnMatch)
	require.Equal(t, 4, a.Concurrency)
	a, err = ParseHuntArgs("-n web shop/w-1 w-2/app "+img, "default", 4)
	require.NoError(t, err)
	require.Equal(t, []string{"shop/w-1", "w-2/app"}, a.Sel.Pods)
	require.Equal(t, []string{"web"}, a.Sel.Namespaces)
	for _, bad := range []string{"-n shop", "-n shop --image r/a:latest", "-A shop/w " + img, "--pull-on-match sometimes " + img,
		"--memory 1Mi " + img, "--per-node 0 " + img, "--bogus " + img, "--pattern hex:zz " + img} {
		_, err := ParseHuntArgs(bad, "default", 4)
		require.Error(t, err, bad)
		require.True(t, strings.HasPrefix(err.Error(), ":hunt"), err.Error())
	}
}

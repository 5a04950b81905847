package acquire

import (
	"context"
	"errors"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/theme"
)

func TestETA(t *testing.T) {
	tests := []struct {
		p    Progress
		want string
	}{
		{Progress{Bytes: 0, Total: 100 << 20, Rate: 10 << 20}, "10s"},
		{Progress{Bytes: 50 << 20, Total: 100 << 20, Rate: 10 << 20}, "5s"},
		{Progress{Bytes: 100, Total: 100, Rate: 10}, ""},
		{Progress{Bytes: 1, Total: 0, Rate: 10}, ""},
		{Progress{Bytes: 1, Total: 10, Rate: 0}, ""},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, ETA(tt.p))
	}
}

// TestProgressAndCancel runs a runner that blocks until cancelled: progress updates render,
// esc cancels the context, the runner's cancellation reaches the view.
func TestProgressAndCancel(t *testing.T) {
	started := make(chan struct{})
	run := func(ctx context.Context, progress func(Progress)) (Result, error) {
		progress(Progress{Phase: "stream", Bytes: 25 << 20, Total: 100 << 20, Rate: 5 << 20, Elapsed: 3 * time.Second})
		close(started)
		<-ctx.Done()
		return Result{}, ctx.Err()
	}
	m := New("id1", "ns/pod/app", run, nil, theme.Plain(), keys.Default())
	m.SetSize(100, 20)
	batch := m.Init()().(tea.BatchMsg)
	done := make(chan tea.Msg, 1)
	go func() { done <- batch[0]() }()
	<-started
	pmsg := batch[1]()
	m, next := m.Update(pmsg)
	require.NotNil(t, next, "the progress wait is re-armed")
	v := ansi.Strip(m.View())
	require.Contains(t, v, "25.0 MiB of 100.0 MiB")
	require.Contains(t, v, "ETA 15s")
	require.Contains(t, v, "▸ stream")
	require.True(t, m.HandlesBack())
	require.True(t, m.Capturing(), "q must not quit while the collector may be running")
	_, qcmd := m.Update(tea.KeyPressMsg{Code: 'q', Text: "q"})
	require.Contains(t, qcmd().(nav.StatusMsg).Text, "esc cancels it")
	m, _ = m.Update(tea.KeyPressMsg{Code: tea.KeyEscape})
	msg := <-done
	m, cmd := m.Update(msg)
	require.False(t, m.Running())
	require.Contains(t, cmd().(nav.StatusMsg).Text, "cancelled")
	require.Contains(t, ansi.Strip(m.View()), "nothing was added to the evidence store")
}

func TestFailureShowsFix(t *testing.T) {
	run := func(context.Context, func(Progress)) (Result, error) {
		return Result{}, errors.New("checkpoint ns/pod/app on node n: feature disabled")
	}
	hint := func(error) string { return "enable the ContainerCheckpoint feature gate" }
	m := New("id2", "ns/pod/app", run, hint, theme.Plain(), keys.Default())
	m.SetSize(100, 20)
	batch := m.Init()().(tea.BatchMsg)
	m, cmd := m.Update(batch[0]())
	e := cmd().(nav.ErrMsg)
	require.Equal(t, "enable the ContainerCheckpoint feature gate", e.Hint)
	v := ansi.Strip(m.View())
	require.Contains(t, v, "failed: checkpoint ns/pod/app")
	require.Contains(t, v, "fix: enable the ContainerCheckpoint feature gate")
	require.Contains(t, v, "✗ checkpoint")
}

func TestSuccessReplacesWithCheckpoint(t *testing.T) {
	run := func(_ context.Context, p func(Progress)) (Result, error) {
		p(Progress{Phase: "done"})
		return Result{Path: "/store/x.tar", ID: "X1", Label: "ns/pod/app"}, nil
	}
	m := New("id3", "ns/pod/app", run, nil, theme.Plain(), keys.Default())
	batch := m.Init()().(tea.BatchMsg)
	_, cmd := m.Update(batch[0]())
	var open nav.OpenCheckpointMsg
	for _, c := range cmd().(tea.BatchMsg) {
		if o, ok := c().(nav.OpenCheckpointMsg); ok {
			open = o
		}
	}
	require.Equal(t, nav.OpenCheckpointMsg{Path: "/store/x.tar", Label: "ns/pod/app", Replace: true}, open)
}

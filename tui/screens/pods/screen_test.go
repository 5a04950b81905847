package pods

import (
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/tui/components/table"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/theme"
)

func TestAge(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"}, {42 * time.Second, "42s"}, {5 * time.Minute, "5m"}, {3 * time.Hour, "3h"},
		{47 * time.Hour, "47h"}, {49 * time.Hour, "2d"}, {400 * 24 * time.Hour, "400d"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) { require.Equal(t, tt.want, Age(tt.d)) })
	}
}

func TestRowsToneAndAgeSortKey(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	rows := Rows([]PodRow{
		{Namespace: "a", Name: "ok", Status: "Running", Created: now.Add(-2 * time.Hour)},
		{Namespace: "a", Name: "bad", Status: "CrashLoopBackOff", Created: now.Add(-5 * time.Minute)},
		{Namespace: "a", Name: "wait", Status: "Pending"},
		{Namespace: "a", Name: "done", Status: "Completed"},
	}, now)
	require.Equal(t, []table.Tone{table.Normal, table.Danger, table.Warn, table.Muted}, []table.Tone{rows[0].Tone, rows[1].Tone, rows[2].Tone, rows[3].Tone})
	require.Equal(t, "2h", rows[0].Cells[6])
	require.Equal(t, "7200", rows[0].Keys[6], "ages sort by seconds, not by text")
	require.Equal(t, "", rows[2].Cells[6], "no creation time, no age")
}

type src struct {
	rows []PodRow
	ch   chan struct{}
}

func (s *src) Snapshot() []PodRow       { return s.rows }
func (s *src) Changes() <-chan struct{} { return s.ch }

func TestLiveUpdatesKeepSelection(t *testing.T) {
	s := &src{ch: make(chan struct{}, 1), rows: []PodRow{{Namespace: "n", Name: "a"}, {Namespace: "n", Name: "b"}}}
	m := New(s, "n", false, nil, theme.Plain(), keys.Default())
	m.SetSize(80, 10)
	cmd := m.Init()
	require.NotNil(t, cmd)
	m, _ = m.Update(PodsMsg{Gen: 1, Rows: s.rows})
	m, _ = m.Update(tea.KeyPressMsg{Code: 'j', Text: "j"})
	r, _ := m.Table().Selected()
	require.Equal(t, "n/b", r.Key)
	// a change: the screen asks for a new snapshot and re-arms the wait
	m, cmd = m.Update(ChangedMsg{Gen: 1})
	require.NotNil(t, cmd)
	s.rows = append([]PodRow{{Namespace: "n", Name: "0-new"}}, s.rows...)
	m, _ = m.Update(PodsMsg{Gen: 1, Rows: s.rows})
	r, _ = m.Table().Selected()
	require.Equal(t, "n/b", r.Key, "the selection follows the pod")
	require.Equal(t, 3, m.Table().Len())
	// stale generations are dropped
	m, _ = m.Update(PodsMsg{Gen: 0, Rows: nil})
	require.Equal(t, 3, m.Table().Len())
	// other namespaces are not shown in a namespaced list
	m, _ = m.Update(PodsMsg{Gen: 1, Rows: append(s.rows, PodRow{Namespace: "other", Name: "x"})})
	require.Equal(t, 3, m.Table().Len())
	// a watch error with nothing to show explains itself
	_, cmd = m.Update(WatchEndedMsg{Gen: 1})
	require.IsType(t, nav.ErrMsg{}, cmd())
}

// TestNoCheckpointerIsReadonly: a list built without a Checkpointer refuses "c" as read-only,
// in words, and asks nothing.
func TestNoCheckpointerIsReadonly(t *testing.T) {
	s := &src{ch: make(chan struct{}), rows: []PodRow{{Namespace: "n", Name: "a", Containers: []string{"app"}}}}
	m := New(s, "", false, nil, theme.Plain(), keys.Default())
	m.SetSize(80, 10)
	m.Init()
	m, _ = m.Update(PodsMsg{Gen: 1, Rows: s.rows})
	m, cmd := m.Update(tea.KeyPressMsg{Code: 'c', Text: "c"})
	require.False(t, m.Capturing())
	msg := cmd().(nav.ErrMsg)
	require.ErrorIs(t, msg.Err, ErrReadonly)
	require.NotContains(t, ansi.Strip(m.View()), "Checkpoint n/a?")
}

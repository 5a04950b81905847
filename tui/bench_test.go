package tui

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/screens/pods"
)

// staticPods is a pods.Source with a fixed snapshot (benchmark input: 10,000 pods shaped like
// a large cluster's: 50 namespaces, 200 nodes, deployments with hashed names).
type staticPods struct {
	rows []pods.PodRow
	ch   chan struct{}
}

func (s *staticPods) Snapshot() []pods.PodRow  { return s.rows }
func (s *staticPods) Changes() <-chan struct{} { return s.ch }

func manyPods(n int) *staticPods {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	statuses := []string{"Running", "Running", "Running", "Running", "Pending", "CrashLoopBackOff", "Completed"}
	s := &staticPods{ch: make(chan struct{})}
	for i := range n {
		s.rows = append(s.rows, pods.PodRow{
			Namespace:  fmt.Sprintf("team-%02d", i%50),
			Name:       fmt.Sprintf("svc-%03d-7f9c%05x-%05x", i%300, i*7919%0xfffff, i),
			Ready:      "1/1",
			Status:     statuses[i%len(statuses)],
			Restarts:   i % 13,
			Node:       fmt.Sprintf("node-%03d", i%200),
			Created:    now.Add(-time.Duration(i) * time.Minute),
			Containers: []string{"app", "istio-proxy"},
			Labels:     map[string]string{"app": fmt.Sprintf("svc-%03d", i%300)},
		})
	}
	return s
}

// podsApp returns an App at w x h showing the pod list of src.
func podsApp(tb testing.TB, src pods.Source, w, h int) *App {
	a := New(Options{Keys: keys.Default(), NoColor: false, Theme: "dark"})
	a.Update(tea.WindowSizeMsg{Width: w, Height: h})
	p := pods.New(src, "", false, nil, a.th, a.km)
	a.Update(pushPage(p)) // runs p.Init (generation 1); its snapshot Cmd is replayed by hand below
	a.Update(pods.PodsMsg{Gen: 1, Rows: src.Snapshot(), Now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)})
	require.Equal(tb, 10000, p.Table().Total())
	return a
}

func press(r rune) tea.KeyPressMsg { return tea.KeyPressMsg{Code: r, Text: string(r)} }

// BenchmarkPodFilterKeystroke measures one filter keystroke to rendered frame (Update + View)
// on a 10,000-pod list at 120x40, typing "svc-12" and erasing it again.
func BenchmarkPodFilterKeystroke(b *testing.B) {
	src := manyPods(10000)
	a := podsApp(b, src, 120, 40)
	a.Update(press('/'))
	seq := []tea.KeyPressMsg{press('s'), press('v'), press('c'), press('-'), press('1'), press('2')}
	for range seq {
		seq = append(seq, tea.KeyPressMsg{Code: tea.KeyBackspace})
	}
	var durs []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := seq[i%len(seq)]
		t0 := time.Now()
		a.Update(k)
		_ = a.View()
		durs = append(durs, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Microseconds())/1000, "ms-median/keystroke")
	b.ReportMetric(float64(durs[len(durs)*99/100].Microseconds())/1000, "ms-p99/keystroke")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "MB-heap-inuse")
	b.ReportMetric(float64(ms.Sys)/(1<<20), "MB-sys")
	runtime.KeepAlive(a)
}

// TestPodFilterKeystrokeBudget checks the filter keeps 10,000 pods correct (not timed: the
// timing is the benchmark's job).
func TestPodFilterKeystrokeBudget(t *testing.T) {
	src := manyPods(10000)
	a := podsApp(t, src, 120, 40)
	for _, r := range "/svc-12" {
		a.Update(press(r))
	}
	p := a.Top().(*pods.Model)
	// the names containing "svc-12": svc-120..svc-129
	n := 0
	for i := range 10000 {
		if i%300 >= 120 && i%300 <= 129 {
			n++
		}
	}
	require.Equal(t, n, p.Table().Len())
	require.Contains(t, a.Render(), "of 10000")
}

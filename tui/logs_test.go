package tui

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLogFollower: lines arrive as the stream sends them, each batch signalled; only the last
// max lines are kept, numbered from the start of the stream; the end of the log is said, and a
// stream that cannot open is the loader's error.
func TestLogFollower(t *testing.T) {
	pr, pw := io.Pipe()
	f := &logFollower{ch: make(chan struct{}, 1), max: 3}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.follow(ctx, func(context.Context) (io.ReadCloser, error) { return pr, nil })
	wait := func() {
		select {
		case <-f.ch:
		case <-time.After(5 * time.Second):
			t.Fatal("no signal")
		}
	}
	cells := func() []string {
		rows, err := f.rows(ctx)
		require.NoError(t, err)
		var out []string
		for _, r := range rows {
			out = append(out, r.Key+" "+r.Cells[0])
		}
		return out
	}
	_, _ = io.WriteString(pw, "one\n")
	wait()
	require.Equal(t, []string{"1 one"}, cells())
	_, _ = io.WriteString(pw, "two\nthree\nfour\nfive\n")
	require.Eventually(t, func() bool { return len(cells()) == 3 && cells()[2] == "5 five" }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"3 three", "4 four", "5 five"}, cells(), "the last max lines, numbered from the start")
	pw.Close()
	require.Eventually(t, func() bool { c := cells(); return len(c) == 4 && strings.Contains(c[3], "the log ended") }, 5*time.Second, 10*time.Millisecond)

	g := &logFollower{ch: make(chan struct{}, 1), max: 3}
	g.follow(ctx, func(context.Context) (io.ReadCloser, error) { return nil, errors.New("permission denied: pods/log") })
	_, err := g.rows(ctx)
	require.ErrorContains(t, err, "permission denied: pods/log")
	_, open := <-g.ch
	_, open = <-g.ch
	require.False(t, open, "the change channel is closed: updates end")
}

package render

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
)

func TestProcessTreeCycle(t *testing.T) {
	cp := &forensics.Checkpoint{Processes: []forensics.Process{
		{PID: 2, PPID: 3, Comm: "a", Children: []int{3}},
		{PID: 3, PPID: 2, Comm: "b", Children: []int{2}},
	}}
	var b strings.Builder
	require.NoError(t, Text(context.Background(), &b, cp, Sections{PSTree: true}))
	require.Contains(t, b.String(), "[2]  a")
	require.Contains(t, b.String(), "[3]  b")
	require.Equal(t, 1, strings.Count(b.String(), "[2]  a"), "each process once")
}

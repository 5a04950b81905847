package diff

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
)

// TestWriteTextHostileNames: a process or file name from the workload cannot put an escape
// sequence or a line of its own into the text diff.
func TestWriteTextHostileNames(t *testing.T) {
	const evil = "kworker\x1b]0;owned\x07\nfake line"
	r := &Result{A: "a.tar", B: "b.tar",
		ProcessesAdded: []ProcessRef{{PID: 9, Comm: evil, Exe: "/tmp/" + evil, Cmdline: []string{evil}}},
		RootfsAdded:    []forensics.RootfsChange{{Path: "/tmp/" + evil, Kind: "added"}},
	}
	var b bytes.Buffer
	require.NoError(t, WriteText(&b, r))
	out := b.String()
	require.NotContains(t, out, "\x1b")
	require.NotContains(t, out, "\x07")
	require.Contains(t, out, `kworker\x1b]0;owned\a\nfake line`)
	for _, l := range strings.Split(out, "\n") {
		require.False(t, strings.HasPrefix(l, "fake line"), "no line of the attacker's: %q", l)
	}
}

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/memory"
)

// TestTextOutputsEscapeHostileNames: findings, indicators and memory hits quote the workload's
// names: no escape sequence and no line of the attacker's reaches the terminal.
func TestTextOutputsEscapeHostileNames(t *testing.T) {
	const evil = "x\x1b[2J\x1b]52;c;ZXZpbA==\x07\nFAKE"
	loc := forensics.Location{Kind: "memory", PID: 7, Comm: evil, Path: "/tmp/" + evil}
	var b bytes.Buffer
	require.NoError(t, printFindings(&b, []forensics.Finding{{Rule: "r", Title: evil, Reason: evil, Location: loc}}))
	require.NoError(t, printIOCs(&b, []forensics.IOC{{Type: "url", Value: "http://" + evil, Count: 1, Where: []forensics.Location{loc}}}))
	b.WriteString(hitLine(memory.Hit{PID: 7, Comm: evil, Region: "/tmp/" + evil, Match: []byte(evil)}))
	out := b.String()
	require.NotContains(t, out, "\x1b")
	require.NotContains(t, out, "\x07")
	for _, l := range strings.Split(out, "\n") {
		require.False(t, strings.HasPrefix(l, "FAKE"), "no line of the attacker's: %q", l)
	}
	require.Contains(t, out, `x\x1b[2J\x1b]52;c;ZXZpbA==\a\nFAKE`)
}

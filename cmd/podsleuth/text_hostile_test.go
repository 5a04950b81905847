package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/evidence"
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

// TestEvidenceListAndShowEscapeHostileFields: archive names, case ids, sources and custody
// fields of an item (an imported bundle's manifest and log are written elsewhere) are printed
// through forensics.Printable by `evidence list` and `evidence show`.
func TestEvidenceListAndShowEscapeHostileFields(t *testing.T) {
	const evil = "x\x1b]0;pwned\x07\u202e\nFAKE"
	it := evidence.Item{ID: "20261123T190001Z-0123456789ab", Archive: "/store/" + evil,
		Manifest: evidence.Manifest{ArchiveName: evil, CaseID: evil, SourcePath: "/tmp/" + evil, LocalSHA256: "ab",
			Analyst: evil, Notes: evil, Namespace: evil, Pod: evil, Node: evil}}
	evs := []evidence.Event{{Action: evil, Actor: evil, Details: map[string]string{evil: evil}}}
	var b bytes.Buffer
	require.NoError(t, printItems(&b, []evidence.Item{it}))
	require.NoError(t, printItem(&b, &it, evs))
	out := b.String()
	for _, c := range []string{"\x1b", "\x07", "\u202e"} {
		require.NotContains(t, out, c)
	}
	for _, l := range strings.Split(out, "\n") {
		require.False(t, strings.HasPrefix(l, "FAKE"), "no line of the attacker's: %q", l)
	}
	require.Contains(t, out, `x\x1b]0;pwned\a\u202e\nFAKE`)
}

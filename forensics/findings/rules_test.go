package findings

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var updateDoc = flag.Bool("update", false, "rewrite docs/rules.md")

// RulesMarkdown renders the rule table of docs/rules.md.
func rulesMarkdown() string {
	var b strings.Builder
	b.WriteString("# Detection rules\n\n")
	b.WriteString("Every finding podsleuth reports comes from one of these rules (`podsleuth findings --list-rules`\n")
	b.WriteString("prints the same table). The minimum severity is the lowest a rule reports with; context raises it\n")
	b.WriteString("as the condition says. Generated from `forensics/findings/rules.go` (`go test ./forensics/findings -run TestRulesDoc -update`).\n\n")
	b.WriteString("| rule | min severity | ATT&CK | condition |\n|---|---|---|---|\n")
	for _, r := range Rules {
		t := "-"
		if r.Technique != "" {
			t = fmt.Sprintf("[%s](https://attack.mitre.org/techniques/%s/) %s", r.Technique, strings.ReplaceAll(r.Technique, ".", "/"), r.TechniqueName)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.ID, r.MinSeverity, t, strings.ReplaceAll(r.Condition, "|", "\\|"))
	}
	return b.String()
}

// TestRulesDoc: docs/rules.md is the rule table as the code defines it; every rule id is unique,
// every technique is a well-formed ATT&CK id, and every rule constant is in the table.
func TestRulesDoc(t *testing.T) {
	seen := map[string]bool{}
	re := regexp.MustCompile(`^T\d{4}(\.\d{3})?$`)
	for _, r := range Rules {
		require.False(t, seen[r.ID], "rule %s listed twice", r.ID)
		seen[r.ID] = true
		require.True(t, r.Technique == "" || re.MatchString(r.Technique), r.Technique)
		require.NotEmpty(t, r.Condition)
	}
	for _, id := range []string{RuleAnonRWX, RuleAnonExec, RuleExecMemfd, RuleExecDeleted, RuleDeletedExe, RuleOpenDeleted,
		RuleArgv0Mismatch, RuleFakeKernelThr, RuleRootfsNewExec, RuleListener, RuleOutbound, RuleLoopbackConnect, RuleMemoryIndex,
		RuleFileless, RuleAnonELF, RuleReverseShell, RuleBindShell, RuleCommMismatch, RuleKernelThreadTID, RuleExecFromTemp,
		RuleSystemCopy, RuleMiningPool, RuleMiningStratum, RuleMiningWallet, RuleAccountUID0, RuleAccountNoPass, RuleSudoers,
		RuleCron, RuleAuthorizedKeys, RuleLDPreload, RuleShellRC, RuleRootfsDeleted} {
		require.True(t, seen[id], "rule %s is not in Rules", id)
	}
	p := filepath.Join("..", "..", "docs", "rules.md")
	if *updateDoc {
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(rulesMarkdown()), 0o644))
	}
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, rulesMarkdown(), string(b), "docs/rules.md is stale: go test ./forensics/findings -run TestRulesDoc -update")
}

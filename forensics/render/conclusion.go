package render

import (
	"fmt"
	"strings"

	"github.com/podsleuth/podsleuth/forensics/analysis"
)

// ConclusionLines renders the analysis's conclusion as plain text lines: the verdict, why,
// what happened (one line per ATT&CK technique and one per finding in it) and what to do next
// (each action with its targets and commands). The CLI's `findings` and the TUI's Summary
// show these lines; the strings are terminal-safe already (analysis.Conclude).
func ConclusionLines(c *analysis.Conclusion) []string {
	if c == nil {
		return nil
	}
	l := []string{
		fmt.Sprintf("Conclusion: %s (%s severity, %s confidence)", strings.ToUpper(c.Verdict), c.Severity, c.Confidence),
		"  why:  " + c.Reason,
	}
	if len(c.Stages) > 0 {
		l = append(l, "  what happened:")
		for _, st := range c.Stages {
			t := st.Tactic
			if st.Technique != "" {
				t += " — " + st.Technique
				if st.TechniqueName != "" {
					t += " " + st.TechniqueName
				}
			}
			l = append(l, fmt.Sprintf("    %s [%s]", t, st.Severity))
			for _, it := range st.Items {
				l = append(l, "      - "+it.Text)
			}
			if st.More > 0 {
				l = append(l, fmt.Sprintf("      - and %d more", st.More))
			}
		}
	}
	if len(c.Exposure) > 0 {
		l = append(l, "  exposed credentials: "+strings.Join(c.Exposure, ", "))
	}
	if len(c.Actions) > 0 {
		l = append(l, "  what next:")
		for i, a := range c.Actions {
			l = append(l, fmt.Sprintf("    %d. [%s] %s", i+1, a.Kind, a.Text))
			if len(a.Targets) > 0 {
				l = append(l, "       "+strings.Join(a.Targets, ", "))
			}
			for _, cmd := range a.Commands {
				l = append(l, "       $ "+cmd)
			}
		}
	}
	if c.Context > 0 {
		l = append(l, fmt.Sprintf("  %d context finding(s) (low, informational, listeners, exposure) are in the findings list, not in the story.", c.Context))
	}
	return l
}

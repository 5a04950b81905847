package checkpoint

import (
	"fmt"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// ConclusionLines renders the analysis's conclusion for the top of the Summary tab, one line
// per idea (the frame cuts what is wider than the screen): the verdict and why, what happened
// per ATT&CK technique (how many findings, which processes; the findings follow below and on
// the Findings tab), and the next steps with their targets. The full text, with the commands,
// is in `podsleuth findings` and the report.
func ConclusionLines(c *analysis.Conclusion, th theme.Theme) []string {
	if c == nil {
		return nil
	}
	st := th.Muted
	switch {
	case c.Severity >= forensics.SeverityHigh:
		st = th.Danger
	case c.Severity == forensics.SeverityMedium:
		st = th.Warning
	}
	l := []string{
		th.Title.Render("Conclusion: ") + st.Render(strings.ToUpper(c.Verdict)) +
			fmt.Sprintf(" — %s severity, %s confidence", c.Severity, c.Confidence),
		"  " + c.Reason,
	}
	for _, s := range c.Stages {
		t := s.Tactic
		if s.Technique != "" {
			t += " · " + s.Technique + " " + s.TechniqueName
		}
		var ps []string
		for _, p := range s.Processes {
			ps = append(ps, p.String())
		}
		line := fmt.Sprintf("  %s %s (%d)", st.Render("▸"), t, len(s.Items)+s.More)
		if len(ps) > 0 {
			line += ": " + strings.Join(ps, ", ")
		}
		l = append(l, line)
	}
	if len(c.Actions) > 0 {
		l = append(l, th.Title.Render("  What next"))
		for i, a := range c.Actions {
			line := fmt.Sprintf("  %d. %s", i+1, a.Kind)
			if len(a.Targets) > 0 {
				line += ": " + strings.Join(a.Targets, ", ")
			}
			l = append(l, line)
		}
	}
	return append(l, "")
}

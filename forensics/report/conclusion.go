package report

import (
	"fmt"
	"strings"

	"github.com/podsleuth/podsleuth/forensics/analysis"
)

// Conclusion is the analysis's conclusion of one piece of evidence (analysis.Conclude: what
// happened, how bad, what next), which the report opens with.
type Conclusion struct {
	Evidence string `json:"evidence"`
	*analysis.Conclusion
}

// conclusionOf is the conclusion of one input: the analysis's own when the input carries it,
// else drawn the same way from the input's findings and indicators (Conclude is deterministic),
// naming the store item. Free text goes through the report's redaction like the findings.
func conclusionOf(in Input, id string, x Redactor) Conclusion {
	c := in.Conclusion
	if c == nil {
		o := analysis.ConcludeOptions{MemoryScanned: in.MemoryScanned || in.IOCs != nil}
		if in.Store != nil {
			o.EvidenceID = in.Store.ID
		}
		c = analysis.Conclude(in.Checkpoint, in.Checkpoint.Findings, in.IOCs, o)
	}
	r := *c
	r.Reason, r.Summary = x.Text(r.Reason), x.Text(r.Summary)
	r.Stages = make([]analysis.Stage, len(c.Stages))
	for i, s := range c.Stages {
		s.Items = append([]analysis.StageItem(nil), s.Items...)
		for j := range s.Items {
			s.Items[j].Text = x.Text(s.Items[j].Text)
		}
		s.Objects = texts(x, s.Objects)
		r.Stages[i] = s
	}
	r.Actions = make([]analysis.Action, len(c.Actions))
	for i, a := range c.Actions {
		a.Text, a.Targets, a.Commands = x.Text(a.Text), texts(x, a.Targets), texts(x, a.Commands)
		r.Actions[i] = a
	}
	return Conclusion{Evidence: id, Conclusion: &r}
}

// texts redacts each string of a list (a copy).
func texts(x Redactor, in []string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = x.Text(s)
	}
	return out
}

// conclusions writes the report's opening section: per evidence, the verdict and why, what
// happened by ATT&CK tactic, and the numbered next steps with their commands.
func (m *mdWriter) conclusions(r *Report) {
	m.heading(2, "Conclusion")
	for _, c := range r.Conclusions {
		if len(r.Conclusions) > 1 {
			m.heading(3, c.Evidence)
		}
		m.linef("**%s** — %s severity, %s confidence.", md(strings.ToUpper(c.Verdict)), md(c.Severity.String()), md(c.Confidence))
		m.line("")
		m.line(md(c.Summary))
		m.line("")
		m.line("*Why:* " + md(c.Reason))
		m.line("")
		if len(c.Stages) > 0 {
			m.line("**What happened** (by ATT&CK tactic; processes in PID order, the order they were created in):")
			m.line("")
			for _, s := range c.Stages {
				t := md(s.Tactic)
				if s.Technique != "" {
					t += " — " + code(s.Technique) + " " + md(s.TechniqueName)
				}
				m.linef("- %s (%s)", t, sevBadge(s.Severity.String()))
				for _, it := range s.Items {
					m.linef("  - %s (%s)", md(it.Text), code(it.Rule))
				}
				if s.More > 0 {
					m.linef("  - and %d more (see Findings)", s.More)
				}
			}
			m.line("")
		}
		if len(c.Exposure) > 0 {
			m.line("**Exposed credentials:** " + md(strings.Join(c.Exposure, ", ")))
			m.line("")
		}
		if len(c.Actions) > 0 {
			m.line("**What next:**")
			m.line("")
			for i, a := range c.Actions {
				s := fmt.Sprintf("%d. **%s** — %s", i+1, md(a.Kind), md(a.Text))
				if len(a.Targets) > 0 {
					s += " " + md(strings.Join(a.Targets, ", "))
				}
				m.line(s)
				for _, cmd := range a.Commands {
					m.line("   - " + code(cmd))
				}
			}
			m.line("")
		}
	}
}

package analysis

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/findings"
)

// Verdicts of a Conclusion.
const (
	VerdictCompromised       = "compromised"
	VerdictLikelyCompromised = "likely compromised"
	VerdictSuspicious        = "suspicious"
	VerdictNoAttack          = "no attack behaviour found"
)

// Conclusion is the analysis's answer to a responder's three questions, computed from the
// findings and indicators alone (no language model, no randomness: the same Result gives the
// same text): what happened (Stages, grouped by ATT&CK tactic and technique, with the
// processes and objects involved), how bad (Verdict, Severity, Confidence and the Reason for
// them) and what to do next (Actions drawn from the findings, with the podsleuth command that
// reaches each piece of evidence). Every string is terminal-safe (forensics.Printable), and
// the lists are bounded whatever the number of findings.
type Conclusion struct {
	Verdict    string             `json:"verdict"`
	Severity   forensics.Severity `json:"severity"`
	Confidence string             `json:"confidence"`
	// Reason says why this severity and confidence.
	Reason string `json:"reason"`
	// Summary is the one-paragraph answer shown first.
	Summary string `json:"summary"`
	// Stages is what happened, in kill-chain order (tactics), each technique once.
	Stages []Stage `json:"stages"`
	// Exposure names the credentials the checkpoint holds (never their values).
	Exposure []string `json:"exposure,omitempty"`
	// Context counts the findings left out of the stages: low or informational ones and
	// context rules (listening sockets, loopback connections, network indicator summaries).
	Context int `json:"context_findings"`
	// Actions is what to do next, most urgent first.
	Actions []Action `json:"actions"`
}

// Stage is one ATT&CK technique seen in the checkpoint.
type Stage struct {
	Tactic        string             `json:"tactic"`
	Technique     string             `json:"technique,omitempty"`
	TechniqueName string             `json:"technique_name,omitempty"`
	Severity      forensics.Severity `json:"severity"`
	// Items are the findings of this technique, one line each ("Reverse shell: pid 12 (sh)
	// tcp 10.0.0.2:40000 -> 203.0.113.9:4444"); at most maxItems, More counts the rest.
	Items []StageItem `json:"items"`
	More  int         `json:"more,omitempty"`
	// Processes and Objects are everything this stage involves, sorted (PIDs in creation
	// order within the container's PID namespace).
	Processes []ProcessRef `json:"processes,omitempty"`
	Objects   []string     `json:"objects,omitempty"`

	procs map[int]ProcessRef
	objs  set
}

// StageItem is one finding in a stage.
type StageItem struct {
	Rule     string             `json:"rule"`
	Severity forensics.Severity `json:"severity"`
	Text     string             `json:"text"`
}

// ProcessRef names a process involved in a stage.
type ProcessRef struct {
	PID  int    `json:"pid"`
	Comm string `json:"comm,omitempty"`
	Exe  string `json:"exe,omitempty"`
}

func (p ProcessRef) String() string {
	if p.Comm == "" {
		return fmt.Sprintf("pid %d", p.PID)
	}
	return fmt.Sprintf("pid %d (%s)", p.PID, p.Comm)
}

// Action is one thing to do next.
type Action struct {
	// Kind is "isolate", "block", "trace-peer", "rotate-credentials", "preserve-evidence",
	// "extract", "rebuild", "revoke-token", "cordon-node" or "hunt".
	Kind string `json:"kind"`
	Text string `json:"text"`
	// Targets are what the action is about (endpoints, credential names, paths, digests).
	Targets []string `json:"targets,omitempty"`
	// Commands reach the evidence or carry the action out.
	Commands []string `json:"commands,omitempty"`
}

// ConcludeOptions give the conclusion what the findings do not hold.
type ConcludeOptions struct {
	// EvidenceID is the evidence store item analysed ("" when opened by path): commands refer
	// to it, and the preservation action names it.
	EvidenceID string
	// MemoryScanned says whether process memory was analysed (a conclusion without it says
	// so: memory findings could not fire).
	MemoryScanned bool
}

// Bounds keep a conclusion small whatever the input (a rule that matches everywhere).
const (
	maxItems   = 6
	maxObjects = 8
	maxProcs   = 8
	maxTargets = 10
)

// contextRules are rules that describe the container rather than an attacker's behaviour:
// they never make a stage nor raise the verdict.
var contextRules = map[string]bool{
	findings.RuleListener: true, findings.RuleLoopbackConnect: true, findings.RuleNetworkIndicators: true,
	findings.RuleMemoryIndex: true, findings.RuleSecretExposed: true, findings.RuleOutbound: true,
}

// tactics maps ATT&CK technique ids (without sub-technique) to the tactic the rules use them
// for; killChain orders the tactics.
var tactics = map[string]string{
	"T1059": "Execution", "T1053": "Persistence", "T1136": "Persistence", "T1098": "Persistence",
	"T1574": "Persistence", "T1546": "Persistence", "T1548": "Privilege Escalation",
	"T1055": "Defense Evasion", "T1620": "Defense Evasion", "T1070": "Defense Evasion", "T1036": "Defense Evasion",
	"T1027": "Defense Evasion", "T1552": "Credential Access", "T1105": "Command and Control",
	"T1071": "Command and Control", "T1090": "Command and Control", "T1496": "Impact", "T1485": "Impact",
	"T1486": "Impact",
}

var killChain = []string{"Initial Access", "Execution", "Persistence", "Privilege Escalation", "Defense Evasion",
	"Credential Access", "Discovery", "Lateral Movement", "Collection", "Command and Control", "Exfiltration",
	"Impact", "Other"}

// TacticOf is the ATT&CK tactic the rules use a technique for ("Impact" for T1496, "Other"
// for a technique no rule maps): the stages of a conclusion and the kill chain phases of the
// STIX export.
func TacticOf(technique string) string { return tacticOf(technique) }

func tacticOf(technique string) string {
	id, _, _ := strings.Cut(technique, ".")
	return cmp.Or(tactics[id], "Other")
}

// decisive rules leave little room for a benign explanation when they fire at high or above.
var decisive = map[string]bool{
	findings.RuleReverseShell: true, findings.RuleBindShell: true, findings.RuleAnonELF: true,
	findings.RuleFileless: true, findings.RuleExecMemfd: true, findings.RuleMiningStratum: true,
	findings.RuleMiningPool: true, findings.RuleAccountUID0: true, findings.RuleLDPreload: true,
	findings.RuleAnonRWX: true, findings.RuleKernelThreadTID: true, findings.RuleFakeKernelThr: true,
}

// attack says whether a finding is attacker behaviour that makes a stage.
func attack(f *forensics.Finding) bool {
	return f.Severity >= forensics.SeverityMedium && !contextRules[f.Rule]
}

// Conclude draws the conclusion of a checkpoint's findings (as Run sorted them) and indicators.
// It reads cp for names (processes, container, image, mounts) and never changes anything.
func Conclude(cp *forensics.Checkpoint, fs []forensics.Finding, iocs []forensics.IOC, o ConcludeOptions) *Conclusion {
	c := &Conclusion{Stages: []Stage{}, Actions: []Action{}}
	type key struct{ tactic, technique string }
	idx := map[key]int{}
	var atk []*forensics.Finding
	for i := range fs {
		f := &fs[i]
		if !attack(f) {
			c.Context++
			continue
		}
		atk = append(atk, f)
		k := key{tacticOf(f.Technique), f.Technique}
		j, ok := idx[k]
		if !ok {
			j = len(c.Stages)
			idx[k] = j
			st := Stage{Tactic: k.tactic, Technique: f.Technique, Items: []StageItem{}}
			if r, ok := findings.RuleByID(f.Rule); ok && r.Technique == f.Technique {
				st.TechniqueName = r.TechniqueName
			}
			c.Stages = append(c.Stages, st)
		}
		c.Stages[j].add(cp, f)
	}
	for i := range c.Stages {
		c.Stages[i].finish()
	}
	slices.SortStableFunc(c.Stages, func(a, b Stage) int {
		return cmp.Or(cmp.Compare(slices.Index(killChain, a.Tactic), slices.Index(killChain, b.Tactic)),
			cmp.Compare(b.Severity, a.Severity), strings.Compare(a.Technique, b.Technique))
	})
	c.Exposure = exposure(iocs)
	c.judge(atk, o)
	c.Actions = actions(cp, fs, atk, iocs, c, o)
	c.Summary = c.summary()
	return c
}

func (s *Stage) add(cp *forensics.Checkpoint, f *forensics.Finding) {
	s.Severity = max(s.Severity, f.Severity)
	if len(s.Items) < maxItems {
		s.Items = append(s.Items, StageItem{Rule: f.Rule, Severity: f.Severity, Text: forensics.Printable(itemText(f))})
	} else {
		s.More++
	}
	if s.procs == nil {
		s.procs, s.objs = map[int]ProcessRef{}, set{}
	}
	if l := f.Location; l.PID != 0 {
		if _, ok := s.procs[l.PID]; !ok {
			ref := ProcessRef{PID: l.PID, Comm: forensics.Printable(l.Comm)}
			if p := cp.Process(l.PID); p != nil {
				ref.Comm, ref.Exe = forensics.Printable(p.Comm), forensics.Printable(p.Exe)
			}
			s.procs[l.PID] = ref
		}
	}
	if obj := object(f.Location); obj != "" {
		s.objs.add(obj)
	}
}

func (s *Stage) finish() {
	for _, p := range s.procs {
		s.Processes = append(s.Processes, p)
	}
	slices.SortFunc(s.Processes, func(a, b ProcessRef) int { return cmp.Compare(a.PID, b.PID) })
	s.Processes = s.Processes[:min(len(s.Processes), maxProcs)]
	s.Objects = s.objs.sorted()
	s.Objects = s.Objects[:min(len(s.Objects), maxObjects)]
	s.procs, s.objs = nil, nil
}

// set collects strings once each; sorted lists them.
type set map[string]bool

func (s set) add(v ...string) {
	for _, x := range v {
		s[x] = true
	}
}

func (s set) sorted() []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// itemText is a finding in one line: its title and place, and for findings about a value
// rather than an object (a wallet, a pool URL) the value, from the start of the reason.
func itemText(f *forensics.Finding) string {
	t := f.Title + ": " + where(f.Location)
	if object(f.Location) == "" && f.Reason != "" {
		v, _, _ := strings.Cut(f.Reason, " (")
		v, _, _ = strings.Cut(v, ": ")
		if len(v) > 120 {
			v = v[:120] + "…"
		}
		t += " — " + v
	}
	return t
}

// object names the thing a finding is about: a path, a socket, a memory range.
func object(l forensics.Location) string {
	switch {
	case l.Socket != "":
		return forensics.Printable(l.Socket)
	case l.Path != "":
		return forensics.Printable(l.Path)
	case l.Start != 0 || l.End != 0:
		return fmt.Sprintf("pid %d 0x%x-0x%x", l.PID, l.Start, l.End)
	}
	return ""
}

// where is a finding's place in a few words.
func where(l forensics.Location) string {
	var s []string
	if l.PID != 0 {
		s = append(s, fmt.Sprintf("pid %d", l.PID))
		if l.Comm != "" {
			s[0] += " (" + l.Comm + ")"
		}
	}
	if l.TID != 0 {
		s = append(s, fmt.Sprintf("thread %d", l.TID))
	}
	if l.FD != 0 || l.Kind == "socket" && l.PID != 0 && l.Socket != "" {
		s = append(s, fmt.Sprintf("fd %d", l.FD))
	}
	if o := object(l); o != "" && !strings.HasPrefix(o, "pid ") {
		s = append(s, o)
	} else if o != "" {
		s = append(s, strings.TrimPrefix(o, fmt.Sprintf("pid %d ", l.PID)))
	}
	if len(s) == 0 {
		return l.Kind
	}
	return strings.Join(s, " ")
}

// judge sets the verdict, severity, confidence and the reason for them.
func (c *Conclusion) judge(atk []*forensics.Finding, o ConcludeOptions) {
	var caveat string
	if !o.MemoryScanned {
		caveat = " Process memory was not analysed: the memory rules (injected code, fileless images, secrets and addresses in memory) could not fire."
	}
	if len(atk) == 0 {
		c.Verdict, c.Severity, c.Confidence = VerdictNoAttack, forensics.SeverityInfo, "medium"
		if !o.MemoryScanned {
			c.Confidence = "low"
		}
		c.Reason = fmt.Sprintf("No rule found attacker behaviour at medium severity or above (%d rules ran; %d findings are context, listed under findings).%s",
			len(findings.Rules), c.Context, caveat)
		return
	}
	top := atk[0] // findings are most severe first
	rules := map[string]bool{}
	strong := map[string]bool{} // tactics with a high or critical finding
	decisiveHit := false
	for _, f := range atk {
		c.Severity = max(c.Severity, f.Severity)
		rules[f.Rule] = true
		if f.Severity >= forensics.SeverityHigh {
			strong[tacticOf(f.Technique)] = true
			if decisive[f.Rule] {
				decisiveHit = true
			}
		}
	}
	var tacs []string
	for _, t := range killChain {
		if strong[t] {
			tacs = append(tacs, t)
		}
	}
	var conf string
	switch {
	case len(strong) >= 2 || decisiveHit && len(rules) >= 2:
		c.Confidence = "high"
		conf = fmt.Sprintf("high confidence: %d findings of %d rules agree", len(atk), len(rules))
		if len(tacs) > 0 {
			conf += fmt.Sprintf(", with high or critical findings in %d ATT&CK tactic(s) (%s)", len(tacs), strings.Join(tacs, ", "))
		}
	case c.Severity >= forensics.SeverityHigh:
		c.Confidence = "medium"
		conf = fmt.Sprintf("medium confidence: only %s fired at high or above, and nothing else corroborates it", strings.Join(sortedKeys(rules), ", "))
	default:
		c.Confidence = "low"
		conf = "low confidence: only medium-severity findings, each of which a legitimate workload can explain"
	}
	switch {
	case c.Severity >= forensics.SeverityHigh && c.Confidence == "high":
		c.Verdict = VerdictCompromised
	case c.Severity >= forensics.SeverityHigh:
		c.Verdict = VerdictLikelyCompromised
	default:
		c.Verdict = VerdictSuspicious
	}
	c.Reason = forensics.Printable(fmt.Sprintf("%s: %s (%s, %s); %s.%s", c.Severity, top.Title, top.Rule, where(top.Location), conf, caveat))
}

// summary is the paragraph shown first: what each tactic's findings are and which processes
// they involve, in kill-chain order.
func (c *Conclusion) summary() string {
	if len(c.Stages) == 0 {
		s := "No attacker behaviour was found."
		if len(c.Exposure) > 0 {
			s += fmt.Sprintf(" The checkpoint holds %d credential(s) (%s): whoever holds the archive holds them.", len(c.Exposure), strings.Join(c.Exposure, ", "))
		}
		return s
	}
	var parts []string
	for i := 0; i < len(c.Stages); {
		tactic := c.Stages[i].Tactic
		what, procs := set{}, map[int]string{}
		var order []string
		for ; i < len(c.Stages) && c.Stages[i].Tactic == tactic; i++ {
			for _, it := range c.Stages[i].Items {
				t, _, _ := strings.Cut(it.Text, ":")
				if t != "" && t[0] >= 'A' && t[0] <= 'Z' {
					t = string(t[0]+'a'-'A') + t[1:]
				}
				if !what[t] {
					what.add(t)
					order = append(order, t)
				}
			}
			for _, p := range c.Stages[i].Processes {
				procs[p.PID] = p.String()
			}
		}
		pids := make([]int, 0, len(procs))
		for pid := range procs {
			pids = append(pids, pid)
		}
		slices.Sort(pids)
		var ps []string
		for _, pid := range pids[:min(len(pids), maxProcs)] {
			ps = append(ps, procs[pid])
		}
		p := fmt.Sprintf("%s: %s", tactic, strings.Join(order, "; "))
		if len(ps) > 0 {
			p += " (" + strings.Join(ps, ", ") + ")"
		}
		parts = append(parts, p)
	}
	return forensics.Printable(strings.Join(parts, ". ") + ".")
}

// exposure names the secret indicators: the variable name of an environment secret, else the
// type and a hash prefix; never a value (the TUI's analysis keeps values unredacted).
func exposure(iocs []forensics.IOC) []string {
	var out []string
	for _, i := range iocs {
		if !i.Secret {
			continue
		}
		name := ""
		if i.Type == "env-secret" {
			if n, _, ok := strings.Cut(i.Value, "="); ok {
				name = n
			}
		}
		if name == "" {
			h := i.SHA256
			if len(h) > 8 {
				h = h[:8]
			}
			name = fmt.Sprintf("%s sha256:%s", i.Type, h)
		}
		name = forensics.Printable(name)
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	if len(out) > maxTargets {
		out = append(out[:maxTargets], fmt.Sprintf("and %d more", len(out)-maxTargets))
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

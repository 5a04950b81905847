package report

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/findings"
	"github.com/podsleuth/podsleuth/forensics/ioc"
)

// MISP is the report as one MISP event (the MISP core format: {"Event": {...}}), for MISP's
// "Add event from JSON" import: the indicators as attributes (to_ids for the network ones and
// wallets), the executables, connections and exposed credentials' names as context attributes,
// the ATT&CK techniques of the findings as mitre-attack-pattern galaxy tags, the verdict and
// tlp:amber as event tags. Redacted secrets are left out (a mask matches nothing); with --reveal
// they are text attributes, never to_ids. The event and attribute UUIDs are reproducible, as in
// the STIX export.
const MISP Format = "misp"

type mispEvent struct {
	UUID          string          `json:"uuid"`
	Info          string          `json:"info"`
	Date          string          `json:"date"`
	Timestamp     string          `json:"timestamp"`
	ThreatLevelID string          `json:"threat_level_id"`
	Analysis      string          `json:"analysis"`
	Distribution  string          `json:"distribution"`
	Published     bool            `json:"published"`
	Orgc          mispOrg         `json:"Orgc"`
	Tag           []mispTag       `json:"Tag"`
	Attribute     []mispAttribute `json:"Attribute"`
}

type mispOrg struct {
	Name string `json:"name"`
}

type mispTag struct {
	Name string `json:"name"`
}

type mispAttribute struct {
	UUID         string    `json:"uuid"`
	Type         string    `json:"type"`
	Category     string    `json:"category"`
	Value        string    `json:"value"`
	ToIDs        bool      `json:"to_ids"`
	Comment      string    `json:"comment,omitempty"`
	Timestamp    string    `json:"timestamp"`
	Distribution string    `json:"distribution"`
	Tag          []mispTag `json:"Tag,omitempty"`
}

// mispThreatLevel maps a severity to MISP's threat levels (1 high, 2 medium, 3 low, 4 undefined).
func mispThreatLevel(s forensics.Severity) string {
	switch {
	case s >= forensics.SeverityHigh:
		return "1"
	case s >= forensics.SeverityMedium:
		return "2"
	case s >= forensics.SeverityLow:
		return "3"
	}
	return "4"
}

// mispAttributeOf is the MISP type, category and to_ids of an indicator ("" when it has none).
func mispAttributeOf(ind forensics.IOC) (typ, category string, toIDs bool) {
	switch ind.Type {
	case ioc.TypeIPv4, ioc.TypeIPv6:
		return "ip-dst", "Network activity", true
	case ioc.TypeDomain:
		return "domain", "Network activity", true
	case ioc.TypeURL:
		return "url", "Network activity", true
	case ioc.TypeEmail:
		return "email", "Network activity", true
	case ioc.TypeBitcoin:
		return "btc", "Financial fraud", true
	case ioc.TypeMonero:
		return "xmr", "Financial fraud", true
	case ioc.TypeEthereum:
		return "text", "Financial fraud", false
	}
	if ind.Secret || ind.Type == ioc.TypeAWSKeyID {
		return "text", "Other", false
	}
	return "", "", false
}

func (r *Report) writeMISP(w io.Writer) error {
	b := newStixBuilder(r) // the evidence keys and times of the STIX export
	var keys []string
	var t time.Time
	sev := forensics.SeverityInfo
	var verdicts []string
	for i, e := range r.Evidence {
		keys = append(keys, evidenceKey(e))
		if et := b.evidenceTime(i); t.IsZero() || et.Before(t) {
			t = et
		}
		if i < len(r.Conclusions) && r.Conclusions[i].Conclusion != nil {
			sev = max(sev, r.Conclusions[i].Severity)
			if v := r.Conclusions[i].Verdict; !slices.Contains(verdicts, v) {
				verdicts = append(verdicts, v)
			}
		}
	}
	keys = append(keys, b.redaction())
	ns := uuid.NewSHA1(stixNamespace, []byte("misp\x00"+strings.Join(keys, "\x00")))
	ts := strconv.FormatInt(t.Unix(), 10)
	attr := func(typ, cat, v string, toIDs bool, comment string) mispAttribute {
		v = validUTF8(v)
		return mispAttribute{UUID: uuid.NewSHA1(ns, []byte(typ+"\x00"+v)).String(), Type: typ, Category: cat, Value: v,
			ToIDs: toIDs, Comment: validUTF8(comment), Timestamp: ts, Distribution: "5"}
	}
	names := make([]string, len(r.Evidence))
	for i, e := range r.Evidence {
		names[i] = cmpOr(e.StoreID, e.FileName)
	}
	ev := mispEvent{UUID: ns.String(), Info: validUTF8("podsleuth analysis of " + strings.Join(names, ", ")),
		Date: t.UTC().Format("2006-01-02"), Timestamp: ts, ThreatLevelID: mispThreatLevel(sev), Analysis: "2",
		Distribution: "0", Orgc: mispOrg{Name: "podsleuth"}, Tag: []mispTag{{Name: "tlp:amber"}}, Attribute: []mispAttribute{}}
	for _, v := range verdicts {
		ev.Tag = append(ev.Tag, mispTag{Name: fmt.Sprintf("podsleuth:verdict=%q", v)})
	}
	// ATT&CK techniques: galaxy tags on the event ("Name - Txxxx", as MISP's galaxy names them)
	var tech []string
	for _, f := range r.Findings {
		if f.Technique == "" {
			continue
		}
		name := f.Technique
		if rule, ok := findings.RuleByID(f.Rule); ok && rule.Technique == f.Technique && rule.TechniqueName != "" {
			name = rule.TechniqueName
		}
		tag := fmt.Sprintf("misp-galaxy:mitre-attack-pattern=%q", name+" - "+f.Technique)
		if !slices.Contains(tech, tag) {
			tech = append(tech, tag)
		}
	}
	for _, tag := range tech {
		ev.Tag = append(ev.Tag, mispTag{Name: tag})
	}
	for _, ind := range r.IOCs {
		typ, cat, toIDs := mispAttributeOf(ind.IOC)
		if typ == "" || ind.Redacted {
			continue
		}
		a := attr(typ, cat, ind.Value, toIDs && ind.Confidence != "low",
			fmt.Sprintf("%s seen %d time(s) in %s (%s); confidence %s", ind.Type, ind.Count, strings.Join(ind.Evidence, ", "), sightings(ind.Where), ind.Confidence))
		if c, ok := confidence[ind.Confidence]; ok {
			a.Tag = []mispTag{{Name: fmt.Sprintf("misp:confidence-level=%q", mispConfidence(c))}}
		}
		ev.Attribute = append(ev.Attribute, a)
	}
	for i, cp := range r.Checkpoints {
		ev.Attribute = append(ev.Attribute, r.mispContext(cp, i, attr)...)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]mispEvent{"Event": ev}); err != nil {
		return fmt.Errorf("misp: %w", err)
	}
	return nil
}

// mispContext is the context of one checkpoint: the executables of the processes a stage of
// the conclusion involves, their connections, and the names of the exposed credentials.
func (r *Report) mispContext(cp Checkpoint, i int, attr func(typ, cat, v string, toIDs bool, comment string) mispAttribute) []mispAttribute {
	var out []mispAttribute
	seen := map[string]bool{}
	add := func(a mispAttribute) {
		if !seen[a.UUID] {
			seen[a.UUID] = true
			out = append(out, a)
		}
	}
	if i >= len(r.Conclusions) || r.Conclusions[i].Conclusion == nil {
		return nil
	}
	c := r.Conclusions[i]
	involved := map[int]string{}
	for _, s := range c.Stages {
		for _, p := range s.Processes {
			involved[p.PID] = cmpOr(s.Technique, s.Tactic)
		}
	}
	for _, p := range cp.Processes {
		why, ok := involved[p.PID]
		if !ok {
			continue
		}
		if p.Exe != "" {
			add(attr("filename", "Artifacts dropped", p.Exe, false, fmt.Sprintf("%s: executable of pid %d (%s), %s", cp.Evidence, p.PID, p.Comm, why)))
		}
		for _, s := range cp.Network {
			if !slices.Contains(s.Owners, p.PID) || s.RemoteAddr == "" || s.RemotePort == 0 || net.ParseIP(s.RemoteAddr) == nil {
				continue
			}
			add(attr("ip-dst|port", "Network activity", fmt.Sprintf("%s|%d", s.RemoteAddr, s.RemotePort), false,
				fmt.Sprintf("%s: %s of pid %d (%s)", cp.Evidence, s.Endpoint, p.PID, p.Comm)))
		}
	}
	if len(c.Exposure) > 0 {
		add(attr("comment", "Other", "Exposed credentials (names only): "+strings.Join(c.Exposure, ", "), false, cp.Evidence))
	}
	if c.Verdict != analysis.VerdictNoAttack {
		add(attr("comment", "Other", fmt.Sprintf("%s: %s", strings.ToUpper(c.Verdict), c.Summary), false, cp.Evidence))
	}
	return out
}

// mispConfidence names a 0-100 confidence in MISP's confidence-level taxonomy.
func mispConfidence(c int) string {
	switch {
	case c >= 85:
		return "usually-confident"
	case c >= 50:
		return "fairly-confident"
	}
	return "rarely-confident"
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

package yara

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
)

// RulePrefix starts the Finding.Rule of every YARA hit: "yara:RULE".
const RulePrefix = "yara:"

// Findings turns the hits into findings like any other: the rule name, tags and meta in the
// reason, the severity from the rule's "severity" meta (info, low, medium, high, critical; or
// a 0-100 "score" as THOR rules carry) and medium otherwise, the ATT&CK technique from
// "mitre_attack" (or "attack", "technique", "mitre") when present, and where it matched. Hits
// dropped by the per-rule cap are summarised in one finding per rule.
func Findings(res *Result) []forensics.Finding {
	if res == nil {
		return nil
	}
	var out []forensics.Finding
	for _, h := range res.Hits {
		out = append(out, finding(h))
	}
	rules := make([]string, 0, len(res.Dropped))
	for r := range res.Dropped {
		rules = append(rules, r)
	}
	slices.Sort(rules)
	for _, r := range rules {
		out = append(out, forensics.Finding{Rule: RulePrefix + r, Severity: forensics.SeverityInfo,
			Title:    "More YARA hits of " + r,
			Reason:   fmt.Sprintf("%d more hits of YARA rule %s were not kept (cap per rule); run podsleuth yara with --max-hits to see them", res.Dropped[r], r),
			Location: forensics.Location{Kind: "memory"}})
	}
	return out
}

// Severity returns the severity a rule's meta gives, or medium.
func Severity(meta map[string]string) forensics.Severity {
	for _, k := range []string{"severity", "Severity", "threat_level"} {
		var s forensics.Severity
		if v, ok := meta[k]; ok && s.UnmarshalText([]byte(strings.ToLower(v))) == nil {
			return s
		}
	}
	if v, ok := meta["score"]; ok {
		if n, err := strconv.Atoi(v); err == nil {
			switch {
			case n >= 90:
				return forensics.SeverityCritical
			case n >= 70:
				return forensics.SeverityHigh
			case n >= 40:
				return forensics.SeverityMedium
			default:
				return forensics.SeverityLow
			}
		}
	}
	return forensics.SeverityMedium
}

// Attack returns the ATT&CK technique id a rule's meta names, or "".
func Attack(meta map[string]string) string {
	for _, k := range []string{"mitre_attack", "attack", "mitre_att&ck", "technique", "mitre", "attack_id"} {
		if v := strings.TrimSpace(meta[k]); v != "" {
			return v
		}
	}
	return ""
}

func finding(h Hit) forensics.Finding {
	title := h.Meta["description"]
	if title == "" {
		title = "YARA rule " + h.Rule + " matched"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "YARA rule %s", h.Rule)
	if h.Namespace != "" && h.Namespace != "default" {
		fmt.Fprintf(&b, " (%s)", h.Namespace)
	}
	if len(h.Tags) > 0 {
		fmt.Fprintf(&b, " [tags: %s]", strings.Join(h.Tags, ", "))
	}
	fmt.Fprintf(&b, " matched %s", Where(h))
	if a := Attack(h.Meta); a != "" {
		fmt.Fprintf(&b, "; ATT&CK %s", a)
	}
	if len(h.Strings) > 0 {
		b.WriteString("; strings:")
		for i, s := range h.Strings {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, " %s at 0x%x \"%s\"", s.Name, s.Addr, preview(s.Data))
		}
		if h.Matches > len(h.Strings) {
			fmt.Fprintf(&b, " (%d of %d matches shown)", len(h.Strings), h.Matches)
		}
	}
	if meta := metaString(h.Meta, "description"); meta != "" {
		fmt.Fprintf(&b, "; meta: %s", meta)
	}
	loc := forensics.Location{Kind: h.Kind, PID: h.PID, Comm: h.Comm, Addr: h.Addr, Path: h.Path, FD: -1}
	switch h.Kind {
	case KindMemory:
		loc.Start, loc.End = h.Start, h.End
		loc.Region = strings.TrimSpace(h.Region + " " + h.Perm)
	case KindPipe:
		loc.Path = h.Object
	case KindSocket:
		loc.Socket = h.Object
	case KindMemfd, KindShmem:
		loc.Path = h.Object
		loc.Region = h.Object
	default:
		loc.Kind = "file"
		if h.Kind == KindRootfs {
			loc.Kind = "rootfs"
		}
	}
	if loc.Kind != KindMemory && len(h.Holders) > 0 {
		loc.FD = h.Holders[0].FD
	}
	if loc.FD < 0 {
		loc.FD = 0
	}
	return forensics.Finding{Rule: RulePrefix + h.Rule, Severity: Severity(h.Meta), Title: title, Reason: b.String(), Location: loc}
}

// Where describes a hit's place in one line: "pid 1 (comm) at 0x7f... in anon rwxp" or
// "memfd:NAME offset 0x0, held by pid 1 (comm) fd 3".
func Where(h Hit) string {
	if h.Kind == KindMemory {
		s := fmt.Sprintf("in pid %d (%s) at 0x%x, %s %s mapping 0x%x-0x%x", h.PID, h.Comm, h.Addr, h.Region, h.Perm, h.Start, h.End)
		if h.Object != "" && h.Object != h.Region {
			s += " of " + h.Object
		}
		return s
	}
	what := h.Object
	switch h.Kind {
	case KindGhost:
		what = fmt.Sprintf("deleted file %s (ghost file)", h.Path)
	case KindTmpfs, KindDevShm, KindRootfs:
		what = fmt.Sprintf("%s file %s", h.Kind, h.Path)
	}
	s := fmt.Sprintf("in %s at offset 0x%x", what, h.Addr)
	if len(h.Holders) > 0 {
		var hs []string
		for _, x := range h.Holders {
			d := fmt.Sprintf("pid %d (%s)", x.PID, x.Comm)
			if x.FD >= 0 {
				d += fmt.Sprintf(" fd %d", x.FD)
			}
			if x.VMA != nil {
				d += fmt.Sprintf(" mapped at 0x%x", x.VMA.Start)
			}
			hs = append(hs, d)
		}
		s += ", held by " + strings.Join(hs, ", ")
	}
	return s
}

// metaString lists meta as k="v", sorted, without the keys in skip.
func metaString(m map[string]string, skip ...string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if !slices.Contains(skip, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+strconv.Quote(m[k]))
	}
	return strings.Join(parts, ", ")
}

// preview shows matched bytes printable, to be put between double quotes: non-printable bytes,
// '"' and '\\' as \xNN.
func preview(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			s.WriteByte(c)
		} else {
			fmt.Fprintf(&s, "\\x%02x", c)
		}
	}
	return s.String()
}

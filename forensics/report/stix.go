package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/findings"
	"github.com/podsleuth/podsleuth/forensics/ioc"
)

// STIX is the report as a STIX 2.1 bundle, for threat-intelligence platforms (OpenCTI, MISP's
// STIX import, a TAXII server): an indicator with a STIX pattern for each indicator of the
// analysis; per evidence an observed-data object whose cyber-observables are the processes,
// their executables and connections, the open and changed files and the network indicators;
// an attack-pattern for each ATT&CK technique of the findings; a malware object (an instance,
// not a family) when the conclusion is compromised or likely compromised; relationships
// (indicator indicates malware or technique, indicator based-on observed-data, malware uses
// technique); and a grouping per evidence tying them together, with the conclusion and the
// evidence's verification. Every object is created by the identity "podsleuth".
//
// Identifiers are reproducible: cyber-observables use STIX's deterministic UUIDv5, the other
// objects a UUIDv5 under podsleuth's namespace of the evidence (the archive's SHA-256, or the
// path of an image directory), and of whether secrets were redacted; their created/modified
// time is the evidence's (the checkpoint's or acquisition time). A re-export of the same
// evidence is the same bundle. Secret indicators become indicators only with --reveal (a
// redacted value matches nothing); the grouping names the exposed credentials either way.
const STIX Format = "stix"

// writeSTIX writes the bundle as indented JSON.
func (r *Report) writeSTIX(w io.Writer) error {
	b := newStixBuilder(r)
	b.build()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b.bundle()); err != nil {
		return fmt.Errorf("stix: %w", err)
	}
	return nil
}

// stixBuilder collects the objects of one bundle, each once.
type stixBuilder struct {
	r        *Report
	identity string
	objs     []*stixObject
	byID     map[string]*stixObject
	// per evidence ("E1"): its key, time, observed-data, malware and the objects of its grouping
	ev map[string]*stixEvidence
}

type stixEvidence struct {
	key      string
	time     time.Time
	observed string
	malware  string
	refs     []string
	// procs: the process SCO of each PID; techniques: the attack-patterns of each PID's findings
	procs      map[int]string
	techniques map[int][]string
	allTech    []string
}

func newStixBuilder(r *Report) *stixBuilder {
	return &stixBuilder{r: r, byID: map[string]*stixObject{}, ev: map[string]*stixEvidence{}}
}

// add puts an object in the bundle once (the first one of an identifier wins: SCOs of the
// same value are the same object) and returns its identifier.
func (b *stixBuilder) add(o *stixObject) string {
	if _, ok := b.byID[o.ID]; !ok {
		o.SpecVersion = "2.1"
		b.byID[o.ID] = o
		b.objs = append(b.objs, o)
	}
	return o.ID
}

// sdo fills the common properties of a domain or relationship object made at time t.
func (b *stixBuilder) sdo(typ, id string, t time.Time) *stixObject {
	return &stixObject{Type: typ, ID: id, CreatedByRef: b.identity, Created: stixTime(t), Modified: stixTime(t)}
}

func (b *stixBuilder) redaction() string {
	if b.r.Redacted {
		return "redacted"
	}
	return "revealed"
}

func (b *stixBuilder) bundle() stixBundle {
	keys := []string{b.redaction()}
	for _, e := range b.r.Evidence {
		keys = append(keys, b.ev[e.ID].key)
	}
	return stixBundle{Type: "bundle", ID: sdoID("bundle", keys...), Objects: b.objs}
}

func (b *stixBuilder) build() {
	id := b.sdo("identity", sdoID("identity", "podsleuth"), stixEpoch)
	id.CreatedByRef = ""
	id.Name, id.IdentityClass = "podsleuth", "system"
	id.Description = "podsleuth: forensic analysis of Kubernetes container checkpoints (CRIU)."
	b.identity = b.add(id)
	for i, e := range b.r.Evidence {
		se := &stixEvidence{key: evidenceKey(e), time: b.evidenceTime(i), procs: map[int]string{}, techniques: map[int][]string{}}
		b.ev[e.ID] = se
		if i < len(b.r.Checkpoints) {
			b.observed(se, &b.r.Checkpoints[i])
		}
		b.attackPatterns(e.ID, se)
		if i < len(b.r.Conclusions) {
			b.malware(se, b.r.Conclusions[i], i)
		}
	}
	b.indicators()
	for i, e := range b.r.Evidence {
		b.grouping(e, b.ev[e.ID], i)
	}
}

// evidenceKey names a piece of evidence by its content when it has a hash, else by its path.
func evidenceKey(e Evidence) string {
	if e.SHA256 != "" {
		return "sha256:" + e.SHA256
	}
	return "path:" + e.Path
}

// evidenceTime is when the evidence was taken: the checkpoint's time, else the checkpoint's
// completion or acquisition recorded in the store, else the report's time.
func (b *stixBuilder) evidenceTime(i int) time.Time {
	if i < len(b.r.Checkpoints) {
		if c := b.r.Checkpoints[i].Container; c != nil && !c.Checkpointed.IsZero() {
			return c.Checkpointed
		}
	}
	if m := b.r.Evidence[i].Manifest; m != nil {
		if !m.CheckpointCompleted.IsZero() {
			return m.CheckpointCompleted
		}
		if !m.AcquiredAt.IsZero() {
			return m.AcquiredAt
		}
	}
	return b.r.GeneratedAt
}

// observed makes the cyber-observables of one checkpoint and the observed-data holding them.
func (b *stixBuilder) observed(se *stixEvidence, cp *Checkpoint) {
	var refs []string
	ref := func(id string) string {
		if id != "" && !slices.Contains(refs, id) {
			refs = append(refs, id)
		}
		return id
	}
	conns := map[int][]string{}
	for _, s := range cp.Network {
		id := b.networkTraffic(s)
		if id == "" {
			continue
		}
		ref(id)
		if nt := b.byID[id]; nt != nil {
			ref(nt.SrcRef)
			ref(nt.DstRef)
		}
		for _, pid := range s.Owners {
			conns[pid] = append(conns[pid], id)
		}
	}
	for _, p := range cp.Processes {
		se.procs[p.PID] = sdoID("process", se.key, fmt.Sprint(p.PID))
	}
	for _, p := range cp.Processes {
		o := &stixObject{Type: "process", ID: se.procs[p.PID], PID: p.PID, Cwd: validUTF8(p.Cwd), XComm: validUTF8(p.Comm),
			CommandLine: validUTF8(strings.Join(p.Cmdline, " ")), ParentRef: se.procs[p.PPID]}
		if p.Exe != "" {
			o.ImageRef = ref(b.file(p.Exe, &refs))
		}
		for _, c := range p.Children {
			if id := se.procs[c]; id != "" {
				o.ChildRefs = append(o.ChildRefs, id)
			}
		}
		o.OpenedConnectionRefs = uniq(conns[p.PID])
		ref(b.add(o))
	}
	for _, f := range cp.OpenFiles {
		if f.Type == "REG" && strings.HasPrefix(f.Target, "/") {
			ref(b.file(f.Target, &refs))
		}
	}
	for _, rc := range cp.RootfsChanges {
		if rc.Type == "file" && rc.Kind != "deleted" {
			ref(b.file("/"+strings.TrimPrefix(rc.Path, "/"), &refs))
		}
	}
	for _, ind := range b.r.IOCs {
		if slices.Contains(ind.Evidence, cp.Evidence) {
			if id := b.indicatorSCO(ind.IOC); id != "" {
				ref(id)
			}
		}
	}
	if len(refs) == 0 {
		return // observed-data needs at least one object
	}
	o := b.sdo("observed-data", sdoID("observed-data", se.key, b.redaction()), se.time)
	o.FirstObserved, o.LastObserved, o.NumberObserved = stixTime(se.time), stixTime(se.time), 1
	o.ObjectRefs = refs
	se.observed = b.add(o)
	se.refs = append(se.refs, se.observed)
	se.refs = append(se.refs, refs...)
}

// file is the file SCO of an absolute path (name and parent directory) and adds its directory
// to refs.
func (b *stixBuilder) file(p string, refs *[]string) string {
	p = validUTF8(path.Clean(p))
	dir, name := path.Split(p)
	if name == "" {
		return ""
	}
	dir = path.Clean(dir)
	d := b.add(&stixObject{Type: "directory", ID: scoID("directory", scoProp{"path", dir}), Path: dir})
	if !slices.Contains(*refs, d) {
		*refs = append(*refs, d)
	}
	return b.add(&stixObject{Type: "file", ID: scoID("file", scoProp{"name", name}, scoProp{"parent_directory_ref", d}),
		Name: name, ParentDirectoryRef: d})
}

// address is the ipv4-addr or ipv6-addr SCO of an IP address ("" when it is not one).
func (b *stixBuilder) address(a string) string {
	ip := net.ParseIP(a)
	if ip == nil {
		return ""
	}
	typ, v := "ipv6-addr", ip.String()
	if ip4 := ip.To4(); ip4 != nil {
		typ, v = "ipv4-addr", ip4.String()
	}
	return b.add(&stixObject{Type: typ, ID: scoID(typ, scoProp{"value", v}), Value: v})
}

// networkTraffic is the network-traffic SCO of an inet socket ("" for other families).
func (b *stixBuilder) networkTraffic(s Socket) string {
	src, dst := b.address(s.LocalAddr), b.address(s.RemoteAddr)
	if src == "" && dst == "" {
		return ""
	}
	if s.RemotePort == 0 && s.RemoteAddr != "" && net.ParseIP(s.RemoteAddr).IsUnspecified() {
		dst = "" // a listener: no peer
	}
	l3 := "ipv4"
	if strings.HasPrefix(src, "ipv6-addr") || strings.HasPrefix(dst, "ipv6-addr") {
		l3 = "ipv6"
	}
	protos := []string{l3}
	if p := cmp.Or(s.Protocol, s.Type); p != "" {
		protos = append(protos, strings.ToLower(p))
	}
	props := []scoProp{{"protocols", protos}}
	o := &stixObject{Type: "network-traffic", Protocols: protos}
	if src != "" {
		o.SrcRef = src
		props = append(props, scoProp{"src_ref", src})
	}
	if dst != "" {
		o.DstRef = dst
		props = append(props, scoProp{"dst_ref", dst})
	}
	if s.LocalPort != 0 {
		o.SrcPort = int(s.LocalPort)
		props = append(props, scoProp{"src_port", o.SrcPort})
	}
	if s.RemotePort != 0 && dst != "" {
		o.DstPort = int(s.RemotePort)
		props = append(props, scoProp{"dst_port", o.DstPort})
	}
	o.ID = scoID("network-traffic", props...)
	return b.add(o)
}

// indicatorSCO is the cyber-observable of a network indicator ("" for other types).
func (b *stixBuilder) indicatorSCO(ind forensics.IOC) string {
	typ := map[string]string{ioc.TypeDomain: "domain-name", ioc.TypeURL: "url", ioc.TypeEmail: "email-addr"}[ind.Type]
	switch {
	case ind.Type == ioc.TypeIPv4 || ind.Type == ioc.TypeIPv6:
		return b.address(ind.Value)
	case typ == "" || ind.Secret:
		return ""
	}
	v := validUTF8(ind.Value)
	return b.add(&stixObject{Type: typ, ID: scoID(typ, scoProp{"value", v}), Value: v})
}

// attackPatterns makes an attack-pattern for each ATT&CK technique of the evidence's findings.
func (b *stixBuilder) attackPatterns(ev string, se *stixEvidence) {
	for _, f := range b.r.Findings {
		if f.Evidence != ev || f.Technique == "" {
			continue
		}
		id := sdoID("attack-pattern", f.Technique)
		if _, ok := b.byID[id]; !ok {
			o := b.sdo("attack-pattern", id, stixEpoch)
			o.Name = f.Technique
			if r, ok := findings.RuleByID(f.Rule); ok && r.Technique == f.Technique && r.TechniqueName != "" {
				o.Name = r.TechniqueName
			}
			o.ExternalReferences = []stixExternalRef{{SourceName: "mitre-attack", ExternalID: f.Technique, URL: attackURL(f.Technique)}}
			if t := analysis.TacticOf(f.Technique); t != "Other" {
				o.KillChainPhases = []stixPhase{{KillChainName: "mitre-attack", PhaseName: phaseName(t)}}
			}
			b.add(o)
		}
		if !slices.Contains(se.allTech, id) {
			se.allTech = append(se.allTech, id)
			se.refs = append(se.refs, id)
		}
		if pid := f.Location.PID; pid != 0 && !slices.Contains(se.techniques[pid], id) {
			se.techniques[pid] = append(se.techniques[pid], id)
		}
	}
}

// malwareTypes maps the techniques of a conclusion's stages to the malware-type vocabulary.
var malwareTypes = map[string]string{"T1496": "resource-exploitation", "T1059": "backdoor", "T1620": "dropper",
	"T1105": "dropper", "T1574": "rootkit"}

// malware makes the malware instance a compromised or likely compromised conclusion points to:
// named after the first process of its most severe stage, with the executables of the stages'
// processes as samples; it uses the stages' techniques.
func (b *stixBuilder) malware(se *stixEvidence, c Conclusion, i int) {
	if c.Conclusion == nil || (c.Verdict != analysis.VerdictCompromised && c.Verdict != analysis.VerdictLikelyCompromised) {
		return
	}
	var top *analysis.Stage
	for k := range c.Stages {
		if s := &c.Stages[k]; len(s.Processes) > 0 && (top == nil || s.Severity > top.Severity) {
			top = s
		}
	}
	name := "malware in " + b.r.Evidence[i].FileName
	if top != nil {
		name = top.Processes[0].Comm + " in " + b.r.Evidence[i].FileName
	}
	o := b.sdo("malware", sdoID("malware", se.key, b.redaction()), se.time)
	o.Name, o.Description, o.IsFamily = validUTF8(name), validUTF8(c.Summary), new(bool)
	o.FirstSeen = stixTime(se.time)
	var samples, types []string
	var uses []string
	for _, s := range c.Stages {
		id, _, _ := strings.Cut(s.Technique, ".")
		if t := malwareTypes[id]; t != "" && !slices.Contains(types, t) {
			types = append(types, t)
		}
		if s.Technique != "" {
			uses = append(uses, sdoID("attack-pattern", s.Technique))
		}
		for _, p := range s.Processes {
			if p.Exe != "" {
				var refs []string
				f := b.file(p.Exe, &refs)
				if f != "" && !slices.Contains(samples, f) {
					samples = append(samples, f)
				}
			}
		}
	}
	if len(types) == 0 {
		types = []string{"unknown"}
	}
	o.MalwareTypes, o.SampleRefs = types, samples
	se.refs = append(se.refs, samples...)
	se.malware = b.add(o)
	se.refs = append(se.refs, se.malware)
	for _, ap := range uniq(uses) {
		if _, ok := b.byID[ap]; ok {
			b.relate(se, se.malware, "uses", ap, se.time)
		}
	}
}

// relate adds a relationship to the bundle and to the evidence's grouping.
func (b *stixBuilder) relate(se *stixEvidence, src, typ, dst string, t time.Time) {
	o := b.sdo("relationship", sdoID("relationship", src, typ, dst), t)
	o.RelationshipType, o.SourceRef, o.TargetRef = typ, src, dst
	id := b.add(o)
	if !slices.Contains(se.refs, id) {
		se.refs = append(se.refs, id)
	}
}

// confidence maps the analysis's confidence to STIX's 0-100 scale (section 3.3: High = 85,
// Medium = 50, Low = 15).
var confidence = map[string]int{"high": 85, "medium": 50, "low": 15}

// indicators makes an indicator of each indicator of the analysis that has a STIX pattern.
func (b *stixBuilder) indicators() {
	for _, ind := range b.r.IOCs {
		pattern, what := stixPattern(ind.IOC)
		if pattern == "" {
			continue
		}
		var keys []string
		var t time.Time
		for _, ev := range ind.Evidence {
			se := b.ev[ev]
			keys = append(keys, se.key)
			if t.IsZero() || se.time.Before(t) {
				t = se.time
			}
		}
		o := b.sdo("indicator", sdoID("indicator", append(keys, ind.Type, cmp.Or(ind.SHA256, ind.Value), b.redaction())...), t)
		o.Name = validUTF8(what + " " + ind.Value)
		o.Description = validUTF8(fmt.Sprintf("%s seen %d time(s) in %s (%s).", what, ind.Count, strings.Join(ind.Evidence, ", "), sightings(ind.Where)))
		o.Pattern, o.PatternType, o.PatternVersion, o.ValidFrom = pattern, "stix", "2.1", stixTime(t)
		o.IndicatorTypes = []string{"malicious-activity"}
		if c, ok := confidence[ind.Confidence]; ok {
			o.Confidence = &c
			if ind.Confidence == "low" {
				o.IndicatorTypes = []string{"anomalous-activity"}
			}
		}
		o.XEvidence, o.XSHA256 = ind.Evidence, ind.SHA256
		id := b.add(o)
		for _, ev := range ind.Evidence {
			se := b.ev[ev]
			se.refs = append(se.refs, id)
			if se.observed != "" {
				b.relate(se, id, "based-on", se.observed, t)
			}
			if se.malware != "" {
				b.relate(se, id, "indicates", se.malware, t)
				continue
			}
			for _, w := range ind.Where {
				if w.Evidence == ev && w.PID != 0 {
					for _, ap := range se.techniques[w.PID] {
						b.relate(se, id, "indicates", ap, t)
					}
				}
			}
		}
	}
}

// sightings says in brief where an indicator was seen ("cmdline of pid 12 (xmrig), memory").
func sightings(ws []Sighting) string {
	var out []string
	for _, w := range ws {
		s := w.Evidence + " " + w.Kind
		if w.PID != 0 {
			s += fmt.Sprintf(" of pid %d", w.PID)
			if w.Comm != "" {
				s += " (" + w.Comm + ")"
			}
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) > 8 {
		out = append(out[:8], fmt.Sprintf("and %d more", len(out)-8))
	}
	return strings.Join(out, ", ")
}

// stixPattern is the STIX pattern of an indicator and what it is ("" when it has none): the
// cyber-observable property that holds its value. A redacted secret has none (its mask would
// match nothing); a revealed secret environment entry matches the process environment, other
// revealed secrets a user account's credential. Wallets use the cryptocurrency-wallet object
// OpenCTI defines (STIX 2.1 has none).
func stixPattern(ind forensics.IOC) (pattern, what string) {
	if ind.Redacted {
		return "", ""
	}
	v := ind.Value
	path, what := "", ind.Type
	switch ind.Type {
	case ioc.TypeIPv4:
		path, what = "ipv4-addr:value", "IPv4 address"
	case ioc.TypeIPv6:
		path, what = "ipv6-addr:value", "IPv6 address"
	case ioc.TypeDomain:
		path, what = "domain-name:value", "Domain"
	case ioc.TypeURL:
		path, what = "url:value", "URL"
	case ioc.TypeEmail:
		path, what = "email-addr:value", "E-mail address"
	case ioc.TypeMonero, ioc.TypeBitcoin, ioc.TypeEthereum:
		path, what = "cryptocurrency-wallet:value", strings.TrimSuffix(ind.Type, "-address")+" wallet"
	case ioc.TypeAWSKeyID:
		path, what = "user-account:account_login", "AWS access key ID"
	case ioc.TypeEnvSecret:
		name, val, ok := strings.Cut(v, "=")
		if !ok || name == "" {
			return "", ""
		}
		path, what, v = "process:environment_variables."+patternKey(validUTF8(name)), "Secret environment variable", val
	default:
		if !ind.Secret {
			return "", ""
		}
		path = "user-account:credential"
	}
	return "[" + path + " = " + patternString(v) + "]", what
}

// grouping ties one evidence's objects together with the conclusion and the verification.
func (b *stixBuilder) grouping(e Evidence, se *stixEvidence, i int) {
	o := b.sdo("grouping", sdoID("grouping", se.key, b.redaction()), se.time)
	o.Name = validUTF8("podsleuth analysis of " + cmp.Or(e.StoreID, e.FileName))
	o.Context = "unspecified"
	var desc []string
	if i < len(b.r.Conclusions) && b.r.Conclusions[i].Conclusion != nil {
		c := b.r.Conclusions[i]
		desc = append(desc, fmt.Sprintf("%s (%s severity, %s confidence). %s", strings.ToUpper(c.Verdict), c.Severity, c.Confidence, c.Summary), "Why: "+c.Reason)
		if len(c.Exposure) > 0 {
			desc = append(desc, "Exposed credentials: "+strings.Join(c.Exposure, ", ")+".")
		}
		if c.Verdict != analysis.VerdictNoAttack {
			o.Context = "suspicious-activity"
		}
	}
	evd := fmt.Sprintf("Evidence %s: %s", e.ID, e.Path)
	if e.SHA256 != "" {
		evd += " sha256:" + e.SHA256
	}
	if e.StoreID != "" {
		evd += " (evidence store item " + e.StoreID + ")"
	}
	desc = append(desc, evd+".")
	if v := e.Verification; v != nil {
		o.XVerification = v.State
		desc = append(desc, fmt.Sprintf("Verification on open (%s): %s: %s", stixTime(v.Time), v.State, v.Summary))
		if v.State != "verified" {
			o.Labels = []string{"evidence-verification-failed"}
		}
	}
	if b.r.Case.ID != "" {
		desc = append(desc, "Case "+b.r.Case.ID+".")
	}
	o.Description = validUTF8(strings.Join(desc, "\n"))
	o.ObjectRefs = uniq(se.refs)
	if len(o.ObjectRefs) == 0 {
		o.ObjectRefs = []string{b.identity}
	}
	b.add(o)
}

package report_test

// A checker of STIX 2.1 bundles built from the specification (STIX Version 2.1, OASIS Standard,
// 10 June 2021): the identifier and timestamp formats (sections 2.9, 3.2), the required
// properties of each object type the export writes (sections 4, 5, 6, 8), the reference
// properties' target types, the relationships the specification defines between the types
// (section 4's relationship tables), and the patterning grammar (section 9, whose ANTLR grammar
// STIXPattern.g4 this parser follows rule by rule). No STIX library is served by the Go module
// proxy or Debian; the npm package @security-alliance/stix checks the cyber-observable
// identifiers independently (TestSTIXObservableIDsIndependently).

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
)

var (
	reSTIXType = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,248}[a-z0-9]$`)
	reUUID     = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-([1-5])[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	reStamp    = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$`)
	reProp     = regexp.MustCompile(`^[a-z0-9_]{3,250}$`)
	reAttackID = regexp.MustCompile(`^T\d{4}(\.\d{3})?$`)
)

// sdoTypes are the domain and relationship object types with their required properties beyond
// the common ones (type, spec_version, id, created, modified).
var sdoTypes = map[string][]string{
	"attack-pattern": {"name"}, "grouping": {"context", "object_refs"}, "identity": {"name"},
	"indicator": {"pattern", "pattern_type", "valid_from"}, "malware": {"is_family"},
	"observed-data": {"first_observed", "last_observed", "number_observed", "object_refs"},
	"relationship":  {"relationship_type", "source_ref", "target_ref"}, "report": {"name", "published", "object_refs"},
}

// scoTypes are the cyber-observable types with their required properties.
var scoTypes = map[string][]string{
	"ipv4-addr": {"value"}, "ipv6-addr": {"value"}, "domain-name": {"value"}, "url": {"value"}, "email-addr": {"value"},
	"directory": {"path"}, "file": {}, "process": {}, "network-traffic": {"protocols"},
}

// refTargets are the types each reference property may point to.
var refTargets = map[string][]string{
	"created_by_ref": {"identity"}, "src_ref": {"ipv4-addr", "ipv6-addr", "mac-addr", "domain-name"},
	"dst_ref": {"ipv4-addr", "ipv6-addr", "mac-addr", "domain-name"}, "parent_directory_ref": {"directory"},
	"image_ref": {"file"}, "parent_ref": {"process"}, "child_refs": {"process"}, "opened_connection_refs": {"network-traffic"},
	"sample_refs": {"file", "artifact"},
}

// relationships are the relationships section 4 defines, by source type and relationship type.
var relationships = map[string]map[string][]string{
	"indicator": {"indicates": {"attack-pattern", "campaign", "infrastructure", "intrusion-set", "malware", "threat-actor", "tool"},
		"based-on": {"observed-data"}},
	"malware": {"uses": {"attack-pattern", "infrastructure", "malware", "tool"}},
}

// checkBundle returns every way a decoded bundle breaks the specification.
func checkBundle(b map[string]any) []string {
	var errs []string
	bad := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	if b["type"] != "bundle" {
		bad("bundle type %v", b["type"])
	}
	if !validID(b["id"], "bundle") {
		bad("bundle id %v", b["id"])
	}
	if _, ok := b["spec_version"]; ok {
		bad("a 2.1 bundle has no spec_version")
	}
	objs, _ := b["objects"].([]any)
	if len(objs) == 0 {
		return append(errs, "bundle without objects")
	}
	types := map[string]string{}
	for _, o := range objs {
		m, _ := o.(map[string]any)
		id, _ := m["id"].(string)
		if _, dup := types[id]; dup {
			bad("%s twice", id)
		}
		typ, _ := m["type"].(string)
		types[id] = typ
	}
	for _, o := range objs {
		m := o.(map[string]any)
		typ, _ := m["type"].(string)
		id, _ := m["id"].(string)
		if !reSTIXType.MatchString(typ) || !validID(id, typ) {
			bad("%s: bad type or id", id)
		}
		if m["spec_version"] != "2.1" {
			bad("%s: spec_version %v", id, m["spec_version"])
		}
		req, sdo := sdoTypes[typ]
		if !sdo {
			var sco bool
			if req, sco = scoTypes[typ]; !sco {
				bad("%s: type %s is not one the export writes", id, typ)
				continue
			}
			for _, p := range []string{"created", "modified", "created_by_ref"} {
				if _, ok := m[p]; ok {
					bad("%s: an SCO has no %s", id, p)
				}
			}
		} else {
			req = append(req, "created", "modified")
			c, _ := m["created"].(string)
			md, _ := m["modified"].(string)
			if !validStamp(c) || !validStamp(md) || md < c {
				bad("%s: created %q modified %q", id, c, md)
			}
		}
		for _, p := range req {
			if _, ok := m[p]; !ok {
				bad("%s: %s is required", id, p)
			}
		}
		for k, v := range m {
			if !reProp.MatchString(k) && k != "id" {
				bad("%s: property name %q", id, k)
			}
			if strings.HasSuffix(k, "_ref") || strings.HasSuffix(k, "_refs") {
				refs := []any{v}
				if l, ok := v.([]any); ok {
					refs = l
					if len(l) == 0 {
						bad("%s: empty %s", id, k)
					}
				}
				for _, r := range refs {
					rs, _ := r.(string)
					tt, ok := types[rs]
					if !ok {
						bad("%s: %s %v is not in the bundle", id, k, r)
						continue
					}
					if want := refTargets[k]; want != nil && !contains(want, tt) {
						bad("%s: %s points to a %s", id, k, tt)
					}
					if k == "object_refs" && typ == "observed-data" && scoTypes[tt] == nil && tt != "relationship" {
						bad("%s: observed-data refers to a %s", id, tt)
					}
				}
			}
		}
		errs = append(errs, checkObject(m, types)...)
	}
	return errs
}

// checkObject checks the rules of one type.
func checkObject(m map[string]any, types map[string]string) []string {
	var errs []string
	id := m["id"]
	bad := func(f string, a ...any) { errs = append(errs, fmt.Sprintf("%v: ", id)+fmt.Sprintf(f, a...)) }
	switch m["type"] {
	case "indicator":
		if m["pattern_type"] == "stix" {
			if err := ParsePattern(fmt.Sprint(m["pattern"])); err != nil {
				bad("pattern %v: %v", m["pattern"], err)
			}
		}
		if !validStamp(fmt.Sprint(m["valid_from"])) {
			bad("valid_from %v", m["valid_from"])
		}
	case "malware":
		if f, ok := m["is_family"].(bool); !ok || f && m["name"] == nil {
			bad("is_family %v", m["is_family"])
		}
	case "observed-data":
		n, _ := m["number_observed"].(float64)
		if n < 1 || n > 999999999 || m["first_observed"].(string) > m["last_observed"].(string) {
			bad("number_observed %v, observed %v..%v", n, m["first_observed"], m["last_observed"])
		}
	case "grouping":
		if !contains([]string{"suspicious-activity", "malware-analysis", "unspecified"}, fmt.Sprint(m["context"])) {
			bad("context %v is not in grouping-context-ov", m["context"])
		}
	case "relationship":
		src, dst := types[fmt.Sprint(m["source_ref"])], types[fmt.Sprint(m["target_ref"])]
		if !contains(relationships[src][fmt.Sprint(m["relationship_type"])], dst) {
			bad("%s %v %s is not a relationship of the specification", src, m["relationship_type"], dst)
		}
	case "attack-pattern":
		refs, _ := m["external_references"].([]any)
		ok := false
		for _, r := range refs {
			e := r.(map[string]any)
			if e["source_name"] == nil {
				bad("external reference without source_name")
			}
			if e["source_name"] == "mitre-attack" && reAttackID.MatchString(fmt.Sprint(e["external_id"])) {
				ok = true
			}
		}
		if !ok {
			bad("no mitre-attack external reference")
		}
	case "network-traffic":
		if m["src_ref"] == nil && m["dst_ref"] == nil {
			bad("src_ref or dst_ref is required")
		}
	case "file":
		if m["name"] == nil && m["hashes"] == nil {
			bad("name or hashes is required")
		}
	}
	return errs
}

func validID(v any, typ string) bool {
	s, _ := v.(string)
	t, u, ok := strings.Cut(s, "--")
	return ok && t == typ && reUUID.MatchString(u)
}

func validStamp(s string) bool {
	if !reStamp.MatchString(s) {
		return false
	}
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// ParsePattern parses a STIX 2.1 pattern (section 9) and returns the first syntax error.
func ParsePattern(s string) error {
	p := &patternParser{}
	if err := p.lex(s); err != nil {
		return err
	}
	if err := p.observationExpressions(); err != nil {
		return err
	}
	if p.i != len(p.toks) {
		return fmt.Errorf("unexpected %q", p.toks[p.i].text)
	}
	return nil
}

// PatternComparisons returns the object paths and string values of a pattern's comparisons.
func PatternComparisons(s string) (map[string]string, error) {
	p := &patternParser{cmp: map[string]string{}}
	if err := p.lex(s); err != nil {
		return nil, err
	}
	if err := p.observationExpressions(); err != nil {
		return nil, err
	}
	return p.cmp, nil
}

type patternTok struct {
	kind string // "str", "int", "float", "bin", "hex", "ts", "bool", "ident", "kw", "op", or the punctuation itself
	text string
	val  string // a string literal's value
}

type patternParser struct {
	toks []patternTok
	i    int
	cmp  map[string]string
}

var patternKeywords = map[string]bool{"AND": true, "OR": true, "NOT": true, "FOLLOWEDBY": true, "LIKE": true,
	"MATCHES": true, "ISSUPERSET": true, "ISSUBSET": true, "EXISTS": true, "LAST": true, "IN": true, "START": true,
	"STOP": true, "SECONDS": true, "WITHIN": true, "REPEATS": true, "TIMES": true}

var (
	reTokInt   = regexp.MustCompile(`^[+-]?(0|[1-9][0-9]*)`)
	reTokFloat = regexp.MustCompile(`^[+-]?[0-9]*\.[0-9]+`)
	reTokHex   = regexp.MustCompile(`^h'(([a-fA-F0-9]{2})*)'`)
	reTokBin   = regexp.MustCompile(`^b'(([a-zA-Z0-9+/]{4})*([a-zA-Z0-9+/]{2}==|[a-zA-Z0-9+/]{3}=)?)'`)
	reTokTS    = regexp.MustCompile(`^t'[0-9]{4}-(0[1-9]|1[012])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?Z'`)
	reTokIdent = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_-]*`)
)

func (p *patternParser) lex(s string) error {
	for i := 0; i < len(s); {
		c := s[i]
		rest := s[i:]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '\'':
			var v strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != '\''; j++ {
				if s[j] == '\\' {
					if j+1 >= len(s) || (s[j+1] != '\'' && s[j+1] != '\\') {
						return fmt.Errorf("bad escape in string literal at %d", j)
					}
					j++
				}
				v.WriteByte(s[j])
			}
			if j >= len(s) {
				return fmt.Errorf("unterminated string literal at %d", i)
			}
			p.toks = append(p.toks, patternTok{kind: "str", text: s[i : j+1], val: v.String()})
			i = j + 1
		case reTokHex.MatchString(rest):
			m := reTokHex.FindString(rest)
			p.toks, i = append(p.toks, patternTok{kind: "hex", text: m}), i+len(m)
		case reTokBin.MatchString(rest):
			m := reTokBin.FindString(rest)
			p.toks, i = append(p.toks, patternTok{kind: "bin", text: m}), i+len(m)
		case reTokTS.MatchString(rest):
			m := reTokTS.FindString(rest)
			p.toks, i = append(p.toks, patternTok{kind: "ts", text: m}), i+len(m)
		case reTokFloat.MatchString(rest):
			m := reTokFloat.FindString(rest)
			p.toks, i = append(p.toks, patternTok{kind: "float", text: m}), i+len(m)
		case reTokInt.MatchString(rest) && (c != '+' && c != '-' || len(rest) > 1 && unicode.IsDigit(rune(rest[1]))):
			m := reTokInt.FindString(rest)
			p.toks, i = append(p.toks, patternTok{kind: "int", text: m}), i+len(m)
		case reTokIdent.MatchString(rest):
			m := reTokIdent.FindString(rest)
			kind := "ident"
			switch {
			case patternKeywords[m]:
				kind = "kw"
			case m == "true" || m == "false":
				kind = "bool"
			}
			p.toks, i = append(p.toks, patternTok{kind: kind, text: m}), i+len(m)
		default:
			op := ""
			for _, o := range []string{"<=", ">=", "!=", "<>", "==", "=", "<", ">", "[", "]", "(", ")", ":", ".", ",", "*"} {
				if strings.HasPrefix(rest, o) {
					op = o
					break
				}
			}
			if op == "" {
				return fmt.Errorf("unexpected character %q at %d", c, i)
			}
			p.toks, i = append(p.toks, patternTok{kind: op, text: op}), i+len(op)
		}
	}
	return nil
}

func (p *patternParser) peek() patternTok {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return patternTok{kind: "EOF"}
}

func (p *patternParser) accept(kind, text string) bool {
	t := p.peek()
	if t.kind == kind && (text == "" || t.text == text) {
		p.i++
		return true
	}
	return false
}

func (p *patternParser) expect(kind, text string) error {
	if !p.accept(kind, text) {
		return fmt.Errorf("want %s %s, got %q", kind, text, p.peek().text)
	}
	return nil
}

// observationExpressions: observationExpressionOr (FOLLOWEDBY observationExpressionOr)*, with
// OR over AND over single observation expressions.
func (p *patternParser) observationExpressions() error {
	for {
		for {
			for {
				if err := p.observationExpression(); err != nil {
					return err
				}
				if !p.accept("kw", "AND") {
					break
				}
			}
			if !p.accept("kw", "OR") {
				break
			}
		}
		if !p.accept("kw", "FOLLOWEDBY") {
			return nil
		}
	}
}

func (p *patternParser) observationExpression() error {
	switch {
	case p.accept("[", ""):
		if err := p.comparisonExpression(); err != nil {
			return err
		}
		if err := p.expect("]", ""); err != nil {
			return err
		}
	case p.accept("(", ""):
		if err := p.observationExpressions(); err != nil {
			return err
		}
		if err := p.expect(")", ""); err != nil {
			return err
		}
	default:
		return fmt.Errorf("want an observation expression, got %q", p.peek().text)
	}
	for { // qualifiers
		switch {
		case p.accept("kw", "START"):
			if err := p.expect("ts", ""); err != nil {
				return err
			}
			if err := p.expect("kw", "STOP"); err != nil {
				return err
			}
			if err := p.expect("ts", ""); err != nil {
				return err
			}
		case p.accept("kw", "WITHIN"):
			if !p.accept("int", "") && !p.accept("float", "") {
				return fmt.Errorf("WITHIN wants a number")
			}
			if err := p.expect("kw", "SECONDS"); err != nil {
				return err
			}
		case p.accept("kw", "REPEATS"):
			if t := p.peek(); t.kind != "int" || strings.HasPrefix(t.text, "-") || t.text == "0" {
				return fmt.Errorf("REPEATS wants a positive integer")
			}
			p.i++
			if err := p.expect("kw", "TIMES"); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// comparisonExpression: comparisonExpressionAnd (OR comparisonExpressionAnd)*.
func (p *patternParser) comparisonExpression() error {
	for {
		for {
			if err := p.propTest(); err != nil {
				return err
			}
			if !p.accept("kw", "AND") {
				break
			}
		}
		if !p.accept("kw", "OR") {
			return nil
		}
	}
}

func (p *patternParser) propTest() error {
	if p.accept("(", "") {
		if err := p.comparisonExpression(); err != nil {
			return err
		}
		return p.expect(")", "")
	}
	if p.accept("kw", "EXISTS") {
		_, err := p.objectPath()
		return err
	}
	path, err := p.objectPath()
	if err != nil {
		return err
	}
	p.accept("kw", "NOT")
	t := p.peek()
	p.i++
	switch {
	case t.kind == "=" || t.kind == "==" || t.kind == "!=" || t.kind == "<>":
		lit := p.peek()
		if !contains([]string{"int", "float", "str", "bin", "hex", "ts", "bool"}, lit.kind) {
			return fmt.Errorf("want a literal after %s, got %q", t.text, lit.text)
		}
		p.i++
		if lit.kind == "str" && p.cmp != nil {
			p.cmp[path] = lit.val
		}
	case t.kind == "<" || t.kind == "<=" || t.kind == ">" || t.kind == ">=":
		lit := p.peek()
		if !contains([]string{"int", "float", "str", "bin", "hex", "ts"}, lit.kind) {
			return fmt.Errorf("want an orderable literal after %s, got %q", t.text, lit.text)
		}
		p.i++
	case t.kind == "kw" && t.text == "IN":
		if err := p.expect("(", ""); err != nil {
			return err
		}
		for {
			if lit := p.peek(); !contains([]string{"int", "float", "str", "bin", "hex", "ts", "bool"}, lit.kind) {
				return fmt.Errorf("want a literal in a set, got %q", lit.text)
			}
			p.i++
			if !p.accept(",", "") {
				break
			}
		}
		return p.expect(")", "")
	case t.kind == "kw" && contains([]string{"LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"}, t.text):
		return p.expect("str", "")
	default:
		return fmt.Errorf("want a comparison operator, got %q", t.text)
	}
	return nil
}

// objectPath: objectType ':' firstPathComponent objectPathComponent*, returned as written.
func (p *patternParser) objectPath() (string, error) {
	start := p.i
	t := p.peek()
	if t.kind != "ident" {
		return "", fmt.Errorf("want an object type, got %q", t.text)
	}
	p.i++
	if err := p.expect(":", ""); err != nil {
		return "", err
	}
	if f := p.peek(); f.kind == "str" || f.kind == "ident" && !strings.Contains(f.text, "-") {
		p.i++
	} else {
		return "", fmt.Errorf("want a property name, got %q", f.text)
	}
	for {
		switch {
		case p.accept(".", ""):
			if f := p.peek(); f.kind == "str" || f.kind == "ident" && !strings.Contains(f.text, "-") {
				p.i++
			} else {
				return "", fmt.Errorf("want a key after '.', got %q", f.text)
			}
		case p.accept("[", ""):
			if !p.accept("int", "") && !p.accept("*", "") {
				return "", fmt.Errorf("want an index, got %q", p.peek().text)
			}
			if err := p.expect("]", ""); err != nil {
				return "", err
			}
		default:
			var b strings.Builder
			for _, t := range p.toks[start:p.i] {
				b.WriteString(t.text)
			}
			return b.String(), nil
		}
	}
}

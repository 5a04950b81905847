package report

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The STIX 2.1 objects of the STIX export (stix.go). One struct holds the properties of every
// object type the export writes, each omitted when empty, so that the JSON is the same for the
// same report (field order fixed, no maps) and each object carries only its own properties.

// stixSCONamespace is the namespace STIX 2.1 (section 2.9) defines for the deterministic
// identifiers of cyber-observable objects: UUIDv5 over the canonical JSON (RFC 8785) of the
// type's ID contributing properties.
var stixSCONamespace = uuid.MustParse("00abedb4-aa42-466c-9c01-fed23315a9b7")

// stixNamespace is podsleuth's own UUIDv5 namespace for the identifiers of the domain and
// relationship objects it writes (and of processes, which have no ID contributing
// properties): derived from the evidence, so a re-export of the same evidence gives the same
// identifiers. STIX forbids the SCO namespace for them; this one is podsleuth's alone.
var stixNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/podsleuth/podsleuth#stix-2.1"))

// stixEpoch is the created/modified time of the objects that do not describe evidence (the
// podsleuth identity, the ATT&CK techniques): fixed, so that they are one object version.
var stixEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type stixObject struct {
	Type         string   `json:"type"`
	SpecVersion  string   `json:"spec_version"`
	ID           string   `json:"id"`
	CreatedByRef string   `json:"created_by_ref,omitempty"`
	Created      string   `json:"created,omitempty"`
	Modified     string   `json:"modified,omitempty"`
	Name         string   `json:"name,omitempty"`
	Description  string   `json:"description,omitempty"`
	Labels       []string `json:"labels,omitempty"`
	Confidence   *int     `json:"confidence,omitempty"`

	// identity
	IdentityClass string `json:"identity_class,omitempty"`
	// indicator
	IndicatorTypes []string `json:"indicator_types,omitempty"`
	Pattern        string   `json:"pattern,omitempty"`
	PatternType    string   `json:"pattern_type,omitempty"`
	PatternVersion string   `json:"pattern_version,omitempty"`
	ValidFrom      string   `json:"valid_from,omitempty"`
	// attack-pattern
	ExternalReferences []stixExternalRef `json:"external_references,omitempty"`
	KillChainPhases    []stixPhase       `json:"kill_chain_phases,omitempty"`
	// malware
	MalwareTypes []string `json:"malware_types,omitempty"`
	IsFamily     *bool    `json:"is_family,omitempty"`
	FirstSeen    string   `json:"first_seen,omitempty"`
	SampleRefs   []string `json:"sample_refs,omitempty"`
	// observed-data
	FirstObserved  string `json:"first_observed,omitempty"`
	LastObserved   string `json:"last_observed,omitempty"`
	NumberObserved int    `json:"number_observed,omitempty"`
	// grouping
	Context string `json:"context,omitempty"`
	// observed-data, grouping
	ObjectRefs []string `json:"object_refs,omitempty"`
	// relationship
	RelationshipType string `json:"relationship_type,omitempty"`
	SourceRef        string `json:"source_ref,omitempty"`
	TargetRef        string `json:"target_ref,omitempty"`

	// ipv4-addr, ipv6-addr, domain-name, url, email-addr
	Value string `json:"value,omitempty"`
	// directory
	Path string `json:"path,omitempty"`
	// file
	ParentDirectoryRef string `json:"parent_directory_ref,omitempty"`
	// process
	PID                  int      `json:"pid,omitempty"`
	Cwd                  string   `json:"cwd,omitempty"`
	CommandLine          string   `json:"command_line,omitempty"`
	ImageRef             string   `json:"image_ref,omitempty"`
	ParentRef            string   `json:"parent_ref,omitempty"`
	ChildRefs            []string `json:"child_refs,omitempty"`
	OpenedConnectionRefs []string `json:"opened_connection_refs,omitempty"`
	// network-traffic
	SrcRef    string   `json:"src_ref,omitempty"`
	DstRef    string   `json:"dst_ref,omitempty"`
	SrcPort   int      `json:"src_port,omitempty"`
	DstPort   int      `json:"dst_port,omitempty"`
	Protocols []string `json:"protocols,omitempty"`

	// podsleuth's custom properties (STIX 2.1 section 11.1: x_ names)
	XComm         string   `json:"x_podsleuth_comm,omitempty"`
	XEvidence     []string `json:"x_podsleuth_evidence,omitempty"`
	XSHA256       string   `json:"x_podsleuth_value_sha256,omitempty"`
	XVerification string   `json:"x_podsleuth_verification,omitempty"`
}

type stixExternalRef struct {
	SourceName string `json:"source_name"`
	ExternalID string `json:"external_id,omitempty"`
	URL        string `json:"url,omitempty"`
}

type stixPhase struct {
	KillChainName string `json:"kill_chain_name"`
	PhaseName     string `json:"phase_name"`
}

// stixBundle is the top-level object (STIX 2.1 section 8).
type stixBundle struct {
	Type    string        `json:"type"`
	ID      string        `json:"id"`
	Objects []*stixObject `json:"objects"`
}

// stixTime renders a STIX timestamp: UTC, RFC 3339, millisecond precision (section 3.2).
func stixTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// sdoID is the identifier of a domain, relationship or bundle object: a UUIDv5 under
// podsleuth's namespace of the type and the parts that make the object what it is.
func sdoID(typ string, parts ...string) string {
	name := typ + "\x00" + strings.Join(parts, "\x00")
	return typ + "--" + uuid.NewSHA1(stixNamespace, []byte(name)).String()
}

// scoID is the deterministic identifier of a cyber-observable object (section 2.9): UUIDv5
// under the STIX namespace of the canonical JSON of its ID contributing properties.
func scoID(typ string, props ...scoProp) string {
	return typ + "--" + uuid.NewSHA1(stixSCONamespace, []byte(canonicalJSON(props))).String()
}

// scoProp is one ID contributing property: a string, an int or a list of strings.
type scoProp struct {
	Name  string
	Value any
}

// canonicalJSON is the RFC 8785 (JCS) form of an object of string, int and []string members:
// members sorted by name, no white space, strings escaped as ECMAScript's JSON.stringify does
// (only '"', '\' and control characters).
func canonicalJSON(props []scoProp) string {
	ps := slices.Clone(props)
	slices.SortFunc(ps, func(a, b scoProp) int { return strings.Compare(a.Name, b.Name) })
	var b strings.Builder
	b.WriteByte('{')
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		jcsString(&b, p.Name)
		b.WriteByte(':')
		switch v := p.Value.(type) {
		case string:
			jcsString(&b, v)
		case int:
			b.WriteString(strconv.Itoa(v))
		case []string:
			b.WriteByte('[')
			for j, s := range v {
				if j > 0 {
					b.WriteByte(',')
				}
				jcsString(&b, s)
			}
			b.WriteByte(']')
		default:
			panic(fmt.Sprintf("canonicalJSON: %T", v)) // a programming error: only the types above are passed
		}
	}
	b.WriteByte('}')
	return b.String()
}

func jcsString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// validUTF8 replaces invalid UTF-8 with U+FFFD, as encoding/json writes it, so that an SCO's
// identifier is computed over the value the bundle holds.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// patternString is a STIX pattern string literal (section 9.3): single quotes, with a quote
// or a backslash in the value escaped by a backslash.
func patternString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(validUTF8(s)) + "'"
}

// patternKey is a key path step of an object path: bare when it is an identifier without a
// hyphen, else a string literal.
func patternKey(k string) string {
	if reIdentifier.MatchString(k) {
		return k
	}
	return patternString(k)
}

var reIdentifier = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// phaseName is the ATT&CK kill chain phase of a tactic ("Command and Control" ->
// "command-and-control").
func phaseName(tactic string) string {
	return strings.ReplaceAll(strings.ToLower(tactic), " ", "-")
}

// attackURL is a technique's page ("T1059.004" -> .../techniques/T1059/004/).
func attackURL(technique string) string {
	return "https://attack.mitre.org/techniques/" + strings.ReplaceAll(technique, ".", "/") + "/"
}

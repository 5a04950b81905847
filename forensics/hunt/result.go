package hunt

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/podsleuth/podsleuth/forensics"
)

// ResultVersion is the version of the result format (Result.V).
const ResultVersion = 1

// MaxResultBytes bounds one result line: a node sends results, never evidence.
const MaxResultBytes = 1 << 20

// ErrBadResult wraps every reason a node's output is refused as a result.
var ErrBadResult = errors.New("bad hunt result")

// Finding is a finding as a hunt carries it: enough to triage and to decide a pull; the whole
// finding (reason, place) is one `podsleuth findings` away once the archive is pulled.
type Finding struct {
	Rule      string             `json:"rule"`
	Severity  forensics.Severity `json:"severity"`
	Technique string             `json:"technique,omitempty"`
	Title     string             `json:"title"`
	PID       int                `json:"pid,omitempty"`
}

// Indicator is an indicator of compromise (secrets redacted, as the CLI shows them).
type Indicator struct {
	Type       string `json:"type"`
	Value      string `json:"value"`
	SHA256     string `json:"sha256"`
	Count      int    `json:"count"`
	Confidence string `json:"confidence,omitempty"`
}

// PatternHits counts a memsearch pattern's hits in the checkpoint.
type PatternHits struct {
	Pattern  string             `json:"pattern"`
	Hits     int                `json:"hits"`
	Severity forensics.Severity `json:"severity"`
	// First says where the first hit was ("pid 7 (sh) heap 0x55d0...").
	First string `json:"first,omitempty"`
}

// YaraHits counts one YARA rule's hits.
type YaraHits struct {
	Rule     string             `json:"rule"`
	Hits     int                `json:"hits"`
	Severity forensics.Severity `json:"severity"`
}

// Timings are the analyzer's phases.
type Timings struct {
	Open     time.Duration `json:"open_ns"`
	Analysis time.Duration `json:"analysis_ns"`
	Search   time.Duration `json:"search_ns"`
	Total    time.Duration `json:"total_ns"`
}

// Result is what the analyzer reports for one archive: one JSON object on one line.
type Result struct {
	V       int    `json:"v"`
	Archive string `json:"archive"`
	// Size and SHA256 are the archive's, as the analyzer read it on the node.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
	// Severity is the highest of the findings and pattern hits; "" when nothing was found.
	Severity   string        `json:"severity"`
	Findings   []Finding     `json:"findings,omitempty"`
	Indicators []Indicator   `json:"indicators,omitempty"`
	Yara       []YaraHits    `json:"yara,omitempty"`
	Patterns   []PatternHits `json:"patterns,omitempty"`
	// Dropped counts findings and indicators over the request's bounds.
	DroppedFindings   int `json:"dropped_findings,omitempty"`
	DroppedIndicators int `json:"dropped_indicators,omitempty"`
	// Processes and MemoryBytes size the checkpoint.
	Processes   int     `json:"processes"`
	MemoryBytes int64   `json:"memory_bytes"`
	Timings     Timings `json:"timings"`
	// PeakRSS is the analyzer process's peak resident memory (VmHWM) after this archive.
	PeakRSS  int64    `json:"peak_rss"`
	Warnings []string `json:"warnings,omitempty"`
	// Error is why the archive could not be analysed (Stage: "request", "open", "analysis",
	// "timeout"); what was found before it is kept.
	Error string `json:"error,omitempty"`
	Stage string `json:"stage,omitempty"`
}

// Level is the result's severity, and false when nothing was found.
func (r *Result) Level() (forensics.Severity, bool) {
	if r == nil || r.Severity == "" {
		return 0, false
	}
	s, err := ParseSeverity(r.Severity)
	return s, err == nil
}

// Reaches says whether the result has a finding or a pattern hit of at least min.
func (r *Result) Reaches(min forensics.Severity) bool {
	s, ok := r.Level()
	return ok && s >= min
}

// setSeverity computes Severity from the findings and pattern hits.
func (r *Result) setSeverity() {
	best, any := forensics.SeverityInfo, false
	for _, f := range r.Findings {
		if !any || f.Severity > best {
			best, any = f.Severity, true
		}
	}
	for _, p := range r.Patterns {
		if p.Hits > 0 && (!any || p.Severity > best) {
			best, any = p.Severity, true
		}
	}
	r.Severity = ""
	if any {
		r.Severity = best.String()
	}
}

// DecodeResult reads one result line from a node. The node is not trusted: the line is bounded,
// must be one JSON object of this version with known fields only, a valid severity and a
// SHA-256 in hex; strings are kept as sent (render them through forensics.Printable).
func DecodeResult(line []byte) (*Result, error) {
	line = bytes.TrimSpace(line)
	if len(line) > MaxResultBytes {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrBadResult, len(line), MaxResultBytes)
	}
	if len(line) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrBadResult)
	}
	var r Result
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadResult, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: more than one JSON value", ErrBadResult)
	}
	if r.V != ResultVersion {
		return nil, fmt.Errorf("%w: version %d (this podsleuth reads %d: the analyzer image and podsleuth differ)", ErrBadResult, r.V, ResultVersion)
	}
	if err := ValidArchiveName(r.Archive); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadResult, err)
	}
	if r.SHA256 != "" {
		if b, err := hex.DecodeString(r.SHA256); err != nil || len(b) != 32 {
			return nil, fmt.Errorf("%w: sha256 %q", ErrBadResult, forensics.Printable(r.SHA256))
		}
	}
	if r.Severity != "" {
		if _, ok := r.Level(); !ok {
			return nil, fmt.Errorf("%w: severity %q", ErrBadResult, forensics.Printable(r.Severity))
		}
	}
	if r.Size < 0 || r.MemoryBytes < 0 || r.Processes < 0 || r.PeakRSS < 0 {
		return nil, fmt.Errorf("%w: negative size", ErrBadResult)
	}
	return &r, nil
}

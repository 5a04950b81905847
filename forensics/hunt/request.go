package hunt

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/memory"
)

// Limits of what a hunt's request may carry: it crosses the API server on every archive (exec
// stdin), so it is kept small.
const (
	MaxRequestBytes = 4 << 20
	MaxRules        = 256
	MaxPatterns     = 64
	// DefaultTimeout is the time budget per archive when the request names none.
	DefaultTimeout = 10 * time.Minute
)

// ErrBadRequest wraps every reason a request is refused.
var ErrBadRequest = errors.New("bad hunt request")

// Rule is one YARA rule file given to the hunt, sent by content (the node has no copy).
type Rule struct {
	Name   string `json:"name"`
	Source string `json:"source"`
}

// Pattern is one memsearch pattern given to the hunt: Kind "literal" (default), "regex" or
// "hex", as podsleuth memsearch takes them; a hit makes the container match at Severity
// (default high).
type Pattern struct {
	Kind     string `json:"kind,omitempty"`
	Expr     string `json:"expr"`
	Fold     bool   `json:"fold,omitempty"`
	Severity string `json:"severity,omitempty"`
}

// Level is the pattern's severity (high when unset).
func (p Pattern) Level() (forensics.Severity, error) {
	if p.Severity == "" {
		return forensics.SeverityHigh, nil
	}
	return ParseSeverity(p.Severity)
}

// ParseSeverity reads a severity name strictly (info, low, medium, high, critical).
func ParseSeverity(s string) (forensics.Severity, error) {
	var v forensics.Severity
	if v.UnmarshalText([]byte(s)) != nil || v.String() != s {
		return 0, fmt.Errorf("severity %q: want info, low, medium, high or critical", forensics.Printable(s))
	}
	return v, nil
}

// Compile returns the memory pattern.
func (p Pattern) Compile() (*memory.Pattern, error) {
	switch p.Kind {
	case "", "literal":
		return memory.Literal(p.Expr, p.Fold)
	case "regex":
		return memory.Regex(p.Expr, p.Fold)
	case "hex":
		if p.Fold {
			return nil, errors.New("a hex pattern takes no case folding")
		}
		return memory.Hex(p.Expr)
	}
	return nil, fmt.Errorf("pattern kind %q: want literal, regex or hex", p.Kind)
}

// String is how the pattern is named in results: "regex:EXPR", "hex:..", or the literal.
func (p Pattern) String() string {
	if p.Kind == "" || p.Kind == "literal" {
		return p.Expr
	}
	return p.Kind + ":" + p.Expr
}

// ParsePattern reads a pattern as the hunt command takes it: "literal", "regex:EXPR",
// "hex:90 90 ?? 4d", "iliteral:TEXT" (case-insensitive literal) or "iregex:EXPR".
func ParsePattern(s string) (Pattern, error) {
	p := Pattern{Expr: s}
	if k, rest, ok := strings.Cut(s, ":"); ok {
		switch k {
		case "regex", "hex", "literal":
			p.Kind, p.Expr = k, rest
		case "iregex", "iliteral":
			p.Kind, p.Expr, p.Fold = k[1:], rest, true
		}
	}
	if _, err := p.Compile(); err != nil {
		return Pattern{}, fmt.Errorf("pattern %q: %w", s, err)
	}
	return p, nil
}

// Request is what the analyzer is asked for one archive.
type Request struct {
	// Archive is the archive's file name in the checkpoint directory (no directory part).
	Archive  string        `json:"archive"`
	Rules    []Rule        `json:"rules,omitempty"`
	Patterns []Pattern     `json:"patterns,omitempty"`
	Timeout  time.Duration `json:"timeout_ns,omitempty"`
	// MaxFindings and MaxIndicators bound the result (0: DefaultMax).
	MaxFindings   int `json:"max_findings,omitempty"`
	MaxIndicators int `json:"max_indicators,omitempty"`
}

// DefaultMax bounds the findings and indicators a result carries.
const DefaultMax = 100

// Validate refuses what the analyzer must not act on: a name that leaves the checkpoint
// directory, too many or empty rules and patterns, patterns that do not compile.
func (r *Request) Validate() error {
	if err := ValidArchiveName(r.Archive); err != nil {
		return err
	}
	if len(r.Rules) > MaxRules {
		return fmt.Errorf("%w: %d YARA rule files (at most %d)", ErrBadRequest, len(r.Rules), MaxRules)
	}
	for i, ru := range r.Rules {
		if strings.TrimSpace(ru.Source) == "" {
			return fmt.Errorf("%w: YARA rule file %d (%q) is empty", ErrBadRequest, i, forensics.Printable(ru.Name))
		}
	}
	if len(r.Patterns) > MaxPatterns {
		return fmt.Errorf("%w: %d patterns (at most %d)", ErrBadRequest, len(r.Patterns), MaxPatterns)
	}
	for _, p := range r.Patterns {
		if _, err := p.Compile(); err != nil {
			return fmt.Errorf("%w: pattern %q: %v", ErrBadRequest, forensics.Printable(p.String()), err)
		}
		if _, err := p.Level(); err != nil {
			return fmt.Errorf("%w: pattern %q: %v", ErrBadRequest, forensics.Printable(p.String()), err)
		}
	}
	if r.Timeout < 0 || r.MaxFindings < 0 || r.MaxIndicators < 0 {
		return fmt.Errorf("%w: negative timeout or bound", ErrBadRequest)
	}
	return nil
}

// ValidArchiveName accepts a plain file name in the checkpoint directory, as the kubelet names
// archives (checkpoint-POD_NAMESPACE-CONTAINER-TIME.tar).
func ValidArchiveName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || path.Base(name) != name || len(name) > 255 {
		return fmt.Errorf("%w: archive %q is not a file name in the checkpoint directory", ErrBadRequest, forensics.Printable(name))
	}
	return nil
}

// DecodeRequest reads one request (at most MaxRequestBytes) and validates it.
func DecodeRequest(r io.Reader) (*Request, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxRequestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read hunt request: %w", err)
	}
	if len(b) > MaxRequestBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadRequest, MaxRequestBytes)
	}
	var req Request
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return &req, nil
}

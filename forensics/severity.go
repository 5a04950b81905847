package forensics

// Severity orders findings; higher is worse.
type Severity int

// Severities.
const (
	SeverityInfo Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"info", "low", "medium", "high", "critical"}

// SeverityNames returns the severities' names, least severe first (what --min-severity and
// --pull-on-match accept).
func SeverityNames() []string { return append([]string(nil), severityNames[:]...) }

// String returns the lower-case name of the severity.
func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return "unknown"
	}
	return severityNames[s]
}

// MarshalText encodes a severity by name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a severity by name.
func (s *Severity) UnmarshalText(b []byte) error {
	for i, n := range severityNames {
		if n == string(b) {
			*s = Severity(i)
			return nil
		}
	}
	*s = SeverityInfo
	return nil
}

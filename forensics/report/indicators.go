package report

import "github.com/podsleuth/podsleuth/forensics/findings"

// Rules of the findings derived from indicators; they come from the one analysis
// (forensics/findings) and are kept here under their old names.
const (
	RuleSecretExposed     = findings.RuleSecretExposed
	RuleNetworkIndicators = findings.RuleNetworkIndicators
)

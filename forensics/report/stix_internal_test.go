package report

import "github.com/podsleuth/podsleuth/forensics"

// STIXPatternOf is the STIX pattern of an indicator of type typ and value v (for the fuzz
// target of package report_test).
func STIXPatternOf(typ, v string) string {
	p, _ := stixPattern(forensics.IOC{Type: typ, Value: v})
	return p
}

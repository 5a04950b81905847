package checkpoint

import (
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/yara"
)

// yaraHits are the YARA findings in process memory (the analysis ran rules from config
// yara.rules) as Memory tab hits: listed before any search, enter opens the hexdump at the hit.
func yaraHits(fs []forensics.Finding) []Hit {
	var out []Hit
	for _, f := range fs {
		l := f.Location
		if !strings.HasPrefix(f.Rule, yara.RulePrefix) || l.Kind != "memory" || l.PID == 0 {
			continue
		}
		out = append(out, Hit{PID: l.PID, Comm: l.Comm, Addr: l.Addr, VMAStart: l.Start, VMAEnd: l.End,
			Region: l.Region, Preview: f.Rule + ": " + f.Title})
	}
	return out
}

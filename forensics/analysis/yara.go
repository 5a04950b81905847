package analysis

import (
	"cmp"
	"context"
	"errors"
	"slices"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/memory"
	"github.com/podsleuth/podsleuth/forensics/yara"
)

// runYara scans with the requested YARA rules and merges their hits into the findings, most
// severe first (a rule's hits after the built-in findings of the same severity).
func (r *Result) runYara(ctx context.Context, mem Memory, req yara.Request) {
	m, _ := mem.(*memory.Memory)
	if m == nil {
		r.YaraErr = errors.New("YARA needs the memory index")
		return
	}
	yr, err := yara.Run(ctx, m, req)
	r.Yara, r.YaraErr = yr, err
	if yr == nil {
		return
	}
	r.Findings = append(r.Findings, yara.Findings(yr)...)
	slices.SortStableFunc(r.Findings, func(a, b forensics.Finding) int { return cmp.Compare(b.Severity, a.Severity) })
}

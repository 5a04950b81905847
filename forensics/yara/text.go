package yara

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
)

// WriteText writes a result for a terminal: one block per hit (rule, severity, where, the
// matched strings, tags and meta), then what was scanned. Names and bytes from the workload are
// escaped (forensics.Printable), so no escape sequence of the attacker's reaches the terminal.
func WriteText(w io.Writer, res *Result) error {
	p := forensics.Printable
	for _, e := range res.LoadErrors {
		if _, err := fmt.Fprintf(w, "rules: %s (not used)\n", p(e.Error())); err != nil {
			return err
		}
	}
	if len(res.Hits) == 0 {
		fmt.Fprintln(w, "no YARA hits")
	}
	for _, h := range res.Hits {
		fmt.Fprintf(w, "%-8s  %s", strings.ToUpper(Severity(h.Meta).String()), p(h.Rule))
		if h.Namespace != "" && h.Namespace != "podsleuth" && h.Namespace != "default" {
			fmt.Fprintf(w, "  (%s)", p(h.Namespace))
		}
		if d := h.Meta["description"]; d != "" {
			fmt.Fprintf(w, "  %s", p(d))
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "          where: %s\n", p(Where(h)))
		for _, s := range h.Strings {
			fmt.Fprintf(w, "          %s at 0x%x: \"%s\"\n", p(s.Name), s.Addr, preview(s.Data))
		}
		if h.Matches > len(h.Strings) {
			fmt.Fprintf(w, "          (%d of %d string matches shown)\n", len(h.Strings), h.Matches)
		}
		var extra []string
		if len(h.Tags) > 0 {
			extra = append(extra, "tags: "+strings.Join(h.Tags, ", "))
		}
		if a := Attack(h.Meta); a != "" {
			extra = append(extra, "ATT&CK "+a)
		}
		if m := metaString(h.Meta, "description", "severity", "mitre_attack"); m != "" {
			extra = append(extra, "meta: "+m)
		}
		if len(extra) > 0 {
			fmt.Fprintf(w, "          %s\n", p(strings.Join(extra, "; ")))
		}
	}
	for _, r := range slices.Sorted(maps.Keys(res.Dropped)) {
		fmt.Fprintf(w, "%d more hits of %s not shown (--max-hits)\n", res.Dropped[r], p(r))
	}
	for _, x := range res.Warnings {
		fmt.Fprintf(w, "warning: %s\n", p(x))
	}
	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(res.Kinds)) {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, res.Kinds[k]))
	}
	_, err := fmt.Fprintf(w, "%d hits; %d rules from %d files; %d blocks (%s), %s scanned in %v\n",
		len(res.Hits), res.Rules, len(res.Files), res.Blocks, strings.Join(kinds, ", "),
		forensics.HumanBytes(res.Bytes), res.Elapsed.Round(1e6))
	return err
}

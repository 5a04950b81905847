package yara

import (
	"embed"
	"io/fs"
	"slices"
)

// defaultRules is the project's own rule set (rules/*.yar): fileless ELF in anonymous or memfd
// memory, shellcode stubs, miners, reverse shells and webshells. Each rule carries meta
// description, severity and mitre_attack.
//
//go:embed rules/*.yar
var defaultRules embed.FS

// DefaultFiles lists the embedded rule files, sorted.
func DefaultFiles() []string {
	es, _ := fs.ReadDir(defaultRules, "rules")
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

// DefaultSource returns the text of one embedded rule file (for `podsleuth yara --show-default`
// and for responders who want to start from it).
func DefaultSource(name string) ([]byte, error) { return defaultRules.ReadFile("rules/" + name) }

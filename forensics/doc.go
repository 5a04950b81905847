// Package forensics holds the decoded checkpoint model (Checkpoint), the single source of truth
// that the CLI, the TUI and the reports render from, and, below it, archive reading, CRIU
// decoding, memory analysis, findings, evidence storage and reports.
//
// It must not import k8s.io/..., charm.land/... or any podsleuth package other than config:
// the layering test in test/ enforces this.
package forensics

// Package hunt is the node side of a fleet hunt and the wire between the two sides: the Request
// the analyst's machine sends to the analyzer on a node (YARA rule sources, memsearch patterns,
// the time budget), Analyze (the same open + analysis as the local triage, run next to the
// archive) and the small Result it prints, one JSON object per container, which the analyst's
// machine decodes with DecodeResult and stores as a hunt (forensics/evidence).
//
// It must not import k8s.io/... or charm.land/...: the Kubernetes side is cluster.Hunt.
package hunt

// Package report builds a forensic case report from one or more decoded checkpoints and renders
// it as JSON (schema_version "podsleuth.report/v1", validated by schema/report-v1.json), Markdown
// (GitHub/GitLab tickets) and one self-contained HTML file.
//
// Building is pure: the caller decodes the archives, runs the analysers and reads the evidence
// store, and passes the results in. Export is the "export a report" job on such inputs (nothing
// is decoded again); OpenInput makes an input with the open and analysis jobs. Secrets are redacted unless Options.Reveal is set, and no
// raw memory is ever copied into a report beyond the short context a finding already carries.
//
// It imports only forensics and its sub-packages (diff, evidence, ioc for its redaction rules,
// open and analysis for OpenInput): no k8s.io/..., no charm.land/....
package report

// Package analysis is the "analyse" job: from one opened checkpoint (the decoded model and,
// when it could be built, its memory index) it produces the one Result that every consumer
// shows: the TUI, `podsleuth findings`, `iocs`, `report` (all formats) and `diff`.
//
// It imports the forensics model and the analysers (forensics/findings, forensics/ioc,
// forensics/memory); it must not import k8s.io/..., charm.land/..., cmd or tui packages.
package analysis

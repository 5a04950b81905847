// Package open is the "open a checkpoint" job, the one way every command and the TUI open a
// checkpoint: resolve the argument (a path, or an evidence ID or a unique prefix of one),
// record the opening of evidence in its chain of custody, hash, decode and index memory.
//
// It imports forensics and its sub-packages and config; it must not import k8s.io/...,
// charm.land/..., cmd or tui packages.
package open

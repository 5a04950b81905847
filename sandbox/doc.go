// Package sandbox restores a checkpoint into isolation (local Linux namespaces or a quarantined
// Kubernetes namespace) for live analysis.
//
// It must not import charm.land/..., tui or cmd.
package sandbox

// Package restore is the "restore" job: restore.Run resolves a checkpoint (path or evidence ID),
// prepares its images (a bare image directory in place; an archive unpacked safely), restores it
// with the local or the cluster backend, and records the outcome in the evidence's custody log.
// `podsleuth restore` and the TUI's evidence view both call it.
//
// It must not import charm.land/..., tui or cmd.
package restore

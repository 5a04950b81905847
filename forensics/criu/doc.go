// Package criu decodes CRIU image sets (from a forensics/archive.Archive) into the
// forensics.Checkpoint model.
//
// It uses go-criu v8's generated protobuf types (crit/images/...) but owns the reading of the
// images themselves (magic, length-prefixed entries, extra payloads): go-criu's crit package
// reads only from *os.File paths, keeps package-level caches that make concurrent decoding
// unsafe, and trusts length prefixes. Here every read goes through an io.ReaderAt from the
// archive index, every length prefix is checked against the bytes that remain before anything
// is allocated, and decoding work is proportional to metadata: memory pages are read only for
// a process's argument and environment ranges, never scanned.
//
// It must not import k8s.io/..., charm.land/... or podsleuth packages other than forensics,
// forensics/archive and config.
package criu

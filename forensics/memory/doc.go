// Package memory reads the memory contents of a checkpoint: a page index per process (virtual
// address -> offset in the CRIU pages image), reads of any address range, hexdumps, and a
// streaming, parallel search over process memory, shared memory and memfd objects, pipe
// buffers and socket queues.
//
// Nothing is extracted whole: reads go straight to the offset through the archive's
// io.ReaderAt. Pages CRIU did not write into this checkpoint (in a parent image, lazy, never
// touched) are reported as unreadable with the reason, never invented.
//
// It imports the forensics model and forensics/criu, and must not import k8s.io/...,
// charm.land/... or cmd/tui packages.
package memory

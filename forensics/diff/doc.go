// Package diff compares two decoded checkpoints of the same container (or process tree) taken at
// different moments and reports what changed: processes, sockets, file descriptors, mounts,
// rootfs changes, findings and indicators.
//
// Objects are matched by what identifies them across two dumps, never by values CRIU assigns per
// dump: processes by (pid, comm), sockets by (family, protocol, addresses, ports, state) and
// not by inode (inodes are new in every dump of a restored tree and file ids are renumbered),
// fds by (pid, fd, type, path) where socket and pipe targets ("socket:[123]") are replaced by
// what they point at.
//
// It imports only forensics: no k8s.io/..., no charm.land/....
package diff

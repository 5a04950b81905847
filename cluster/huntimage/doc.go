// Package huntimage builds the analyzer image a fleet hunt runs on the nodes: the podsleuth
// binary built with YARA (statically linked by `make analyzer-image`; a dynamic binary gets its
// ELF interpreter and DT_NEEDED libraries copied in), no shell, a numeric non-root user, labels
// naming the source commit, reproducible (fixed times, sorted entries: the same binary gives the
// same digest). It writes OCI image layouts (a directory, or a tar that ctr, docker, podman and
// skopeo import), reads them back, and pushes to a registry with go-containerregistry using the
// Docker config keychain. SelfTest is what the image runs to prove itself (YARA compiles and
// scans, the user, the root filesystem, no service account token).
//
// It imports no charm.land/ packages (the cluster layer's rule) and nothing from client-go: an
// image is built and pushed without a cluster.
package huntimage

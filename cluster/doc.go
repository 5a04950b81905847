// Package cluster is everything podsleuth does against a Kubernetes cluster: kubeconfig loading,
// browsing through informers, preflight, the kubelet checkpoint API through the API server's
// node proxy, and pulling archives into the evidence store.
//
// It must not import charm.land/... (no TUI), tui or cmd.
package cluster

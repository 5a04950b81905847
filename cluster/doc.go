// Package cluster is everything podsleuth does against a Kubernetes cluster, used by the TUI and
// by the plain subcommands:
//
//   - kubeconfig.go: Connect (kubectl-style flags through cli-runtime's ConfigFlags, a bounded
//     first contact, a read-only transport guard), WhoAmI (SelfSubjectReview), Contexts.
//   - browse.go: Browser, live views of pods, namespaces and nodes from shared informers (listed
//     once, then watched; Changes signals coalesced updates; the first sync is bounded), PodRowFor
//     (kubectl's READY/STATUS/RESTARTS), PodEvents on demand.
//   - preflight.go: Preflight, what a checkpoint and pull need (SelfSubjectAccessReview, container
//     state, kubelet version, runtime), without changing anything.
//   - checkpoint.go: Resolve (pod, all containers, label selector), Checkpoint through the API
//     server's node proxy (POST /api/v1/nodes/{node}/proxy/checkpoint/{ns}/{pod}/{container}),
//     CheckpointAll with bounded concurrency, failures classified as CheckpointError (ErrGateOff,
//     ErrNoSuchPod, ErrNoSuchContainer, ErrRuntime, ErrTimeout, ErrNodeUnreachable, ErrForbidden,
//     ErrReadonly) with the fix.
//   - acquire.go: Acquire, the acquire job (checkpoint + pull + artifacts into the evidence
//     store) that `podsleuth checkpoint` and the TUI both call, configured by NewAcquireConfig.
//   - pull.go: Pull, the archive from the node into forensics/evidence through a short-lived,
//     least-privilege collector pod; SHA-256 on the node and locally; the collector deleted on
//     success, failure and cancellation. stream.go: its stream plumbing (the node's hash, the
//     bounded pipe, resume after a broken stream, progress). collector.go: the collector pods'
//     lifecycle (CollectorPool, the pod spec, the cleaner).
//   - pods.go: the one client layer for the pods podsleuth runs (collectors here, the sandbox's
//     placeholder and helper in sandbox/kube): Exec (SPDY, WebSocket fallback), WaitRunning and
//     WaitCompleted (watches), DeletePod (bounded, honours ctx), labels.
//   - hunt.go: Hunt, the hunt job (checkpoints in waves, analysed on each node by one analyzer
//     Job, results signed into the store, pulls on a match, cleanup on every way out), configured
//     by NewHuntConfig; huntplan.go: PlanHunt (what will be hunted, reads only); huntjob.go: the
//     analyzer Job's spec, start, exec of `hunt-agent analyze` and deletion.
//
// Library code takes ctx first, returns data and wrapped errors and never prints. It must not
// import charm.land/... (no TUI), tui or cmd; of podsleuth it imports forensics/evidence, forensics/hunt (the
// hunt's wire format) and config only.
package cluster
